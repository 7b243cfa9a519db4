"""The histogram view: brushing a range selects it (by the selection mode); subsets and selection drawn."""

from __future__ import annotations

import numpy as np
import pandas as pd
from bokeh.events import SelectionGeometry

from dashboard.state import DashboardState
from dashboard.views.histogram_view import HistogramView, bin_index, binned_fractions, range_text
from data.query import expression_mask


def fractions(values: np.ndarray, edges: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """What the histogram shows, by definition: np.histogram of the finite values of ``mask``."""
    keep = np.isfinite(values) if mask is None else np.isfinite(values) & mask
    counts, _ = np.histogram(values[keep], bins=edges)
    return counts / counts.sum() if counts.sum() else np.zeros(len(counts))


def test_bin_numbers_count_as_numpy_histogram_does() -> None:
    """An edge is in the bin on its right, the last edge in the last bin; NaN, inf and outliers in none."""
    edges = np.linspace(-1.0, 3.0, 41)
    rng = np.random.default_rng(5)
    values = np.concatenate(
        [
            rng.uniform(-1.5, 3.5, 5000),
            edges,  # every edge exactly, the last one included
            np.nextafter(edges, np.inf),
            np.nextafter(edges, -np.inf),
            [np.nan, np.inf, -np.inf],
        ]
    )
    for dtype in (np.float64, np.float32):
        typed = values.astype(dtype)
        index = bin_index(typed, edges)
        mask = rng.random(len(typed)) < 0.3
        for subset in (None, mask):
            np.testing.assert_array_equal(
                binned_fractions(index, 40, subset), fractions(typed.astype(np.float64), edges, subset)
            )
        keep = np.isfinite(typed) & (typed >= edges[0]) & (typed <= edges[-1])
        counts, _ = np.histogram(typed[keep], bins=edges)
        np.testing.assert_array_equal(np.bincount(index, minlength=41)[:40], counts)
        assert (index[~keep] == 40).all()


def _drag(view: HistogramView, x0: float, x1: float, *, final: bool = True) -> None:
    event = SelectionGeometry(view.figure, geometry={"type": "rect", "x0": x0, "x1": x1}, final=final)
    view._on_geometry(event)


def test_brushing_a_range_selects_it(catalog: pd.DataFrame) -> None:
    state = DashboardState(catalog=catalog)
    view = HistogramView(state=state)
    view._column.value = "pred_teff_k"
    _drag(view, 6000.123456789, 5000.0)
    teff = catalog["pred_teff_k"].to_numpy()
    expected = (teff >= 5000.0) & (teff <= 6000.12)
    np.testing.assert_array_equal(state.mask, expected)
    assert state.expression == "pred_teff_k >= 5000.0 and pred_teff_k <= 6000.12"
    np.testing.assert_array_equal(expression_mask(state.expression, catalog), expected)
    state.mode = "intersect"
    _drag(view, 5500.0, 7000.0)
    both = expected & (teff >= 5500.0)
    np.testing.assert_array_equal(state.mask, both)
    _drag(view, 5600.0, 5700.0, final=False)  # mid-drag events change nothing
    assert state.n_selected == int(both.sum())


def test_selection_and_subsets_are_drawn_as_fractions(catalog: pd.DataFrame) -> None:
    assert range_text("x", (2.0, 1.0)) == "x >= 1.0 and x <= 2.0"
    state = DashboardState(catalog=catalog)
    view = HistogramView(state=state)
    view._column.value = "pred_teff_k"
    assert len(view.selection.data["top"]) == 0 and len(view.subsets.data["xs"]) == 0
    state.apply_expression("binary_prob > 0.5")
    state.save_selection("binaries")
    state.apply_expression("binary_prob <= 0.5")
    edges = np.append(view.base.data["left"], view.base.data["right"][-1])
    outline = view.subsets.data["ys"][0][::2]  # the step line's two points a bin
    for top in (view.base.data["top"], view.selection.data["top"], outline):
        assert abs(np.sum(top) - 1.0) < 1e-9
    values = catalog["pred_teff_k"].to_numpy(dtype=np.float64)
    np.testing.assert_allclose(outline, fractions(values, edges, state.subset_mask("binaries")))
    np.testing.assert_allclose(view.subsets.data["xs"][0][::2], edges[:-1])
    assert len(view.subsets.data["xs"]) == 1  # one subset, one line
    assert list(view.subsets.data["color"]) == [colour for _mask, colour in state.subset_layers()]
    view._column.value = "binary_prob"  # another column redraws every layer on its own axis
    assert view.figure.x_range.end <= 1.0 + 1e-6 and "binary" in view.figure.xaxis[0].axis_label
