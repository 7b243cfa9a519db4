"""Density contours of a view: where most stars are, whatever the overplotting (dashboard/overlays.py)."""

from __future__ import annotations

from collections.abc import Sequence

import holoviews as hv
import numpy as np
import pandas as pd

from dashboard.plots import column_limits

#: Fractions of the stars the density contours enclose (highest-density regions), inner first.
CONTOUR_FRACTIONS = (0.25, 0.5, 0.75, 0.9)
CONTOUR_BINS = 80


def contour_levels(density: np.ndarray, fractions: Sequence[float] = CONTOUR_FRACTIONS) -> list[float]:
    """Density thresholds whose regions above them hold ``fractions`` of the total, increasing."""
    values = np.sort(density.ravel())[::-1]
    total = values.sum()
    if total <= 0:
        return []
    enclosed = np.cumsum(values) / total
    levels = {float(values[min(np.searchsorted(enclosed, f), values.size - 1)]) for f in fractions}
    return sorted(level for level in levels if level > 0)


def density_contours(df: pd.DataFrame, x: str, y: str) -> hv.Contours:
    """Contours of the smoothed star density enclosing ``CONTOUR_FRACTIONS`` of the stars.

    A 2-D histogram on ``CONTOUR_BINS`` bins over the view's limits, smoothed by a Gaussian of
    1.5 bins, then traced at the levels of ``contour_levels`` (what Embedding Atlas and TOPCAT's
    density modes show: where most stars are, whatever the overplotting).
    """
    from scipy.ndimage import gaussian_filter

    xs, ys = df[x].to_numpy(dtype=np.float64), df[y].to_numpy(dtype=np.float64)
    keep = np.isfinite(xs) & np.isfinite(ys)
    xlim, ylim = column_limits(df, x), column_limits(df, y)
    counts, xe, ye = np.histogram2d(xs[keep], ys[keep], bins=CONTOUR_BINS, range=[xlim, ylim])
    density = gaussian_filter(counts, 1.5)
    levels = contour_levels(density)
    image = hv.Image(
        (0.5 * (xe[1:] + xe[:-1]), 0.5 * (ye[1:] + ye[:-1]), density.T), kdims=[x, y], vdims=["density"]
    )
    if not levels:
        return hv.Contours([], kdims=[x, y])
    from holoviews.operation import contours

    return contours(image, levels=levels, filled=False).opts(
        color="black", line_width=1, alpha=0.7, show_legend=False, colorbar=False, cmap=["#000000"]
    )
