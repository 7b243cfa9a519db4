"""Waits shared by the browser tests: the page's deferred parts, a table that has stopped redrawing."""

from __future__ import annotations

from playwright.sync_api import Locator, Page, expect


def wait_for_parts(page: Page, timeout_ms: int = 60_000) -> None:
    """Wait until every deferred part of the page has replaced its placeholder (dashboard/deferred.py).

    A part arriving re-renders its place in the page; a click aimed at a part built just before it
    could be lost on a loaded machine (once in a full run), as a person's could while the page loads.
    """
    expect(page.locator(".deferred-placeholder")).to_have_count(0, timeout=timeout_ms)


def wait_until_cells_stay(page: Page, cell: Locator, quiet_ms: int = 400) -> None:
    """Wait until ``cell``'s element is kept for ``quiet_ms`` (the table has stopped redrawing).

    Panel redraws a table once after building it, replacing every cell; Chrome sends no click
    when the cell under a button press is replaced before its release.
    """
    for _ in range(100):
        cell.evaluate("el => { el.dataset.desaMark = '1' }")
        page.wait_for_timeout(quiet_ms)
        if cell.evaluate("el => el.dataset.desaMark === '1'"):
            return
    raise AssertionError("the table kept redrawing its cells")
