"""SAMP from the browser: the page talks to a Web Profile hub both ways (issue 18, item 5).

The page registers with the hub, broadcasts the selection, and a ``table.select.rowList`` from the
hub selects those rows in the page.

The hub is astropy's, with the Web Profile on its standard port and a consent dialog that accepts;
a second, standard-profile client stands in for TOPCAT.
"""

from __future__ import annotations

import io
import queue
import re
import threading
import time
import urllib.request
from collections.abc import Iterator

import pytest
from astropy.io.votable import parse_single_table
from playwright.sync_api import Page, expect
from pyvo.samp import SAMPHubServer, SAMPIntegratedClient

from .conftest import N_STARS


class _Accept:
    """A Web Profile consent dialog that accepts every page (the hub sets the two queues)."""

    queue_request: queue.Queue
    queue_result: queue.Queue

    def __init__(self) -> None:
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                self.queue_request.get(timeout=0.2)
            except queue.Empty:
                continue
            self.queue_result.put(True)


@pytest.fixture
def hub(tmp_path) -> Iterator[tuple[SAMPHubServer, SAMPIntegratedClient, list]]:
    dialog = _Accept()
    hub = SAMPHubServer(web_profile=True, web_profile_dialog=dialog, lockfile=str(tmp_path / "samp.lock"))
    hub.start()
    thread = threading.Thread(target=dialog.run, daemon=True)
    thread.start()
    received: list[dict] = []
    topcat = SAMPIntegratedClient(name="stand-in TOPCAT")
    topcat.connect(hub=hub)
    topcat.bind_receive_notification(
        "table.load.votable",
        lambda _key, sender, _mtype, params, _extra: received.append({"sender": sender, **params}),
    )
    try:
        yield hub, topcat, received
    finally:
        dialog.stop.set()
        topcat.disconnect()
        hub.stop()


def _wait(condition, timeout_s: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.25)
    return False


@pytest.mark.ui
def test_web_profile_broadcast_and_row_list_back(page: Page, app_url: str, hub) -> None:
    _hub, topcat, received = hub
    page.goto(app_url)
    expect(page.locator(".bk-Canvas")).to_have_count(4, timeout=60_000)
    page.locator(".selection-expression textarea").fill("binary_prob > 0.9")
    page.locator(".apply-expression button").click()
    count = page.get_by_text(re.compile(r"^Selected: \d+ / \d+$"))
    expect(count).not_to_have_text(f"Selected: 0 / {N_STARS}", timeout=30_000)
    selected = int(re.search(r"Selected: (\d+)", count.inner_text()).group(1))

    page.locator(".samp-web-send button").click()
    assert _wait(lambda: received), "the hub's other client got no table.load.votable"
    table = received[0]
    with urllib.request.urlopen(table["url"], timeout=30) as response:
        votable = parse_single_table(io.BytesIO(response.read())).to_table()
    assert len(votable) == selected

    # The stand-in TOPCAT selects rows 0, 2 and 5 of that table: the page selects those stars.
    web_client = table["sender"]
    rows = [int(r) for r in votable["row"][[0, 2, 5]]]
    topcat.notify(
        web_client,
        {
            "samp.mtype": "table.select.rowList",
            "samp.params": {"table-id": table["table-id"], "url": table["url"], "row-list": ["0", "2", "5"]},
        },
    )
    expect(count).to_have_text(f"Selected: 3 / {N_STARS}", timeout=30_000)
    expression = page.locator(".selection-expression textarea")
    expect(expression).to_have_value(f"row in [{', '.join(map(str, sorted(rows)))}]", timeout=30_000)
