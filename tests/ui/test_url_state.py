"""A shared link restores the selection: typed expression -> URL -> a fresh page with the same count."""

from __future__ import annotations

import re
import urllib.parse

import pytest
from playwright.sync_api import Browser, Page, expect

from benchmarks import fixtures

N_STARS = 3000


def expected_count(population: str) -> int:
    """How many stars of the served synthetic survey (seed 0) belong to ``population``."""
    _cat, truth = fixtures.synthetic_catalog(N_STARS, seed=0)
    return int((truth["population"] == population).sum())


@pytest.mark.ui
def test_typed_expression_goes_into_the_url_and_a_fresh_page_restores_it(
    page: Page, browser: Browser, app_url: str
) -> None:
    page.goto(app_url, timeout=90_000)
    count = page.locator(".selected-count")
    expect(count).to_have_text(f"Selected: 0 / {N_STARS}", timeout=60_000)
    entries = page.evaluate("() => history.length")
    giants = expected_count("giant")
    box = page.locator(".selection-expression textarea")
    box.fill("true_population == 'giant' and binary_prob >= 0")
    page.locator(".apply-expression button").click()
    expect(count).to_have_text(f"Selected: {giants} / {N_STARS}", timeout=30_000)
    expect(page).to_have_url(re.compile(r"expression=true_population"), timeout=30_000)
    shared = page.url
    params = dict(urllib.parse.parse_qsl(urllib.parse.urlparse(shared).query))
    assert params["expression"] == "true_population == 'giant' and binary_prob >= 0"
    # The address was replaced, not pushed: Back leaves the explorer instead of changing the
    # address under an unchanged page (dashboard/urlstate.py, UrlWriter).
    assert page.evaluate("() => history.length") == entries

    fresh = browser.new_page()
    try:
        fresh.goto(shared, timeout=90_000)
        expect(fresh.locator(".selected-count")).to_have_text(
            f"Selected: {giants} / {N_STARS}", timeout=60_000
        )
        expect(fresh.locator(".selection-expression textarea")).to_have_value(params["expression"])
    finally:
        fresh.close()


@pytest.mark.ui
def test_a_bad_expression_shows_an_alert_and_keeps_the_page(page: Page, app_url: str) -> None:
    page.goto(app_url + "?expression=" + urllib.parse.quote("binary_pro > 0.9"), timeout=90_000)
    expect(page.get_by_text(re.compile(r"did you mean 'binary_prob'")).first).to_be_visible(timeout=60_000)
    expect(page.locator(".selected-count")).to_have_text(f"Selected: 0 / {N_STARS}", timeout=30_000)
