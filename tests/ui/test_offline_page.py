"""A served page loads nothing from other hosts and makes the server log no warnings.

An observatory server is often offline, and a request to a third party (a web font, a CDN)
tells it who opened the page; Bokeh's validation warnings in the log hide the ones that matter.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, expect


@pytest.mark.ui
def test_the_page_loads_only_from_its_own_server_and_logs_no_warnings(
    page: Page, app_url: str, app_log: Path
) -> None:
    own = urlsplit(app_url).netloc
    elsewhere: list[str] = []
    page.on(
        "request",
        lambda request: (
            elsewhere.append(request.url)
            if urlsplit(request.url).scheme in ("http", "https", "ws", "wss")
            and urlsplit(request.url).netloc != own
            else None
        ),
    )
    page.goto(app_url, timeout=90_000)
    expect(page.locator(".bk-Canvas")).to_have_count(4, timeout=60_000)
    page.wait_for_timeout(2_000)
    assert elsewhere == [], f"the page fetched from other hosts: {elsewhere}"
    logged = app_log.read_text(encoding="utf-8", errors="replace")
    warnings = re.findall(r"^.*\b(?:W-\d{4}|WARNING|ERROR)\b.*$", logged, flags=re.MULTILINE)
    assert warnings == [], "\n".join(warnings[:5])
