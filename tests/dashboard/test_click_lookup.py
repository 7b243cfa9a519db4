"""The click lookup (dashboard/views/base.py PixelGrid): the nearest star on screen, 4 bytes a star."""

from __future__ import annotations

import numpy as np
import pandas as pd

from dashboard import plots
from dashboard.views import base


def brute_force(df: pd.DataFrame, point, x_range=None, y_range=None) -> int | None:
    """The star nearest ``point`` in screen pixels at the zoom, within the tap radius, by full scan."""
    (x0, x1), (y0, y1) = plots.data_limits(df["x"]), plots.data_limits(df["y"])
    scale = np.array([plots.FRAME_WIDTH / (x1 - x0), plots.FRAME_HEIGHT / (y1 - y0)])
    zoom = np.ones(2)
    if x_range is not None:
        zoom = np.array(
            [
                plots.FRAME_WIDTH / (x_range[1] - x_range[0]) / scale[0],
                plots.FRAME_HEIGHT / (y_range[1] - y_range[0]) / scale[1],
            ]
        )
    dx = (df["x"].to_numpy(np.float64) - point[0]) * scale[0] * zoom[0]
    dy = (df["y"].to_numpy(np.float64) - point[1]) * scale[1] * zoom[1]
    dist = np.where(np.isnan(dx) | np.isnan(dy), np.inf, np.hypot(dx, dy))
    best = int(np.argmin(dist))
    return best if dist[best] <= base.TAP_RADIUS_PX else None


def test_a_click_picks_the_star_a_full_scan_picks_at_every_zoom() -> None:
    rng = np.random.default_rng(0)
    n = 50_000
    df = pd.DataFrame({"x": rng.normal(0, 1, n), "y": rng.normal(0, 3, n)}).astype(np.float32)
    df.loc[::97, "x"] = np.nan  # stars without a position are never picked
    df["row"] = np.arange(n, dtype=np.int32)
    hits = 0
    for i in range(300):
        point = (rng.normal(0, 1.5), rng.normal(0, 4))
        x_range = y_range = None
        if i % 3:  # zoomed in (down to 1/1000 of the view) or out (to 1/3)
            half = 10 ** rng.uniform(-3, 1.2)
            x_range, y_range = (point[0] - half, point[0] + half), (point[1] - 3 * half, point[1] + 3 * half)
        want = brute_force(df, point, x_range, y_range)
        got = base.nearest_row(df, "x", "y", point, x_range=x_range, y_range=y_range)
        assert got == want, (point, x_range)
        hits += want is not None
    assert 50 < hits < 300  # both outcomes were checked


def test_the_lookup_holds_one_int32_per_star_and_not_the_coordinates(catalog: pd.DataFrame) -> None:
    grid, _ = base._tree(catalog, "umap_x", "umap_y")
    finite = int((catalog["umap_x"].notna() & catalog["umap_y"].notna()).sum())
    assert grid.order.dtype == np.int32 and grid.size == finite
    assert np.shares_memory(grid.xs, catalog["umap_x"].to_numpy())  # the column itself, not a copy
    assert sorted(grid.order.tolist()) == sorted(np.flatnonzero(catalog["umap_x"].notna()).tolist())


def test_zoomed_out_a_click_reaches_as_many_data_units_as_its_pixels_cover() -> None:
    df = pd.DataFrame({"x": [0.0, 10.0, 5.0], "y": [0.0, 10.0, 5.0]}).astype(np.float32)
    # Full view: x spans about 10.8 units in 340 px; 0.4 units is ~13 px, too far to pick ...
    assert base.nearest_row(df, "x", "y", (0.4, 0.0)) is None
    # ... zoomed out three times it is ~4 px, within the tap radius.
    wide = {"x_range": (-11.2, 21.2), "y_range": (-11.2, 21.2)}
    assert base.nearest_row(df, "x", "y", (0.4, 0.0), **wide) == 0
