"""Hostile links and typed text show as text: no element of theirs reaches the page (issue 16).

Every URL parameter the app reads (dashboard/urlstate.py ``KEYS``) carries an HTML or script
payload; Chromium then must have run none of it (``window.__pwned`` unset), hold none of its
elements anywhere in the DOM, shadow roots included (Panel and Bokeh render into them), show the
payload literally in the warning, and still draw the plots. A link with values Panel's own query
parser fails on (``int("²")``) must open the page too.
"""

from __future__ import annotations

import urllib.parse

import pytest
from playwright.sync_api import Page, expect

from dashboard.urlstate import KEYS

from .test_star_card import wait_for_title

PAYLOADS = (
    '<img src=x onerror="window.__pwned=1">',
    "<script>window.__pwned=1</script>",
    '"><svg onload=window.__pwned=1>',
    '"><svg onload="window.__pwned=1">',  # quoted: valid inline HTML for Markdown, unlike the above
)

#: Elements a payload could have added: an ``on*`` handler, an executable script or an image/svg
#: that mentions the marker. Walks the document and every open shadow root.
INJECTED_JS = """() => {
  const found = [];
  const walk = (root) => {
    for (const el of root.querySelectorAll("*")) {
      const tag = el.tagName.toLowerCase();
      const handler = [...el.attributes].some((a) => a.name.startsWith("on") && a.value.includes("pwned"));
      const script = tag === "script" && !/json/.test(el.type) && el.textContent.includes("pwned");
      const media = ["img", "svg", "image"].includes(tag)
        && (el.outerHTML.includes("pwned") || el.getAttribute("src") === "x");
      if (handler || script || media) found.push(el.outerHTML.slice(0, 200));
      if (el.shadowRoot) walk(el.shadowRoot);
    }
  };
  walk(document);
  return found;
}"""

#: All text of the page, shadow roots included (what a reader can see, markup aside).
PAGE_TEXT_JS = """() => {
  const parts = [];
  const walk = (root) => {
    for (const el of root.querySelectorAll("*")) {
      if (el.shadowRoot) { parts.push(el.shadowRoot.textContent); walk(el.shadowRoot); }
    }
  };
  parts.push(document.body.textContent);
  walk(document);
  return parts.join("\\n");
}"""


def assert_nothing_injected(page: Page, payload: str) -> None:
    page.wait_for_timeout(1_000)  # an <img onerror> fires within milliseconds of insertion
    assert page.evaluate("() => window.__pwned") is None, "a payload ran in the page"
    assert page.evaluate(INJECTED_JS) == [], "a payload's element is in the DOM"
    assert payload in page.evaluate(PAGE_TEXT_JS), "the payload is not shown as text"


def assert_plots_drawn(page: Page) -> None:
    # The views arrive after the page, one at a time (dashboard/deferred.py).
    wait_for_title(page, r"^UMAP of DESA embeddings$", 60_000)
    wait_for_title(page, r"^Gaia CMD", 60_000)


@pytest.mark.ui
@pytest.mark.parametrize("payload", PAYLOADS)
def test_a_payload_in_every_url_parameter_shows_as_text(page: Page, app_url: str, payload: str) -> None:
    assert set(KEYS) == {"expression", "color_by", "focused_row", "cmd", "subset"}, (
        "new parameter: add it here"
    )
    # A named subset's name and expression too (``subset`` repeats: name:expression).
    pairs = [*dict.fromkeys(KEYS, payload).items(), ("subset", f"{payload}:{payload}")]
    query = urllib.parse.urlencode(pairs, quote_via=urllib.parse.quote)
    page.goto(f"{app_url}?{query}", timeout=90_000)
    warning = page.locator(".url-problems")
    expect(warning).to_contain_text("is not a column to colour by", timeout=60_000)
    expect(warning).to_contain_text("is not a row of this catalogue")
    expect(warning).to_contain_text("expression in the link not applied")
    expect(warning).to_contain_text("is not available here")
    expect(warning).to_contain_text("not restored")
    assert_plots_drawn(page)
    assert_nothing_injected(page, payload)


@pytest.mark.ui
def test_a_payload_typed_as_an_expression_shows_as_text(page: Page, app_url: str) -> None:
    page.goto(app_url, timeout=90_000)
    assert_plots_drawn(page)
    payload = PAYLOADS[0]
    page.locator(".selection-expression textarea").fill(f"true_population == '{payload}'")
    page.locator(".apply-expression button").click()
    expect(page.locator(".selection-error")).to_contain_text("has no label", timeout=30_000)
    assert_nothing_injected(page, payload)


@pytest.mark.ui
def test_a_link_panel_cannot_parse_still_opens_the_page(page: Page, app_url: str) -> None:
    query = urllib.parse.urlencode({"focused_row": "\u00b2", "other": "9" * 5000})
    page.goto(f"{app_url}?{query}", timeout=90_000)
    expect(page.locator(".url-problems")).to_contain_text("focused_row='\u00b2' is not a row", timeout=60_000)
    assert_plots_drawn(page)
