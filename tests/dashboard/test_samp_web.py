"""SAMP Web Profile, server side: the table written under the session's token, the hub's answers checked."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy.table import Table

from dashboard import samp_web
from dashboard.samp_web import MAX_ROWS, SampWebView
from dashboard.samp_web_route import FILE, TOKEN
from dashboard.state import DashboardState


@pytest.fixture
def view(
    catalog: pd.DataFrame, survey_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> SampWebView:
    monkeypatch.setenv("DESA_SAMP_WEB_DIR", str(tmp_path / "samp_web"))
    view = SampWebView(state=DashboardState(catalog=catalog), survey_dir=survey_dir)
    view.sent_messages = []
    monkeypatch.setattr(view.client, "_send_msg", view.sent_messages.append)
    return view


def test_send_writes_the_selection_under_the_token_and_offers_its_url(
    view: SampWebView, tmp_path: Path
) -> None:
    assert not view.send()  # nothing selected: a message
    view.state.apply_expression("binary_prob > 0.9")
    assert view.send()
    message = view.sent_messages[-1]
    assert message["mtype"] == "table.load.votable"
    _, token, name = message["relative_url"].split("/")
    assert TOKEN.fullmatch(token) and FILE.fullmatch(name)
    table = Table.read(tmp_path / "samp_web" / token / name, format="votable")
    assert len(table) == view.state.n_selected and message["params"]["table-id"] == f"desa-{name[:-4]}"


def test_answers_from_the_hub_select_and_focus_and_are_bounded(view: SampWebView) -> None:
    view.state.apply_expression("binary_prob > 0.9")
    view.send()
    table_id = view.sent_messages[-1]["params"]["table-id"]
    rows = np.flatnonzero(view.state.mask)
    view.receive(
        {
            "mtype": "table.select.rowList",
            "params": {"table-id": table_id, "row-list": ["0", "2", "x", "-1", "²", "99999"]},
        }
    )
    assert view.state.expression == f"row in [{rows[0]}, {rows[2]}]"
    view.receive({"mtype": "table.highlight.row", "params": {"table-id": table_id, "row": "1"}})
    assert view.state.focused_row == rows[1]
    before = view.state.expression
    view.receive(
        {"mtype": "table.select.rowList", "params": {"table-id": "someone else's", "row-list": ["0"]}}
    )
    view.receive(
        {
            "mtype": "table.select.rowList",
            "params": {"table-id": table_id, "row-list": ["0"] * (MAX_ROWS + 1)},
        }
    )
    assert view.state.expression == before and "at most" in view._message.object
    view.receive({"status": "error", "detail": "<b>refused</b>"})
    assert "<b>" not in view._message.object


def test_point_at_sends_the_focused_stars_position(view: SampWebView, catalog: pd.DataFrame) -> None:
    assert not view.point_at()
    view.state.focused_row = 7
    assert view.point_at()
    params = view.sent_messages[-1]["params"]
    assert view.sent_messages[-1]["mtype"] == "coord.pointAt.sky"
    assert float(params["ra"]) == pytest.approx(float(catalog["ra_deg"].iloc[7]))
    assert samp_web._index("12", 10) is None and samp_web._index("3", 10) == 3
