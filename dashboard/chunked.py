"""Selections of a large catalogue on Dask: masks and selected-layer counts a chunk of rows at a time.

From ``$DESA_CHUNKED_MIN_ROWS`` stars on (off by default, see ``DEFAULT_MIN_ROWS``), a drawn
box or lasso is evaluated over the memory-mapped columns in chunks of ``aggregates.CHUNK_ROWS``
rows (``dask.array``), and the selected layer's counts are datashader's on a Dask dataframe whose
partitions are the selected stars of one chunk each. The in-memory path converts whole columns to
float64 and copies every selected star at once (about 250 MB of temporaries for a box over 10^7
stars); here no step holds more than a chunk per worker thread. The results are the same, star
for star: every step is element-wise and the counts of the partitions add up.

The graphs run on Dask's threaded scheduler in the serving process (``SCHEDULER``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import dask
import dask.array as da
import dask.dataframe as dd
import datashader as ds
import numpy as np
import pandas as pd

from dashboard import aggregates
from data.query import exact_lasso_mask

#: Catalogues of at least this many stars are selected in chunks (``$DESA_CHUNKED_MIN_ROWS``).
MIN_ROWS_ENV = "DESA_CHUNKED_MIN_ROWS"
#: Default threshold: off in practice. On one 2-core machine the chunks measured 10–50 % slower than
#: the in-memory selection at 10^7 and 3x10^7 stars, with no lower peak memory
#: (benchmarks/bench_aggregates.py, docs/DEPLOY.md section 12); set it where many cores pay.
DEFAULT_MIN_ROWS = 10**10
#: Dask scheduler of the chunked graphs: threads of the serving process (its maps are shared).
SCHEDULER = "threads"


def applies(n_rows: int) -> bool:
    """Whether a catalogue of ``n_rows`` stars is selected in chunks.

    From ``$DESA_CHUNKED_MIN_ROWS`` stars on (default ``DEFAULT_MIN_ROWS``: off, see there).
    """
    return n_rows >= int(os.environ.get(MIN_ROWS_ENV) or DEFAULT_MIN_ROWS)


def _columns(df: pd.DataFrame, x: str, y: str) -> tuple[da.Array, da.Array]:
    chunks = aggregates.CHUNK_ROWS
    return (da.from_array(df[c].to_numpy(), chunks=chunks, asarray=False) for c in (x, y))


def box_mask(df: pd.DataFrame, x: str, y: str, bounds: Sequence[float]) -> np.ndarray:
    """``data.query_eval.exact_box_mask`` a chunk at a time (float64 comparisons, edges in, NaN out)."""
    x0, y0, x1, y1 = (float(v) for v in bounds)
    xs, ys = (c.astype(np.float64) for c in _columns(df, x, y))
    inside = (xs >= min(x0, x1)) & (xs <= max(x0, x1)) & (ys >= min(y0, y1)) & (ys <= max(y0, y1))
    return inside.compute(scheduler=SCHEDULER)


def lasso_mask(df: pd.DataFrame, x: str, y: str, polygon: np.ndarray) -> np.ndarray:
    """``data.query_eval.exact_lasso_mask`` a chunk at a time."""
    xs, ys = _columns(df, x, y)

    def chunk_mask(cx: np.ndarray, cy: np.ndarray) -> np.ndarray:
        frame = pd.DataFrame({"x": cx, "y": cy}, copy=False)
        return exact_lasso_mask(frame, "x", "y", polygon)

    return da.map_blocks(chunk_mask, xs, ys, dtype=bool).compute(scheduler=SCHEDULER)


def count_selected(
    xs: np.ndarray, ys: np.ndarray, mask: np.ndarray, canvas: ds.Canvas, x: str = "x", y: str = "y"
) -> object:
    """Datashader's count of the stars ``mask`` selects, on a Dask dataframe of one partition a chunk.

    Returns the aggregate (an ``xarray.DataArray``), as ``canvas.points`` on the selected stars.
    """
    starts = list(range(0, len(mask), aggregates.CHUNK_ROWS))

    def selected(start: int) -> pd.DataFrame:
        part = slice(start, start + aggregates.CHUNK_ROWS)
        keep = mask[part]
        return pd.DataFrame({x: xs[part][keep], y: ys[part][keep]}, copy=False)

    meta = pd.DataFrame({x: xs[:0], y: ys[:0]})
    frame = dd.from_map(selected, starts, meta=meta, enforce_metadata=False)
    with dask.config.set(scheduler=SCHEDULER):
        return canvas.points(frame, x, y, agg=ds.count())
