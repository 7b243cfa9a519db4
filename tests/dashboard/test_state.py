"""DashboardState without a server: select in every mode, clear, count text, expression."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dashboard.selection import box_term
from dashboard.state import DashboardState


@pytest.fixture
def state() -> DashboardState:
    df = pd.DataFrame({"x": np.arange(10, dtype=np.float32), "y": np.zeros(10, dtype=np.float32)})
    return DashboardState(catalog=df)


def _first(k: int, n: int = 10) -> np.ndarray:
    return np.arange(n) < k


TERM = box_term("x", "y", (0, 0, 1, 1))


def test_starts_empty(state: DashboardState) -> None:
    assert state.mask is None
    assert state.selected_count == "Selected: 0 / 10"
    assert state.expression == ""


def test_replace_then_each_mode(state: DashboardState) -> None:
    state.select(_first(5), TERM)
    assert state.selected_count == "Selected: 5 / 10"
    state.mode = "add"
    state.select(~_first(8), TERM)
    assert state.n_selected == 7  # rows 0-4 and 8-9
    state.mode = "intersect"
    state.select(_first(9), TERM)
    assert state.n_selected == 6  # rows 0-4 and 8
    state.mode = "subtract"
    state.select(_first(2), TERM)
    np.testing.assert_array_equal(np.flatnonzero(state.mask), [2, 3, 4, 8])
    assert [mode for mode, _ in state.terms] == ["replace", "add", "intersect", "subtract"]
    state.mode = "replace"
    state.select(_first(1), TERM)
    assert state.n_selected == 1 and len(state.terms) == 1


def test_subtract_or_intersect_from_nothing_selects_nothing(state: DashboardState) -> None:
    for mode in ("subtract", "intersect"):
        state.clear()
        state.mode = mode
        state.select(_first(3), TERM)
        assert state.n_selected == 0, mode
        assert state.expression == "", mode


def test_clear_and_expression(state: DashboardState) -> None:
    state.select(_first(3), TERM)
    assert state.expression == "box(x, y, 0.0, 1.0, 0.0, 1.0)"
    state.clear()
    assert state.mask is None and state.terms == []
    assert state.selected_count == "Selected: 0 / 10"


def test_select_rejects_a_mask_of_the_wrong_length(state: DashboardState) -> None:
    with pytest.raises(ValueError, match="10 rows"):
        state.select(_first(3, n=4), TERM)


def test_colour_choices_come_from_the_catalogue() -> None:
    df = pd.DataFrame({"x": [1.0], "y": [2.0]})
    state = DashboardState(catalog=df, color_options={"density": "density", "x value": "x"}, color_by="x")
    assert state.color_by == "x"
    fallback = DashboardState(catalog=df, color_options={"density": "density"}, color_by="missing")
    assert fallback.color_by == "density"
