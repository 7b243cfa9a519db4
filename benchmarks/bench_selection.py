"""Server-side selection latency: our shared mask against stock HoloViews ``link_selections``.

Both paths draw the same three density views (UMAP, CMD, HR diagram; rasterized ``Points`` of one
synthetic catalogue with the real columns) into a Bokeh document through Panel's HoloViews pane, as
``panel serve`` does, and receive the same box (or lasso) on the UMAP:

* ours: ``DashboardState.select`` with the box/lasso mask, which makes every view's ``Pipe`` send
  its selected rows and re-render its selected layer (``dashboard/views/base.py``);
* stock: the ``SelectionXY``/``Lasso`` event that the box/lasso tool feeds into
  ``hv.link_selections``, which recomputes the selection expression and re-renders every view.

A timing covers the event up to the last updated image in the document (without a server session
HoloViews refreshes synchronously). Every timed update is checked: each of the three views must have
a new image afterwards, or the run fails. The first selection of each path (numba JIT) is reported
apart from the repeats.

    python -m benchmarks.bench_selection --sizes 100000 1000000 --repeats 5
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import ratio, summarise

VIEW_COLUMNS = (("umap_x", "umap_y"), ("bp_rp_mag", "abs_g_mag"), ("pred_teff_k", "pred_logl"))
GOALS = {"1000000": {"max_median_s": 0.15, "min_ratio": 5.0}, "10000000": {"max_median_s": 1.0}}


def _image_hashes(root: Any) -> list[str]:
    """Digest of every image array in the rendered Bokeh model tree."""
    from bokeh.models import ColumnDataSource

    out = []
    for model in root.references():
        if isinstance(model, ColumnDataSource) and "image" in model.data and len(model.data["image"]):
            array = np.ascontiguousarray(model.data["image"][0])
            out.append(hashlib.blake2b(array.tobytes(), digest_size=8).hexdigest())
    return out


def _changed(before: list[str], after: list[str]) -> int:
    """How many images of ``after`` were not in ``before``."""
    return len(set(after) - set(before))


def _boxes(df: Any, count: int) -> list[tuple[float, float, float, float]]:
    """``count`` different UMAP boxes, each holding ~10-25 % of the rows.

    Consecutive boxes alternate between two populations' blobs, so every view's selected image
    changes from one box to the next (two nearly equal boxes can give the same saturated image).
    """
    out = []
    for i in range(count):
        if i % 2:
            out.append((2.8 + 0.05 * i, 1.8, 5.2 + 0.05 * i, 4.2))
        else:
            out.append((-1.2 + 0.05 * i, -1.0, 1.0 + 0.05 * i, 1.3))
    return out


def _lassos(count: int) -> list[np.ndarray]:
    """``count`` different 60-vertex polygons on the UMAP (DASHBOARD.md 2.2 measured 60 vertices)."""
    out = []
    angle = np.linspace(0, 2 * np.pi, 60, endpoint=False)
    for i in range(count):
        radius = 1.6 + 0.3 * np.sin(3 * angle + i)
        out.append(np.column_stack([0.1 * i + radius * np.cos(angle), radius * np.sin(angle)]))
    return out


def _render(viewable: Any) -> Any:
    from bokeh.document import Document

    doc = Document()
    root = viewable.get_root(doc)
    doc.add_root(root)
    return root


class OursPath:
    """The dashboard's three views on one ``DashboardState`` (density colouring)."""

    name = "shared mask (ours)"

    def __init__(self, catalog: Any) -> None:
        import panel as pn

        from dashboard.state import DashboardState
        from dashboard.store import color_options
        from dashboard.views.cmd_view import CmdView
        from dashboard.views.hr_view import HrView
        from dashboard.views.umap_view import UmapView

        self.catalog = catalog
        self.state = DashboardState(catalog=catalog, color_options=color_options(catalog), color_by="density")
        self.views = [UmapView(state=self.state), CmdView(state=self.state), HrView(state=self.state)]
        self.root = _render(pn.Row(*self.views))

    def mask_only(self, bounds: tuple[float, float, float, float]) -> float:
        """Seconds for the numpy part alone: the box mask and its combination with the current one."""
        from dashboard.selection import box_mask, combine

        start = time.perf_counter()
        combine(self.state.mask, box_mask(self.catalog, "umap_x", "umap_y", bounds), "replace")
        return time.perf_counter() - start

    def images_only(self, bounds: tuple[float, float, float, float]) -> float:
        """Seconds for the three selected-layer images of a box (aggregate, shade, spread), alone.

        The box is selected first (untimed); then the three images are drawn again and timed, so
        the figure is the image work without the mask and without sending to Bokeh.
        """
        self.box(bounds)
        start = time.perf_counter()
        for view in self.views:
            view._selected.image(*view._selected._ranges)
        return time.perf_counter() - start

    def box(self, bounds: tuple[float, float, float, float]) -> int:
        from dashboard.selection import box_mask, box_term

        self.state.select(
            box_mask(self.catalog, "umap_x", "umap_y", bounds), box_term("umap_x", "umap_y", bounds)
        )
        return self.state.n_selected

    def lasso(self, polygon: np.ndarray) -> int:
        from dashboard.selection import lasso_mask, lasso_term

        self.state.select(
            lasso_mask(self.catalog, "umap_x", "umap_y", polygon), lasso_term("umap_x", "umap_y", polygon)
        )
        return self.state.n_selected


class StockPath:
    """``hv.link_selections`` over three rasterized density views of one ``hv.Dataset``."""

    name = "stock link_selections"

    def __init__(self, catalog: Any) -> None:
        import datashader as ds
        import holoviews as hv
        import panel as pn
        from holoviews.operation.datashader import rasterize

        from dashboard.plots import FRAME_HEIGHT, FRAME_WIDTH, TOOLS

        columns = list(dict.fromkeys(c for pair in VIEW_COLUMNS for c in pair))
        dataset = hv.Dataset(catalog[columns])
        views = [
            rasterize(hv.Points(dataset, kdims=[x, y]), aggregator=ds.count()).opts(
                frame_width=FRAME_WIDTH, frame_height=FRAME_HEIGHT, cnorm="eq_hist", tools=TOOLS
            )
            for x, y in VIEW_COLUMNS
        ]
        self.links = hv.link_selections.instance()
        layout = self.links(views[0] + views[1] + views[2])
        self.root = _render(pn.pane.HoloViews(layout))
        # The streams the UMAP's box and lasso tools feed (SelectionExpr's inputs).
        source = next(iter(self.links._selection_expr_streams))
        inputs = self.links._selection_expr_streams[source].history_stream.input_stream.input_streams
        self._box = next(s for s in inputs if isinstance(s, hv.streams.BoundsXY))
        self._lasso = next(s for s in inputs if isinstance(s, hv.streams.Lasso))

    def box(self, bounds: tuple[float, float, float, float]) -> None:
        self._box.event(bounds=bounds)

    def lasso(self, polygon: np.ndarray) -> None:
        self._lasso.event(geometry=polygon)


def _time_updates(path: Any, kind: str, shapes: list[Any]) -> dict[str, Any]:
    """First selection (JIT) and the repeats of one path; each must redraw all three views."""
    times, selected = [], []
    for shape in shapes:
        before = _image_hashes(path.root)
        gc.collect()
        start = time.perf_counter()
        n_sel = getattr(path, kind)(shape)
        elapsed = time.perf_counter() - start
        changed = _changed(before, _image_hashes(path.root))
        if changed < len(VIEW_COLUMNS):
            raise RuntimeError(f"{path.name}: a {kind} selection redrew {changed} images, expected >= 3")
        times.append(elapsed)
        selected.append(n_sel)
    out = {"first_s": times[0], **summarise(times[1:])}
    if selected[0] is not None:
        out["selected_rows"] = selected[1:]
    return out


def bench_size(catalog: Any, repeats: int, kinds: tuple[str, ...] = ("box", "lasso")) -> dict[str, Any]:
    """Both paths at one catalogue size; returns build times, latencies and ratios."""
    shapes = {"box": _boxes(catalog, repeats + 1), "lasso": _lassos(repeats + 1)}
    result: dict[str, Any] = {"n_rows": len(catalog), "repeats": repeats}
    for key, klass in (("ours", OursPath), ("stock", StockPath)):
        start = time.perf_counter()
        path = klass(catalog)
        result[key] = {"build_and_render_s": time.perf_counter() - start}
        for kind in kinds:
            result[key][kind] = _time_updates(path, kind, shapes[kind])
        if key == "ours":
            result[key]["box_mask_only"] = summarise([path.mask_only(b) for b in shapes["box"]])
            result[key]["box_images_only"] = summarise([path.images_only(b) for b in shapes["box"]])
        del path
        gc.collect()
    for kind in kinds:
        result[f"ratio_{kind}"] = ratio(result["stock"][kind]["median_s"], result["ours"][kind]["median_s"])
    goal = GOALS.get(str(len(catalog)))
    if goal:
        box = result["ours"]["box"]["median_s"]
        met = box <= goal["max_median_s"]
        if "min_ratio" in goal:
            met = met and (result["ratio_box"] or 0) >= goal["min_ratio"]
        result["goal"] = {**goal, "met": bool(met)}
    return result


def run(
    sizes: tuple[int, ...] = (100_000, 1_000_000),
    repeats: int = 5,
    workdir: Path | None = None,
    large_repeats: int | None = None,
) -> dict:
    """A synthetic survey per size (reused under ``run_all``), loaded as the server does; both paths timed.

    ``large_repeats`` (default ``repeats``) applies from 10^7 rows, where one stock lasso takes seconds.
    """
    from benchmarks.synthetic import synthetic_survey
    from dashboard.store import load_catalog

    results = []
    for n in sizes:
        start = time.perf_counter()
        with synthetic_survey(n, workdir) as folder:
            write_s = time.perf_counter() - start
            start = time.perf_counter()
            catalog = load_catalog(folder)
            load_s = time.perf_counter() - start
        reps = repeats if n < 10_000_000 or large_repeats is None else large_repeats
        entry = bench_size(catalog, reps)
        entry.update(write_survey_s=write_s, load_catalog_s=load_s)
        results.append(entry)
        print(
            f"selection n={n:,}: box ours {entry['ours']['box']['median_s']:.3f} s, "
            f"stock {entry['stock']['box']['median_s']:.3f} s (x{entry['ratio_box']:.1f}); "
            f"lasso ours {entry['ours']['lasso']['median_s']:.3f} s, "
            f"stock {entry['stock']['lasso']['median_s']:.3f} s (x{entry['ratio_lasso']:.1f})",
            flush=True,
        )
        del catalog
        gc.collect()
    return {"sizes": results, "goals": GOALS}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    run(tuple(args.sizes), args.repeats)


if __name__ == "__main__":
    main()
