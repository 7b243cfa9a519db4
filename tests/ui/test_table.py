"""Clicking a row of the selected-stars table focuses that star: the star card shows its KIC id."""

from __future__ import annotations

import re
import urllib.parse

import pytest
from playwright.sync_api import Page, expect

from dashboard.views.table_view import number_formatter
from tests.ui.waits import wait_for_parts, wait_until_cells_stay

N_STARS = 3000


@pytest.mark.ui
def test_scrolling_the_table_into_view_keeps_its_cells(page: Page, app_url: str) -> None:
    """The table keeps its cells when it scrolls into view.

    Tabulator's own visibility observer redrew the whole table, every cell replaced, each time it
    scrolled into view; a click landing in that redraw (Playwright scrolls, then clicks; a person
    on a loaded machine) was lost (dashboard/views/table_view.py, ``CLICKABLE_TABLE``).
    """
    page.set_viewport_size({"width": 1600, "height": 600})  # the table (~1,100 px down) off screen
    page.goto(app_url + "?expression=" + urllib.parse.quote("row in [42, 7, 1234]"), timeout=90_000)
    rows = page.locator(".selected-table .tabulator-row")
    expect(rows).to_have_count(3, timeout=60_000)
    wait_for_parts(page)
    cell = rows.nth(1).locator("[tabulator-field='row']")
    # The page's layout settles after its parts arrive: wait until the table sits below the fold.
    below_fold = "el => { scrollTo(0, 0); return el.getBoundingClientRect().top >= innerHeight; }"
    for _ in range(60):
        if cell.evaluate(below_fold):
            break
        page.wait_for_timeout(500)
    else:
        raise AssertionError("the table must start below the fold")
    wait_until_cells_stay(page, cell)
    cell.evaluate("el => { el.dataset.desaMark = 'kept' }")
    cell.scroll_into_view_if_needed()
    page.wait_for_timeout(1000)
    kept = cell.evaluate("el => el.dataset.desaMark")
    assert kept == "kept", "scrolling the table into view replaced its cells"


@pytest.mark.ui
def test_table_numbers_are_shown_to_their_columns_precision(page: Page, app_url: str) -> None:
    """Magnitudes to the mmag, temperatures to the kelvin, a missing number as "-" (table_view.py)."""
    page.goto(app_url + "?expression=" + urllib.parse.quote("row in [42, 7, 1234]"), timeout=90_000)
    rows = page.locator(".selected-table .tabulator-row")
    expect(rows).to_have_count(3, timeout=60_000)
    expect(rows.nth(0).locator("[tabulator-field='abs_g_mag']")).to_have_text(re.compile(r"^-?\d+\.\d{3}$"))
    expect(rows.nth(0).locator("[tabulator-field='pred_teff_k']")).to_have_text(re.compile(r"^\d{4,5}$"))
    # The served formatter's own code, compiled in the page as Panel compiles it.
    shown = page.evaluate(
        "() => { const f = (" + number_formatter("abs_g_mag").js_code + ");"
        " return [NaN, null, undefined, 1.23456, 5781.6].map(v => f({getValue: () => v})); }"
    )
    assert shown == ["-", "-", "-", "1.235", "5781.600"], shown


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
    # Panel redraws the table once after building it, every cell replaced: scrolling to a cell
    # that is being replaced fails ("not attached to the DOM", 2 of 5 runs of this file).
    wait_until_cells_stay(page, cell)
    cell.scroll_into_view_if_needed()
    wait_until_cells_stay(page, cell)
    cell.click()
    # The synthetic KIC id is 1,000,000 + row.
    expect(page.locator(".star-card").first).to_contain_text("KIC 1000042", timeout=30_000)
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
