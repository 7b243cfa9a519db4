"""The free-axes view: any two numeric columns; a box on it selects by those columns in every view."""

from __future__ import annotations

import numpy as np
import pandas as pd

from dashboard.state import DashboardState
from dashboard.views.free_view import FreeAxesView, default_axes
from dashboard.views.umap_view import UmapView
from data.query import expression_mask


def test_a_box_on_two_chosen_columns_selects_everywhere(catalog: pd.DataFrame) -> None:
    state = DashboardState(catalog=catalog)
    free, umap = FreeAxesView(state=state), UmapView(state=state)
    assert (free.x, free.y) == ("pred_teff_k", "pred_prot_d")
    free._x.value, free._y.value = "binary_prob", "pred_age_gyr"  # the widgets drive the view
    assert free.columns() == ("binary_prob", "pred_age_gyr")
    free._on_box(bounds=(0.5, 0.0, 1.0, 5.0))
    expected = (
        catalog["binary_prob"].between(0.5, 1.0) & catalog["pred_age_gyr"].between(0.0, 5.0)
    ).to_numpy()
    np.testing.assert_array_equal(state.mask, expected)
    assert state.expression.startswith("box(binary_prob, pred_age_gyr,")
    np.testing.assert_array_equal(expression_mask(state.expression, catalog), expected)
    assert free._selected.n_selected == umap._selected.n_selected == expected.sum()
    assert free._selected.x == "binary_prob"


def test_default_axes() -> None:
    assert default_axes(["a", "pred_prot_d", "pred_teff_k"]) == ("pred_teff_k", "pred_prot_d")
    assert default_axes(["a", "b"]) == ("a", "b") and default_axes(["a"]) == ("a", "a")
