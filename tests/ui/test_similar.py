"""Find similar: the neighbours' table lists rows and star ids as such, and a click focuses one."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.ui.waits import wait_for_parts, wait_until_cells_stay


@pytest.mark.ui
def test_find_similar_lists_neighbours_and_a_click_focuses_one(page: Page, app_url: str) -> None:
    page.goto(app_url + "?focused_row=42", timeout=90_000)
    wait_for_parts(page)
    page.locator(".find-similar button").click()
    expect(page.locator(".selection-expression textarea")).to_have_value("similar(42, 20)", timeout=30_000)
    rows = page.locator(".similar-distances .tabulator-row")
    expect(rows).to_have_count(10, timeout=30_000)  # the first page of 20
    # Each neighbour's row as an integer, its star id and its distance to two decimals.
    for i in (0, 9):
        row = rows.nth(i).locator("[tabulator-field='row']").inner_text()
        assert re.fullmatch(r"\d+", row), f"a row number shown as {row!r}"
        expect(rows.nth(i).locator("[tabulator-field='star']")).to_have_text(f"KIC {1_000_000 + int(row)}")
        expect(rows.nth(i).locator("[tabulator-field='distance']")).to_have_text(re.compile(r"^\d+\.\d\d$"))
    cell = rows.nth(3).locator("[tabulator-field='row']")
    row = cell.inner_text()
    cell.scroll_into_view_if_needed()
    wait_until_cells_stay(page, cell)
    cell.click()
    expect(page.locator(".star-card").first).to_contain_text(f"KIC {1_000_000 + int(row)}", timeout=30_000)
