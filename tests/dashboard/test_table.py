"""Selected-stars table: key columns, remote pagination, a row click focuses the star; the controls."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from dashboard.similar import similar_for_survey
from dashboard.state import DashboardState
from dashboard.views.controls import Controls
from dashboard.views.table_view import PAGE_SIZE, TableView, table_columns, table_frame


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
    frame = table_frame(state)
    assert frame["row"].tolist() == [1, 3]
    assert frame["gaia_source_id"].tolist() == [str(v) for v in state.catalog["gaia_source_id"].iloc[[1, 3]]]


def test_table_follows_the_selection_and_a_click_focuses_the_star(state: DashboardState) -> None:
    view = TableView(state=state)
    table = view._table
    assert table.pagination == "remote" and 20 <= table.page_size == PAGE_SIZE <= 50
    assert len(table.value) == 0 and "Select stars" in view._title.object
    state.apply_expression("true_population == 'young'")
    assert len(table.value) == state.n_selected and f"({state.n_selected:,};" in view._title.object
    # Sorting happens in the browser page by page; a click reports the position in `value`.
    view.focus_table_row(2)
    assert state.focused_row == int(table.value["row"].iloc[2])
    view.focus_table_row(10_000)  # outside the table: ignored
    assert state.focused_row == int(table.value["row"].iloc[2])


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
