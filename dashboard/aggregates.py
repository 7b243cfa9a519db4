"""Multi-resolution aggregates: the base layers of a large catalogue drawn without reading its stars.

Below :func:`min_rows` stars the views datashade the catalogue's memory-mapped columns for every
zoom and pan (dashboard/plots.py). Above it, a full-range view would read every page of its x, y
and colour columns for each new range (about 120 MB per view at 10^7 stars). Instead, once per
store generation, each view's coordinate pair (UMAP, CMD observed and dereddened, HR) gets a
pyramid of 2-D histograms over the pair's data limits: star counts, and counts per category of
each label column the views colour by, at ``COARSEST`` x ``COARSEST`` bins and ``LEVELS - 1``
finer levels, each doubling the bins per axis. The stars are binned by datashader itself, so a bin
holds exactly the stars datashader would put there.

A base layer at a given range uses the coarsest level whose bins are no larger than a screen
pixel, and resamples it onto the pixels by overlapping area (a bin across a pixel edge splits its
count between the two), so the image is the one datashader draws from the points to within that
split; pixels aligned with bin edges get exactly datashader's counts. Zoomed in further than the
finest level's bins, or for a numeric colouring (the mean of a column), the view datashades the
points as before.

Layout, beside the column files (dashboard/columns.py; same places, same rebuild rule)::

    dashboard_aggregates/aggregates.json      format, levels, sources, per pair: limits and files
    dashboard_aggregates/<pair>_<agg>_<k>.npy  level k: (bins, bins) counts, or (bins, bins, C)

Written in a temporary folder renamed into place: a build that is killed leaves no folder that
a reader would use.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datashader as ds
import numpy as np
import pandas as pd
import param
from holoviews.element import Points
from holoviews.operation.datashader import AggState, aggregate

from dashboard import columns, shared
from data.storage import SurveyStore

log = logging.getLogger(__name__)

FORMAT = 1
FOLDER = "dashboard_aggregates"
INDEX = "aggregates.json"
#: Catalogues of at least this many stars get aggregates (overridden by ``$DESA_AGGREGATE_MIN_ROWS``).
MIN_ROWS = 2_000_000
MIN_ROWS_ENV = "DESA_AGGREGATE_MIN_ROWS"
#: Bins per axis of the coarsest level (a view is 300 x 250 screen pixels), and the number of levels.
COARSEST = 512
LEVELS = 3
#: Stars binned at a time while building (a few MB of each column in memory at once).
CHUNK_ROWS = 1 << 21
#: Name of the star-count aggregate of a pair (the label columns' aggregates carry their names).
COUNT = "count"

Range = tuple[float, float]


def min_rows() -> int:
    """Stars from which a catalogue's base layers come from aggregates."""
    return int(os.environ.get(MIN_ROWS_ENV) or MIN_ROWS)


def _limits(values: np.ndarray, pad: float = 0.04) -> Range:
    """Finite range of ``values`` with a margin, read a chunk at a time."""
    lo, hi = np.inf, -np.inf
    for start in range(0, len(values), CHUNK_ROWS):
        chunk = np.asarray(values[start : start + CHUNK_ROWS], dtype=np.float64)
        chunk = chunk[np.isfinite(chunk)]
        if chunk.size:
            lo, hi = min(lo, float(chunk.min())), max(hi, float(chunk.max()))
    if not np.isfinite(lo):
        lo, hi = 0.0, 1.0
    margin = (hi - lo) * pad or 0.5
    return lo - margin, hi + margin


def _finest(
    frame: pd.DataFrame, x: str, y: str, label: str | None, limits: tuple[Range, Range]
) -> np.ndarray:
    """Counts at the finest level, ``(y, x)`` or with ``label`` ``(y, x, category)``, chunk by chunk."""
    bins = COARSEST << (LEVELS - 1)
    canvas = ds.Canvas(plot_width=bins, plot_height=bins, x_range=limits[0], y_range=limits[1])
    agg = ds.count() if label is None else ds.count_cat(label)
    total = None
    for start in range(0, len(frame), CHUNK_ROWS):
        names = [x, y] if label is None else [x, y, label]
        chunk = pd.DataFrame({n: frame[n].iloc[start : start + CHUNK_ROWS] for n in names}, copy=False)
        counts = canvas.points(chunk, x, y, agg).data.astype(np.uint32)
        total = counts if total is None else total + counts
    return total


def _coarser(counts: np.ndarray) -> np.ndarray:
    """The next coarser level: each 2 x 2 block of bins summed."""
    n = counts.shape[0] // 2
    return counts.reshape(n, 2, n, 2, *counts.shape[2:]).sum(axis=(1, 3), dtype=np.uint32)


def write_aggregates(
    frame: pd.DataFrame, folder: Path, pairs: Sequence[tuple[str, str]], labels: Sequence[str]
) -> dict[str, Any]:
    """Write the pyramids of ``pairs`` (counts, and counts per category of ``labels``) into ``folder``."""
    index: dict[str, Any] = {"format": FORMAT, "n_rows": len(frame), "coarsest": COARSEST, "pairs": []}
    for p, (x, y) in enumerate(pairs):
        limits = (_limits(frame[x].to_numpy()), _limits(frame[y].to_numpy()))
        record: dict[str, Any] = {"x": x, "y": y, "limits": limits, "files": {}, "categories": {}}
        for label in [None, *labels]:
            name = COUNT if label is None else label
            level = _finest(frame, x, y, label, limits)
            files = []
            for k in reversed(range(LEVELS)):
                files.append(f"{p}_{len(record['files'])}_{k}.npy")
                np.save(folder / files[-1], level, allow_pickle=False)
                level = _coarser(level) if k else level
            record["files"][name] = files[::-1]
            if label is not None:
                record["categories"][name] = [str(c) for c in frame[label].cat.categories]
        index["pairs"].append(record)
    return index


def _current(folder: Path, sources: dict[str, Any]) -> bool:
    return columns.is_current(folder, sources, index=INDEX, fmt=FORMAT)


def _sources(store: SurveyStore, pairs: Sequence[tuple[str, str]], labels: Sequence[str]) -> dict[str, Any]:
    """What a folder was built from: the store's files, the pairs, the labels and the levels."""
    return {
        "stamps": columns.source_stamps(store),
        "pairs": [list(p) for p in pairs],
        "labels": list(labels),
        "levels": [COARSEST, LEVELS],
    }


def ensure_aggregates(
    store: SurveyStore, frame: pd.DataFrame, pairs: Sequence[tuple[str, str]], labels: Sequence[str]
) -> Path:
    """The aggregates folder of ``store`` (one generation) for ``frame``, built where missing or stale.

    Raises
    ------
    OSError
        When neither the survey folder nor the cache folder can be written.
    """
    sources = _sources(store, pairs, labels)
    problems = []
    for folder in columns.candidates(store, FOLDER):
        if _current(folder, sources):
            return folder

        def write(tmp: Path) -> None:
            index = write_aggregates(frame, tmp, pairs, labels)
            index["sources"] = sources
            (tmp / INDEX).write_text(json.dumps(index), encoding="utf-8")

        try:
            columns.publish(folder, write, lambda folder=folder: _current(folder, sources))
        except OSError as exc:  # a read-only survey folder (or a full disk): try the next place
            problems.append(str(exc))
            continue
        log.info("wrote the dashboard's aggregates of %s to %s", store.root, folder)
        return folder
    raise OSError("cannot write the dashboard's aggregates: " + "; ".join(problems))


def _overlaps(lo: float, n_bins: int, width: float, rng: Range, n_px: int) -> tuple[int, np.ndarray] | None:
    """The bins that overlap ``rng`` along one axis, and each pixel's share of each of them.

    Returns ``(first bin, weights)``, weights ``(n_px, bins)``: the fraction of a bin's extent
    inside a pixel. None where no bin overlaps the range.
    """
    r0, r1 = rng
    first = max(0, int(np.floor((r0 - lo) / width)))
    stop = min(n_bins, int(np.ceil((r1 - lo) / width)))
    if stop <= first:
        return None
    edges = lo + np.arange(first, stop + 1) * width
    px = r0 + np.arange(n_px + 1) * ((r1 - r0) / n_px)
    share = np.minimum(edges[None, 1:], px[1:, None]) - np.maximum(edges[None, :-1], px[:-1, None])
    return first, np.clip(share, 0.0, None) / width


@dataclass(frozen=True)
class Pyramid:
    """The aggregates of one coordinate pair: levels of counts, memory-mapped."""

    x: str
    y: str
    limits: tuple[Range, Range]
    #: Bins per axis of the coarsest level (each next level doubles them).
    coarsest: int
    #: Aggregate name (``COUNT`` or a label column) -> its levels, coarsest first.
    levels: dict[str, tuple[np.ndarray, ...]]
    categories: dict[str, tuple[str, ...]]
    folder: str

    def __repr__(self) -> str:  # a key of shared operations' results (dashboard/plots.py)
        return f"Pyramid({self.folder!r}, {self.x!r}, {self.y!r})"

    def level(self, x_range: Range, y_range: Range, width: int, height: int) -> int | None:
        """The coarsest level whose bins are no larger than a pixel; None: zoomed in beyond the finest."""
        pixel = ((x_range[1] - x_range[0]) / width, (y_range[1] - y_range[0]) / height)
        for k in range(len(self.levels[COUNT])):
            bins = self.coarsest << k
            size = [(lim[1] - lim[0]) / bins for lim in self.limits]
            if size[0] <= pixel[0] * (1 + 1e-9) and size[1] <= pixel[1] * (1 + 1e-9):
                return k
        return None

    def image(self, name: str, x_range: Range, y_range: Range, width: int, height: int) -> np.ndarray | None:
        """Counts per pixel, ``(height, width)`` or ``(height, width, C)`` float64, row 0 at ``y_range[0]``.

        None when zoomed in beyond the finest level (the caller draws the points) or when ``name``
        has no aggregate.
        """
        k = self.level(x_range, y_range, width, height)
        if k is None or name not in self.levels:
            return None
        counts = self.levels[name][k]
        bins = counts.shape[0]
        out_shape = (height, width, *counts.shape[2:])
        (xlo, xhi), (ylo, yhi) = self.limits
        along_x = _overlaps(xlo, bins, (xhi - xlo) / bins, x_range, width)
        along_y = _overlaps(ylo, bins, (yhi - ylo) / bins, y_range, height)
        if along_x is None or along_y is None:
            return np.zeros(out_shape)
        (i0, wx), (j0, wy) = along_x, along_y
        block = np.asarray(counts[j0 : j0 + wy.shape[1], i0 : i0 + wx.shape[1]], dtype=np.float64)
        # out[p, q, ...] = sum_j sum_i wy[p, j] * block[j, i, ...] * wx[q, i]
        rows = np.tensordot(wy, block, axes=(1, 0))
        return np.moveaxis(np.tensordot(rows, wx, axes=(1, 1)), -1, 1)


def open_aggregates(folder: Path) -> dict[tuple[str, str], Pyramid]:
    """The pyramids of a folder written by :func:`ensure_aggregates`, each level memory-mapped."""
    index = json.loads((folder / INDEX).read_text(encoding="utf-8"))
    out = {}
    for record in index["pairs"]:
        levels = {
            name: tuple(np.load(folder / f, mmap_mode="r", allow_pickle=False) for f in files)
            for name, files in record["files"].items()
        }
        limits = tuple(tuple(float(v) for v in lim) for lim in record["limits"])
        categories = {name: tuple(c) for name, c in record["categories"].items()}
        pair = (record["x"], record["y"])
        out[pair] = Pyramid(*pair, limits, index["coarsest"], levels, categories, str(folder))
    return out


def _store_of(df: pd.DataFrame) -> SurveyStore | None:
    """The store generation of a catalogue loaded by ``dashboard.store.load_catalog``, else None."""
    key = shared.key_of(df)
    if key is None or len(key) != 2:
        return None
    folder, generation = key
    return SurveyStore(Path(folder), generation=generation)


def pyramids(
    df: pd.DataFrame, pairs: Sequence[tuple[str, str]], labels: Sequence[str]
) -> dict[tuple[str, str], Pyramid]:
    """The pyramids of catalogue ``df`` (built first if missing), once per process; empty below ``min_rows``.

    Only a catalogue from ``load_catalog`` has them: its store generation locates the folder.
    """
    if len(df) < min_rows() or not pairs:
        return {}
    store = _store_of(df)
    if store is None:
        return {}

    def load() -> dict[tuple[str, str], Pyramid]:
        return open_aggregates(ensure_aggregates(store, df, pairs, labels))

    return shared.shared(df, "aggregates", (tuple(pairs), tuple(labels)), load, clone=False)


# --- the base layers' aggregation (dashboard/plots.py) -------------------------------------------
class PyramidAggregate(aggregate):
    """``aggregate`` of points that takes its counts from a pyramid (dashboard/aggregates.py) if it can.

    Everything but the counts (ranges, pixels, element type, dimensions) is HoloViews' own: the
    pyramid fills the canvas datashader would have filled from the points. Without a pyramid, for
    an aggregator it does not hold (a mean), or zoomed in beyond its finest level, the points
    are aggregated as by ``aggregate``.
    """

    pyramid = param.Parameter(default=None, doc="The dashboard.aggregates.Pyramid of the points' x, y.")

    def _apply_datashader(self, dfdata, cvs_fn, agg_fn, x, y, agg_state):
        pyramid = self.p.pyramid
        name = self._pyramid_name(agg_fn, agg_state)
        if pyramid is None or name is None or (x.name, y.name) != (pyramid.x, pyramid.y):
            return super()._apply_datashader(dfdata, cvs_fn, agg_fn, x, y, agg_state)
        canvas = cvs_fn.__self__
        counts = pyramid.image(
            name, tuple(canvas.x_range), tuple(canvas.y_range), canvas.plot_width, canvas.plot_height
        )
        if counts is None:
            return super()._apply_datashader(dfdata, cvs_fn, agg_fn, x, y, agg_state)
        # Datashader's own (empty) aggregate gives the coordinates and attributes; the counts go in.
        empty = super()._apply_datashader(dfdata.iloc[:0], cvs_fn, agg_fn, x, y, agg_state)
        labels = pyramid.categories.get(name)
        if empty.shape != counts.shape or (labels and [str(c) for c in empty[name].values] != list(labels)):
            return super()._apply_datashader(dfdata, cvs_fn, agg_fn, x, y, agg_state)
        return empty.copy(data=counts)

    @staticmethod
    def _pyramid_name(agg_fn, agg_state) -> str | None:
        """The pyramid's aggregate for ``agg_fn``: the count, or the counts per category of a label."""
        if agg_state == AggState.AGG_ONLY and type(agg_fn) is ds.count and agg_fn.column is None:
            return COUNT
        if agg_state == AggState.AGG_BY and isinstance(agg_fn, ds.by) and type(agg_fn.reduction) is ds.count:
            return agg_fn.cat_column
        return None


def with_pyramids(transforms: list) -> list:
    """Rasterize's element transforms, points aggregated by ``PyramidAggregate``."""
    return [(kind, PyramidAggregate if op is aggregate and kind is Points else op) for kind, op in transforms]
