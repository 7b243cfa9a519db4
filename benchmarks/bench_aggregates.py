"""Where the dashboard's limit is with the base layers' aggregates (dashboard/aggregates.py) and without.

For each size a synthetic survey is written, then ``prepare_catalog`` (what ``desa serve`` runs
before its workers start) builds the column files and the aggregates in a process of its own,
timed, and the folders' sizes are read. Then, once with aggregates and once without (the row
threshold raised above the survey), a fresh process serves one session as ``bench_memory`` does
and reports: the time to draw each base layer (UMAP by density and by population, CMD, HR) at
the full range, zoomed to a quarter of each axis (still from the finest level) and zoomed to a
32nd (beyond it: the points), the time of a box selection, and its RSS after each step and peak.

Sizes above ``FULL_MAX`` are written as a slim survey (``write_slim_survey``): only the columns
the views plot and colour by by default, written a chunk at a time, so 3 x 10^7 stars fit in a
few GB of disk and memory; the served process maps only the columns it touches either way.

    python -m benchmarks.bench_aggregates --sizes 10000000 30000000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.bench_memory import smaps_bytes
from benchmarks.common import rss_bytes

#: Larger surveys are written slim (the plotted columns only), a chunk at a time.
FULL_MAX = 10_000_000
#: Stars generated at a time for a slim survey.
SLIM_CHUNK = 2_000_000
#: Catalogue columns of a slim survey (with ``row``), and its truth columns.
SLIM_CATALOG = (
    "kic_id",
    "umap_x",
    "umap_y",
    "bp_rp_mag",
    "abs_g_mag",
    "bp_rp0_mag",
    "abs_g0_mag",
    "pred_teff_k",
    "pred_logl",
)
SLIM_TRUTH = ("population", "teff_k", "logl")
#: The base layers drawn: (x, y, colour).
VIEWS = (
    ("umap_x", "umap_y", "density"),
    ("umap_x", "umap_y", "true_population"),
    ("bp_rp0_mag", "abs_g0_mag", "density"),
    ("pred_teff_k", "pred_logl", "density"),
)
#: Zooms drawn: the full range, a quarter of each axis (the finest level), a 32nd (the points).
ZOOMS = (1.0, 0.25, 1 / 32)
#: A threshold no survey reaches: the in-memory path throughout.
NEVER = str(10**15)


def write_slim_survey(root: Path, n: int, seed: int = 0) -> None:
    """A survey of ``n`` synthetic stars with only ``SLIM_CATALOG`` and ``SLIM_TRUTH``, chunk by chunk."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    from benchmarks.synthetic import POPULATIONS, synthetic_catalog
    from data import schema
    from data.storage import SurveyStore

    store = SurveyStore(root)
    with store.new_generation("ingest", fresh=True) as new:
        writers: dict[str, pq.ParquetWriter] = {}
        try:
            for i, start in enumerate(range(0, n, SLIM_CHUNK)):
                size = min(SLIM_CHUNK, n - start)
                cat, truth = synthetic_catalog(size, seed + i)
                rows = np.arange(start, start + size, dtype=np.int32)
                tables = {
                    "catalog": pd.DataFrame(
                        {schema.ROW: rows, **{c: cat[c].to_numpy() for c in SLIM_CATALOG}}
                    ).assign(kic_id=np.int64(10**8) + rows),
                    "truth": pd.DataFrame(
                        {
                            schema.ROW: rows,
                            **{c: truth[c].to_numpy() for c in SLIM_TRUTH if c != "population"},
                            "population": pd.Categorical(
                                np.asarray(truth["population"], dtype=str), categories=POPULATIONS
                            ),
                        }
                    ),
                }
                for name, frame in tables.items():
                    table = pa.Table.from_pandas(frame, preserve_index=False)
                    if name not in writers:
                        path = new.catalog_path if name == "catalog" else new.truth_path
                        writers[name] = pq.ParquetWriter(path, table.schema)
                    writers[name].write_table(table)
        finally:
            for writer in writers.values():
                writer.close()


@contextmanager
def survey(n: int, workdir: Path | None = None) -> Iterator[Path]:
    """A full synthetic survey up to ``FULL_MAX`` stars, a slim one above; removed afterwards."""
    if n <= FULL_MAX:
        from benchmarks.synthetic import synthetic_survey

        with synthetic_survey(n, workdir) as folder:
            yield folder
        return
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        folder = Path(tmp) / f"slim_{n}"
        write_slim_survey(folder, n)
        yield folder


def _render(catalog: Any, x: str, y: str, colour: str, x_range: tuple, y_range: tuple) -> float:
    """Seconds to draw one base layer at the ranges, as ``plots._base`` draws it (300 x 250 px)."""
    import datashader as ds

    from dashboard import plots

    start = time.perf_counter()
    columns = (x, y) if colour == "density" else (x, y, colour)
    points = plots._points(catalog, columns)
    pyramid = plots.base_pyramid(catalog, x, y)
    extra = {} if pyramid is None else {"pyramid": pyramid}
    size = {"width": plots.FRAME_WIDTH, "height": plots.FRAME_HEIGHT, "x_range": x_range, "y_range": y_range}
    if colour == "density":
        image = plots._Rasterize(points, aggregator=ds.count(), dynamic=False, **size, **extra)
    else:
        key = plots.category_colours([str(c) for c in catalog[colour].cat.categories])
        image = plots._Datashade(
            points,
            aggregator=ds.count_cat(colour),
            color_key=key,
            min_alpha=80,
            dynamic=False,
            **size,
            **extra,
        )
    plots._Dynspread(image, max_px=3, threshold=0.5, dynamic=False)
    return time.perf_counter() - start


def _zoom(limits: tuple[float, float], fraction: float) -> tuple[float, float]:
    centre, half = (limits[0] + limits[1]) / 2, (limits[1] - limits[0]) * fraction / 2
    return centre - half, centre + half


def measure(survey_dir: Path) -> dict[str, Any]:
    """In this process: load, draw the base layers at three zooms, render the views, select a box."""
    from benchmarks.bench_selection import OursPath
    from dashboard import plots
    from dashboard.store import load_catalog

    out: dict[str, Any] = {"rss_bytes": {"imports": rss_bytes()["rss"]}, "render_s": {}}
    start = time.perf_counter()
    catalog = load_catalog(survey_dir)
    out["load_catalog_s"] = time.perf_counter() - start
    out["rss_bytes"]["catalog_loaded"] = rss_bytes()["rss"]
    out["aggregates"] = plots.base_pyramid(catalog, "umap_x", "umap_y") is not None
    # Numba compiles datashader's kernels on first use: once, untimed, on a few stars.
    head = catalog.head(1000)
    for x, y, colour in VIEWS:
        limits = plots.data_limits(head[x]), plots.data_limits(head[y])
        for zoom in ZOOMS:
            _render(head, x, y, colour, *[_zoom(lim, zoom) for lim in limits])
    for x, y, colour in VIEWS:
        limits = plots.column_limits(catalog, x), plots.column_limits(catalog, y)
        times = {}
        for zoom in ZOOMS:
            times[f"{zoom:g}"] = _render(catalog, x, y, colour, *[_zoom(lim, zoom) for lim in limits])
        out["render_s"][f"{x}/{y}/{colour}"] = times
    out["rss_bytes"]["base_layers_drawn"] = rss_bytes()["rss"]
    path = OursPath(catalog)
    out["rss_bytes"]["views_rendered"] = rss_bytes()["rss"]
    for key, bounds in (("box_first_s", (-1.0, -1.0, 1.0, 1.3)), ("box_selection_s", (-2.0, -1.5, 0.5, 1.0))):
        start = time.perf_counter()  # the first box compiles its kernels; the second is timed warm
        path.box(bounds)
        out[key] = time.perf_counter() - start
    out["rss_bytes"]["after_selection"] = rss_bytes()["rss"]
    out["peak_rss_bytes"] = rss_bytes()["peak_rss"]
    # Anonymous memory is the process's own; mapped file pages are the page cache, shared.
    out["smaps_bytes"] = smaps_bytes()
    out["n_rows"] = len(catalog)
    return out


_CODE = (
    "import json, sys; from pathlib import Path; from benchmarks.bench_aggregates import measure; "
    "print(json.dumps(measure(Path(sys.argv[1]))), flush=True)"
)
_PREPARE = "import sys; from dashboard.store import prepare_catalog; prepare_catalog(sys.argv[1])"


def _python(code: str, folder: Path, min_rows: int | str | None, coarsest: int | None = None) -> str:
    """Run ``code`` in a fresh process on ``folder``; ``coarsest``: the pyramid's coarsest level there."""
    if coarsest is not None:
        code = f"import dashboard.aggregates as _a; _a.COARSEST = {int(coarsest)}; {code}"
    env = dict(os.environ)
    if min_rows is not None:
        env["DESA_AGGREGATE_MIN_ROWS"] = str(min_rows)
    proc = subprocess.run(
        [sys.executable, "-c", code, str(folder)],
        capture_output=True,
        text=True,
        env=env,
        cwd=Path(__file__).resolve().parents[1],
        check=False,
    )
    if proc.returncode:
        raise RuntimeError(f"benchmark process failed in {folder}:\n{proc.stderr[-3000:]}")
    return proc.stdout


def _folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def run(
    sizes: tuple[int, ...] = (10_000_000,),
    workdir: Path | None = None,
    min_rows: int | None = None,
    coarsest: int | None = None,
) -> dict[str, Any]:
    """Each size: prepare, then serve one session with aggregates and without; ``min_rows``: threshold.

    ``coarsest`` replaces ``dashboard.aggregates.COARSEST`` in the measuring processes (the smoke
    profile's small pyramids: the default's finest level is 2,048² bins per pair and label,
    ~600 MB whatever the number of stars).
    """
    from data.storage import SurveyStore

    out = []
    for n in sizes:
        start = time.perf_counter()
        with survey(n, workdir) as folder:
            entry: dict[str, Any] = {
                "n_rows": n,
                "slim": n > FULL_MAX,
                "write_s": time.perf_counter() - start,
            }
            start = time.perf_counter()
            _python(_PREPARE, folder, min_rows, coarsest)
            entry["prepare_s"] = time.perf_counter() - start
            data_dir = SurveyStore(folder).data_dir
            entry["disk_bytes"] = {
                name: _folder_bytes(data_dir / name) for name in ("dashboard_columns", "dashboard_aggregates")
            }
            for mode, threshold in (("aggregates", min_rows), ("points", NEVER)):
                entry[mode] = json.loads(_python(_CODE, folder, threshold, coarsest).splitlines()[-1])
                record = entry[mode]
                renders = "; ".join(
                    f"{view} " + "/".join(f"{t:.2f}" for t in times.values())
                    for view, times in record["render_s"].items()
                )
                anon, mapped = (record["smaps_bytes"][k] / 2**30 for k in ("anon", "file"))
                print(
                    f"aggregates n={n:,} {mode}: peak RSS {record['peak_rss_bytes'] / 2**30:.2f} GiB (at the "
                    f"end anonymous {anon:.2f}, mapped files {mapped:.2f} GiB), "
                    f"box {record['box_first_s']:.2f} s first, {record['box_selection_s']:.2f} s warm, "
                    f"base layer s (full/quarter/32nd): {renders}",
                    flush=True,
                )
            aggr, cols = entry["disk_bytes"]["dashboard_aggregates"], entry["disk_bytes"]["dashboard_columns"]
            print(
                f"aggregates n={n:,}: prepare {entry['prepare_s']:.0f} s, aggregates {aggr / 2**20:.0f} MiB "
                f"({aggr / n:.1f} B/star), column files {cols / 2**30:.2f} GiB",
                flush=True,
            )
            out.append(entry)
    return {"sizes": out}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000_000])
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args(argv)
    print(json.dumps(run(tuple(args.sizes), args.workdir), indent=2))


if __name__ == "__main__":
    main()
