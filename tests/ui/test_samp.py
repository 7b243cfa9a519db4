"""Clicking "Send to TOPCAT/Aladin (SAMP)" delivers the selection to a client of a local hub."""

from __future__ import annotations

import threading
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from astropy.table import Table
from playwright.sync_api import Page, expect
from pyvo.samp import SAMPHubServer, SAMPIntegratedClient

from benchmarks import fixtures
from dashboard.store import load_catalog
from data.query import expression_mask

N_STARS = 3000


def served_count(tmp_path: Path, expression: str) -> int:
    """How many stars of the served synthetic survey (seed 0) ``expression`` selects."""
    fixtures.write_synthetic_survey(tmp_path / "served", n=N_STARS, seed=0)
    return int(expression_mask(expression, load_catalog(tmp_path / "served")).sum())


@pytest.mark.ui
def test_samp_button_broadcasts_the_selection(
    page: Page, app_url: str, samp_lockfile: Path, tmp_path: Path
) -> None:
    page.goto(app_url + "?expression=" + urllib.parse.quote("true_population == 'giant'"), timeout=90_000)
    count = page.locator(".selected-count")
    n = served_count(tmp_path, "true_population == 'giant'")
    expect(count).to_have_text(f"Selected: {n} / {N_STARS}", timeout=60_000)
    button = page.get_by_text("Send to TOPCAT/Aladin (SAMP)")

    # No hub yet: a clear message, no crash.
    button.click()
    expect(page.get_by_text("No SAMP hub is running").first).to_be_visible(timeout=30_000)

    hub = SAMPHubServer(web_profile=False, lockfile=str(samp_lockfile), pool_size=2)
    hub.start()
    messages: list[dict[str, Any]] = []
    received = threading.Event()

    def on_message(_key: str, _sender: str, _mtype: str, params: dict, _extra: dict) -> None:
        messages.append(params)
        received.set()

    receiver = SAMPIntegratedClient(name="topcat-standin")
    try:
        receiver.connect(hub_params=_hub_params(samp_lockfile))
        receiver.bind_receive_notification("table.load.votable", on_message)
        button.click()
        expect(page.get_by_text("topcat-standin").first).to_be_visible(timeout=30_000)
        assert received.wait(30)
    finally:
        if receiver.is_connected:
            receiver.disconnect()
        hub.stop()
    local = urllib.request.url2pathname(urllib.parse.urlparse(messages[0]["url"]).path)
    table = Table.read(local, format="votable")
    assert len(table) == n and table["phot_g_mean_mag"].unit == "mag"


def _hub_params(lockfile: Path) -> dict[str, str]:
    from pyvo.samp.lockfile_helpers import read_lockfile

    return read_lockfile(str(lockfile))
