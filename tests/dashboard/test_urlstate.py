"""Shareable URL: the expression, colour and focused star go into the query string and come back."""

from __future__ import annotations

import urllib.parse

import numpy as np
import pandas as pd
import pytest
from panel.io.location import Location

from dashboard.state import DashboardState
from dashboard.store import color_options
from dashboard.urlstate import TextLocation, UrlSync, restore, search_with, session_location


@pytest.fixture
def state(catalog: pd.DataFrame) -> DashboardState:
    return DashboardState(catalog=catalog, color_options=color_options(catalog), color_by="density")


def _params(search: str) -> dict[str, str]:
    return dict(urllib.parse.parse_qsl(search.lstrip("?")))


def test_state_changes_are_written_to_the_url(state: DashboardState) -> None:
    location = Location(search="?tab=2")
    sync = UrlSync(state, location)
    assert _params(sync.search) == {"tab": "2", "color_by": "density"}
    assert sync.writer.search == sync.search  # what the page's address bar shows
    state.apply_expression("binary_prob > 0.9 and true_population in ['young', 'giant']")
    state.color_by = "pred_age_gyr"
    state.focused_row = 17
    params = _params(sync.search)
    assert sync.writer.search == sync.search
    assert params == {
        "tab": "2",
        "expression": "binary_prob > 0.9 and true_population in ['young', 'giant']",
        "color_by": "pred_age_gyr",
        "focused_row": "17",
    }
    state.clear()
    assert "expression" not in _params(sync.search) and sync.writer.search == sync.search


def test_a_shared_link_restores_selection_colour_and_star(
    state: DashboardState, catalog: pd.DataFrame
) -> None:
    source = DashboardState(catalog=catalog, color_options=color_options(catalog))
    source.apply_expression("box(umap_x, umap_y, -2.0, 2.0, -2.0, 2.0)")
    source.mode = "subtract"
    source.apply_expression("binary_prob > 0.5")
    source.color_by, source.focused_row = "binary_prob", 5
    link = search_with("", {"expression": source.expression, "color_by": "binary_prob", "focused_row": "5"})

    fresh = Location(search=link)
    sync = UrlSync(state, fresh)
    assert sync.problems == []
    np.testing.assert_array_equal(state.mask, source.mask)
    assert state.n_selected > 0 and state.expression == source.expression
    assert state.color_by == "binary_prob" and state.focused_row == 5


def test_bad_parameters_are_reported_not_raised(state: DashboardState) -> None:
    search = "?" + urllib.parse.urlencode(
        {"expression": "binary_pro > 0.9", "color_by": "../../etc/passwd", "focused_row": "99999"}
    )
    problems = restore(state, search)
    assert len(problems) == 3
    assert "did you mean 'binary_prob'" in problems[2]
    assert "not a column to colour by" in problems[0] and "not a row" in problems[1]
    assert state.mask is None and state.color_by == "density" and state.focused_row is None


@pytest.mark.parametrize(
    ("key", "value", "problem"),
    [
        ("focused_row", "\u00b2", "focused_row='\u00b2' is not a row"),  # str.isdigit() is True, int() fails
        ("focused_row", "\u0663", "focused_row='\u0663' is not a row"),  # Arabic-Indic three
        ("focused_row", "9" * 5000, "focused_row='999"),  # beyond int()'s 4,300 digits
        ("focused_row", str(2**64), "is not a row"),
        ("focused_row", "-1", "is not a row"),
        ("expression", f"binary_prob > {2**70}", None),  # applied: selects nothing
        ("expression", "binary_prob > " + "9" * 4400, "a number of 4,400 characters"),
        ("expression", "binary_prob > 1e999", "is too large"),
        ("expression", "binary_prob > \u0663", "unexpected character"),
        ("color_by", "<img src=x onerror=alert(1)>" * 100, "color_by='<img src=x onerror=alert(1)><img"),
    ],
)
def test_hostile_values_are_reported_not_raised(
    state: DashboardState, key: str, value: str, problem: str | None
) -> None:
    problems = restore(state, "?" + urllib.parse.urlencode({key: value}))
    if problem is None:
        assert problems == [] and state.n_selected == 0
    else:
        assert len(problems) == 1 and problem in problems[0], problems
        assert len(problems[0]) < 200, "a long value is quoted cut short"


def test_an_overlong_link_is_not_parsed(state: DashboardState) -> None:
    problems = restore(state, "?color_by=binary_prob&x=" + "a" * 400_000)
    assert len(problems) == 1 and "400," in problems[0] and "none applied" in problems[0]
    assert state.color_by == "density"


def test_search_with_keeps_other_parameters_and_quotes_spaces() -> None:
    search = search_with("?a=1&expression=old", {"expression": "x > 1 and y == 'a b'"})
    assert search.startswith("?a=1&expression=x%20%3E%201")
    assert _params(search) == {"a": "1", "expression": "x > 1 and y == 'a b'"}
    assert search_with("?expression=old", {}) == ""


def test_no_url_outside_a_server_session() -> None:
    assert session_location() is None


def test_the_location_keeps_values_as_text(state: DashboardState) -> None:
    # Panel's Location raises ValueError (int("²")) as its search is set to such a link.
    search = "?focused_row=%C2%B2&n=" + "9" * 5000 + "&expression=x"
    location = TextLocation(search=search)
    assert location.query_params == {"focused_row": "²", "n": "9" * 5000, "expression": "x"}
    sync = UrlSync(state, location)
    assert "focused_row='²' is not a row" in sync.problems[0]
    assert location.query_params["n"] == "9" * 5000, "other parameters are kept"
