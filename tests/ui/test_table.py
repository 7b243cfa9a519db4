"""Clicking a row of the selected-stars table focuses that star: the star card shows its KIC id."""

from __future__ import annotations

import re
import urllib.parse

import pytest
from playwright.sync_api import Page, expect

from dashboard.views.table_view import CELL_TEXT_JS, StarRows
from tests.ui.waits import wait_for_parts, wait_until_cells_stay

N_STARS = 3000


@pytest.mark.ui
def test_scrolling_the_table_into_view_keeps_its_cells(page: Page, app_url: str) -> None:
    """The table keeps its cells when it scrolls into view.

    Tabulator (the table before ``StarRows``) redrew every cell each time it scrolled into view; a
    click landing in that redraw (Playwright scrolls, then clicks; a person on a loaded machine)
    was lost. A row is redrawn only when the page of rows changes.
    """
    page.set_viewport_size({"width": 1600, "height": 600})  # the table (~1,100 px down) off screen
    page.goto(app_url + "?expression=" + urllib.parse.quote("row in [42, 7, 1234]"), timeout=90_000)
    rows = page.locator(".selected-table .desa-table-frozen tbody tr")
    expect(rows).to_have_count(3, timeout=60_000)
    wait_for_parts(page)
    cell = rows.nth(1).locator("td[data-field='row']")
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
    rows = page.locator(".selected-table .desa-table-frozen tbody tr")
    expect(rows).to_have_count(3, timeout=60_000)
    fields = ("abs_g_mag", "pred_teff_k")
    first = {f: page.locator(f".selected-table td[data-field='{f}']").first for f in fields}
    expect(first["abs_g_mag"]).to_have_text(re.compile(r"^-?\d+\.\d{3}$"))
    expect(first["pred_teff_k"]).to_have_text(re.compile(r"^\d{4,5}$"))
    # The served cell text's own code, run in the page.
    shown = page.evaluate(
        "() => { const f = (" + CELL_TEXT_JS + ");"
        " return [NaN, null, undefined, 1.23456, 5781.6].map(v => f(v, 3))"
        "   .concat([f('<b>x</b>', null), f(null, null), f(12, 0)]); }"
    )
    assert shown == ["-", "-", "-", "1.235", "5781.600", "<b>x</b>", "", "12"], shown


@pytest.mark.ui
def test_table_row_click_opens_the_star_card(page: Page, app_url: str) -> None:
    page.goto(app_url + "?expression=" + urllib.parse.quote("row in [42, 7, 1234]"), timeout=90_000)
    expect(page.locator(".selected-count")).to_have_text(f"Selected: 3 / {N_STARS}", timeout=60_000)
    rows = page.locator(".selected-table .desa-table-frozen tbody tr")
    expect(rows).to_have_count(3, timeout=30_000)
    expect(rows.nth(1)).to_contain_text("42")
    wait_for_parts(page)
    # Rows are in catalogue order: 7, 42, 1234. Click the row's first (frozen) cell, as a person
    # would (the row is ~4,300 px wide; its centre is off screen).
    cell = rows.nth(1).locator("td[data-field='row']")
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
    rows = page.locator(".selected-table .desa-table-frozen tbody tr")
    expect(rows).to_have_count(25, timeout=30_000)  # one page on show
    expect(page.locator(".table-range")).to_contain_text("stars 1–25 of 100")
    page.locator(".table-next button").click()
    expect(rows.first).to_contain_text("25", timeout=30_000)
    expect(page.locator(".table-range")).to_contain_text("stars 26–50 of 100")
    # Two clicks on the "row" header sort descending: the whole selection, not the page on show.
    header = page.locator(".selected-table th[data-field='row']")
    header.click()
    expect(page.locator(".table-range")).to_contain_text("stars 1–25 of 100", timeout=30_000)
    header.click()
    expect(rows.first.locator("td[data-field='row']")).to_have_text("99", timeout=30_000)
    expect(rows.nth(24).locator("td[data-field='row']")).to_have_text("75")


@pytest.mark.ui
def test_table_cells_show_catalogue_text_literally(page: Page) -> None:
    """The table's own script, given HTML in every kind of cell, adds no element of it (issue 16).

    Cells are set as text: a catalogue value (a population name, an id read from a user's file) or
    a column title cannot become markup. The render function runs here on a stand-in model.
    """
    payload = '<img src=x onerror="window.__pwned=1">'
    columns = [
        {"field": "row", "title": "row", "width": 80, "decimals": None},
        {"field": "x", "title": payload, "width": 90, "decimals": 3},
        {"field": "pop", "title": "population", "width": 200, "decimals": None},
    ]
    values = [[1, 2], [1.23456, None], [payload, "<b>young</b>"]]
    module = StarRows._esm.replace("export function render", "function render")
    page.set_content("<html><body><div id='host'></div></body></html>")
    shown = page.evaluate(
        "([columns, values]) => {"
        + module
        + """
          const sent = [];
          const model = { columns, values, sorters: [], on: () => {}, send_msg: (m) => sent.push(m) };
          const el = render({ model });
          document.getElementById("host").append(el);
          el.querySelectorAll("tbody tr")[1].click();
          el.querySelector("th[data-field='x']").click();
          return {
            images: document.querySelectorAll("img, b").length,
            cells: [...el.querySelectorAll("td")].map((td) => td.textContent),
            titles: [...el.querySelectorAll("th")].map((th) => th.textContent),
            sent,
          };
        }""",
        [columns, values],
    )
    page.wait_for_timeout(200)
    assert shown["images"] == 0 and not page.evaluate("() => window.__pwned"), shown
    assert shown["cells"] == ["1", "2", "1.235", payload, "-", "<b>young</b>"], shown  # by table, by row
    assert shown["titles"] == ["row", payload, "population"], shown
    assert shown["sent"] == [{"click": 1}, {"sort": "x", "add": False}], shown
