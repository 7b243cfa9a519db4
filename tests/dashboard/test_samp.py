"""SAMP broadcast: an in-process hub and a second client receive the selection as a VOTable."""

from __future__ import annotations

import threading
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from astropy.table import Table
from pyvo.samp import SAMPHubServer, SAMPIntegratedClient

from dashboard.safe_text import escape_markdown
from dashboard.samp import MTYPE, SampError, broadcast_selection
from dashboard.state import DashboardState
from dashboard.views.export_view import ExportView


class Receiver:
    """A SAMP client (like TOPCAT) that records the ``table.load.votable`` messages it gets."""

    def __init__(self, hub_params: dict[str, Any] | None = None) -> None:
        self.messages: list[dict[str, Any]] = []
        self.received = threading.Event()
        self.client = SAMPIntegratedClient(name="test-receiver")
        self.client.connect(hub_params=hub_params)
        self.client.bind_receive_notification(MTYPE, self._on_message)

    def _on_message(self, _key: str, _sender: str, mtype: str, params: dict, _extra: dict) -> None:
        self.messages.append({"mtype": mtype, **params})
        self.received.set()


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private hub (no web profile) found through $SAMP_HUB, never the user's ~/.samp."""
    lockfile = tmp_path / "samp.lock"
    server = SAMPHubServer(web_profile=False, lockfile=str(lockfile), pool_size=2)
    server.start()
    monkeypatch.setenv("SAMP_HUB", f"std-lockurl:{lockfile.as_uri()}")
    try:
        yield lockfile
    finally:
        server.stop()


def test_broadcast_reaches_a_subscribed_client(hub: Path, tmp_path: Path) -> None:
    receiver = Receiver()
    try:
        votable = tmp_path / "sel.xml"
        Table({"row": [1, 2]}).write(votable, format="votable")
        names = broadcast_selection(votable, name="my selection")
        assert receiver.received.wait(20)
    finally:
        receiver.client.disconnect()
    assert names == "test-receiver"
    (message,) = receiver.messages
    assert message["mtype"] == MTYPE and message["name"] == "my selection"
    local = urllib.request.url2pathname(urllib.parse.urlparse(message["url"]).path)
    assert Table.read(local, format="votable")["row"].tolist() == [1, 2]


def test_no_hub_and_no_receiver_are_clear_messages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hub: Path
) -> None:
    votable = tmp_path / "sel.xml"
    Table({"row": [1]}).write(votable, format="votable")
    with pytest.raises(SampError, match="no client loads VOTables"):
        broadcast_selection(votable, name="x")
    monkeypatch.setenv("SAMP_HUB", f"std-lockurl:{(tmp_path / 'absent.lock').as_uri()}")
    with pytest.raises(SampError, match="No SAMP hub is running: start TOPCAT or Aladin"):
        broadcast_selection(votable, name="x")


def test_export_view_sends_the_selection(hub: Path, survey_dir: Path, catalog: pd.DataFrame) -> None:
    state = DashboardState(catalog=catalog)
    view = ExportView(state=state, survey_dir=survey_dir)
    assert view._samp.disabled  # nothing selected yet
    state.apply_expression("true_population == 'giant'")
    receiver = Receiver()
    try:
        assert view.send_samp()
        assert receiver.received.wait(20)
    finally:
        receiver.client.disconnect()
    # The receiver's name comes from the hub: shown escaped, as text.
    assert view._message.alert_type == "success"
    assert escape_markdown("test-receiver") in view._message.object
    local = urllib.request.url2pathname(urllib.parse.urlparse(receiver.messages[0]["url"]).path)
    table = Table.read(local, format="votable")
    assert len(table) == state.n_selected and table["phot_g_mean_mag"].unit == "mag"
