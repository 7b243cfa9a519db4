"""The star search box: KIC, Gaia source_id (beyond 2**53), LAMOST obsid, row; bounded input."""

from __future__ import annotations

import pandas as pd

from dashboard.search import MAX_QUERY, find_star
from dashboard.state import DashboardState
from dashboard.views.controls import Controls


def test_ids_find_their_star(catalog: pd.DataFrame) -> None:
    star = catalog.iloc[123]
    for text in (
        f"KIC {int(star['kic_id'])}",
        f"kic{int(star['kic_id'])}",
        f"Gaia DR3 {int(star['gaia_source_id'])}",
        f"source_id: {int(star['gaia_source_id'])}",
        f"{int(star['gaia_source_id'])}",
        "row 123",
    ):
        assert find_star(catalog, text).row == 123, text


def test_a_gaia_id_is_matched_exactly_not_as_a_float(catalog: pd.DataFrame) -> None:
    source_id = int(catalog["gaia_source_id"].iloc[5])
    assert source_id > 2**53
    assert float(source_id + 1) == float(source_id)  # equal as float64 ...
    assert find_star(catalog, f"Gaia DR3 {source_id + 1}").row is None  # ... but not as an id


def test_bad_input_is_refused_with_a_message(catalog: pd.DataFrame) -> None:
    assert "at most" in find_star(catalog, "1" * (MAX_QUERY + 1)).message
    assert find_star(catalog, "<img src=x> 12").row is None
    assert "TIC" in find_star(catalog, "TIC 12").message
    assert find_star(catalog, "KIC 1").row is None
    assert find_star(catalog, "row 99999999").row is None


def test_the_search_box_focuses_and_escapes(catalog: pd.DataFrame) -> None:
    state = DashboardState(catalog=catalog)
    controls = Controls(state=state)
    assert controls.search(f"KIC {int(catalog['kic_id'].iloc[42])}")
    assert state.focused_row == 42
    assert not controls.search("nothing <b>here</b>")
    assert "<b>" not in controls._found.object
    # A message quoting the typed prefix reads as typed: no emphasis from its underscores.
    assert not controls.search("my_id_ 12")
    assert "my\\_id\\_" in controls._found.object, controls._found.object
