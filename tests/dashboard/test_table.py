"""Selected-stars table: key columns, pages and sorting served here, a row click focuses the star."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dashboard.similar import similar_for_survey
from dashboard.state import DashboardState
from dashboard.views.controls import Controls
from dashboard.views.table_view import (
    PAGE_SIZE,
    StarRows,
    TableView,
    _title,
    column_values,
    next_sorters,
    sorted_page,
    table_columns,
    table_frame,
)


@pytest.fixture
def state(catalog: pd.DataFrame, survey_dir: Path) -> DashboardState:
    return DashboardState(catalog=catalog, similar=similar_for_survey(survey_dir, len(catalog)))


def test_key_columns_and_ids_as_text(state: DashboardState) -> None:
    columns = table_columns(state.catalog)
    assert columns[:6] == ["row", "kic_id", "gaia_source_id", "phot_g_mean_mag", "bp_rp_mag", "abs_g_mag"]
    assert {"pred_teff_k", "pred_teff_k_lo", "pred_teff_k_hi", "binary_prob", "true_population"} <= set(
        columns
    )
    assert "kepler_path" not in columns
    state.apply_expression("row in [3, 1]")
    frame = table_frame(state, np.flatnonzero(state.mask))
    assert frame["row"].tolist() == [1, 3]
    assert frame["gaia_source_id"].tolist() == [str(v) for v in state.catalog["gaia_source_id"].iloc[[1, 3]]]
    assert frame["kic_id"].tolist() == [str(v) for v in state.catalog["kic_id"].iloc[[1, 3]]]


def test_every_column_has_a_fixed_width_its_title_fits(state: DashboardState) -> None:
    """Fixed widths: the browser does not measure every cell of each new page (DEPLOY.md §4)."""
    table = TableView(state=state)._table
    columns = table_columns(state.catalog)
    widths = {c["field"]: c["width"] for c in table.columns}
    assert list(widths) == columns
    for name in columns:
        assert widths[name] >= 8 * len(_title(name)), name
    assert widths["gaia_source_id"] >= 8 * 19  # all 19 digits
    # Numbers carry their column's decimals (the browser rounds with them), identifiers are text.
    decimals = {c["field"]: c["decimals"] for c in table.columns}
    assert decimals["pred_teff_k"] == 0 and decimals["abs_g_mag"] == 3 and decimals["binary_prob"] == 3
    assert decimals["gaia_source_id"] is None and decimals["true_population"] is None


def test_table_follows_the_selection_and_a_click_focuses_the_star(state: DashboardState) -> None:
    view = TableView(state=state)
    table = view._table
    assert 20 <= PAGE_SIZE <= 50
    assert len(view.page_frame) == 0 and "Select stars" in view._title.object
    state.apply_expression("true_population == 'young'")
    n = state.n_selected
    assert n > 2 * PAGE_SIZE and f"({n:,};" in view._title.object
    # Only the page on show is built: the first PAGE_SIZE selected rows, in catalogue order.
    selected = np.flatnonzero(state.mask)
    assert view.page_frame["row"].tolist() == selected[:PAGE_SIZE].tolist()
    assert view._range.object == f"stars 1–{PAGE_SIZE} of {n:,}" and view._previous.disabled
    view._next.clicks += 1
    assert view.page_frame["row"].tolist() == selected[PAGE_SIZE : 2 * PAGE_SIZE].tolist()
    view._page.value = view.n_pages  # typed page number: the last, partial page
    assert view.page_frame["row"].tolist() == selected[(view.n_pages - 1) * PAGE_SIZE :].tolist()
    assert view._next.disabled and not view._previous.disabled
    view.go_to_page(10_000)  # beyond the end: the last page
    assert view._page.value == view.n_pages
    # What the browser gets: the page, one list per column, numbers as numbers, ids as text.
    fields = [c["field"] for c in table.columns]
    assert table.values[fields.index("row")] == view.page_frame["row"].tolist()
    assert all(isinstance(v, str) for v in table.values[fields.index("gaia_source_id")])
    # A click (the browser's message) reports the position in the page's frame.
    table._handle_msg({"click": 2})
    assert state.focused_row == int(view.page_frame["row"].iloc[2])
    for bad in ({"click": 10_000}, {"click": -1}, {"click": "1"}, {"click": True}, {"sort": "<b>"}, [], None):
        table._handle_msg(bad)  # outside the page, or not a message this table sends: ignored
    assert state.focused_row == int(view.page_frame["row"].iloc[2])
    state.apply_expression("row in [3, 1]")  # a new selection starts at its first page
    assert view.page_frame["row"].tolist() == [1, 3] and view._page.value == 1 == view.n_pages


def test_a_header_sort_orders_the_whole_selection(state: DashboardState) -> None:
    view = TableView(state=state)
    state.apply_expression("true_population == 'young'")
    teff = state.catalog["pred_teff_k"].to_numpy()
    selected = np.flatnonzero(state.mask)
    for _ in range(2):  # two clicks on the header, as the browser sends them: ascending, descending
        view._table._handle_msg({"sort": "pred_teff_k", "add": False})
    assert view._table.sorters == [{"field": "pred_teff_k", "dir": "desc"}]
    expected = selected[np.argsort(-teff[selected], kind="stable")]
    assert view.page_frame["row"].tolist() == expected[:PAGE_SIZE].tolist()
    view._next.clicks += 1
    assert view.page_frame["row"].tolist() == expected[PAGE_SIZE : 2 * PAGE_SIZE].tolist()
    view._table._handle_msg({"sort": "row", "add": True})  # Shift-click: a second key
    assert view._table.sorters == [{"field": "pred_teff_k", "dir": "desc"}, {"field": "row", "dir": "asc"}]
    assert view.page_frame["row"].tolist() == expected[:PAGE_SIZE].tolist()  # back to page 1


def test_header_clicks_cycle_and_add_sort_keys() -> None:
    asc, desc = "asc", "desc"
    assert next_sorters([], "a", False) == [{"field": "a", "dir": asc}]
    assert next_sorters([{"field": "a", "dir": asc}], "a", False) == [{"field": "a", "dir": desc}]
    assert next_sorters([{"field": "a", "dir": desc}], "a", False) == [{"field": "a", "dir": asc}]
    two = [{"field": "a", "dir": asc}, {"field": "b", "dir": asc}]
    assert next_sorters(two, "b", False) == [{"field": "b", "dir": desc}]  # a plain click: one key
    assert next_sorters(two, "b", True) == [{"field": "a", "dir": asc}, {"field": "b", "dir": desc}]
    assert next_sorters(two, "c", True) == [*two, {"field": "c", "dir": asc}]


def test_column_values_send_missing_numbers_as_null() -> None:
    frame = pd.DataFrame(
        {
            "x": [1.5, np.nan],
            "n": np.array([3, 4], np.int64),
            "k": pd.array([7, None], dtype="Int64"),
            "s": pd.Series(["a", None], dtype=object),
        }
    )
    values = column_values(frame)
    assert values == [[1.5, None], [3, 4], [7, None], ["a", None]]
    assert all(type(v) is int for v in values[1])  # plain Python numbers: what Bokeh serialises


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sorted_page_equals_a_stable_sort_of_the_whole_selection(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 2_000
    catalog = pd.DataFrame(
        {
            "mag": np.where(rng.random(n) < 0.1, np.nan, rng.integers(0, 30, n) / 2.0),  # ties, NaN
            "source_id": rng.integers(2**62, 2**63 - 1, n, dtype=np.int64),
            "population": pd.Series(rng.choice(["young", "field", "sync_binary", None], n), dtype="str"),
        }
    )
    rows = np.sort(rng.choice(n, 1_500, replace=False))
    for sorters in (
        [{"field": "mag", "dir": "asc"}],
        [{"field": "mag", "dir": "desc"}],
        [{"field": "source_id", "dir": "desc"}],
        [{"field": "population", "dir": "asc"}, {"field": "mag", "dir": "desc"}],
        [{"field": "not_a_column", "dir": "asc"}],
    ):
        known = [s for s in sorters if s["field"] in catalog]
        frame = catalog.iloc[rows]
        if known:
            frame = frame.sort_values(
                [s["field"] for s in known],
                ascending=[s["dir"] == "asc" for s in known],
                kind="stable",
                na_position="last",
            )
        expected = frame.index.to_numpy()
        for start in (0, 25, 300, 1_475, 1_490):  # partial-sort pages and full-sort pages
            page = sorted_page(catalog, rows, sorters, start, start + 25)
            assert page.tolist() == expected[start : start + 25].tolist(), (sorters, start)


def test_controls_apply_a_typed_expression_and_show_errors(state: DashboardState) -> None:
    controls = Controls(state=state)
    assert controls.apply("binary_prob > 0.9 and true_population == 'sync_binary'")
    assert state.n_selected > 0 and not controls._alert.visible
    assert controls._expression.value == state.expression
    assert not controls.apply("binary_prob >> 0.9")
    assert controls._alert.visible and "position" in controls._alert.object
    assert state.expression.startswith("binary_prob > 0.9")  # unchanged
    state.clear()
    assert controls._expression.value == ""


def test_controls_find_similar_of_the_focused_star_or_the_selection(state: DashboardState) -> None:
    controls = Controls(state=state)
    assert not controls.find_similar()
    assert "No focused star" in controls._alert.object
    state.focused_row = 7
    controls._k.value = 12
    assert controls.find_similar()
    assert state.expression == "similar(7, 12)" and state.n_selected == 12
    controls._of.value = "selection"
    state.apply_expression("row in [1, 2, 3]")
    assert controls.find_similar()
    assert state.expression == "similar(row in [1, 2, 3], 12)" and state.n_selected == 12


def test_controls_without_an_embedding_disable_find_similar(catalog: pd.DataFrame) -> None:
    controls = Controls(state=DashboardState(catalog=catalog))
    assert controls._similar.disabled


def test_a_table_made_after_the_selection_shows_it(state: DashboardState) -> None:
    state.apply_expression("row in [5, 2]")  # e.g. a link's expression, applied before the page
    view = TableView(state=state)
    assert view.page_frame["row"].tolist() == [2, 5] and view._range.object == "stars 1–2 of 2"


def test_the_table_passes_on_only_messages_it_sends() -> None:
    """A message from the browser is untrusted: a position off the page or an unknown field is dropped."""
    table = StarRows(
        columns=[{"field": "row", "title": "row", "width": 80, "decimals": None}], values=[[4, 9]]
    )
    rows, sorts = [], []
    table.on_row, table.on_header = rows.append, lambda field, add: sorts.append((field, add))
    for bad in ({"click": 2}, {"click": -1}, {"click": "1"}, {"click": True}, {"click": 1.0}):
        table._handle_msg(bad)
    for bad in ({"sort": "<b>"}, {"sort": ["row"]}, [], None, "click"):
        table._handle_msg(bad)
    assert rows == [] and sorts == []
    table._handle_msg({"click": 1})
    table._handle_msg({"sort": "row", "add": 1})
    assert rows == [1] and sorts == [("row", True)]
