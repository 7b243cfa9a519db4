"""Clicking a star on the UMAP opens its star card; hovering a star once zoomed in shows its id.

The card has light-curve and spectrum plots; the hover tooltip shows the star's predictions too.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from benchmarks import fixtures

from .conftest import N_STARS

#: The README's picture of this page (in the ``screenshot_dir`` fixture's folder: docs/ with
#: ``make screenshots``).
SCREENSHOT = "screenshot-star-card.png"

#: Screen position of data point (x, y) in the Bokeh figure titled ``title`` (through its scales).
SCREEN_POSITION_JS = """([title, x, y]) => {
  const seen = new Set();
  let found = null;
  const walk = (view) => {
    if (!view || seen.has(view) || found) return;
    seen.add(view);
    if (view.model.type === "Figure" && view.model.title?.text === title) { found = view; return; }
    for (const child of view.child_views ?? []) walk(child);
  };
  for (const root of Object.values(Bokeh.index)) walk(root);
  if (!found) return null;
  const rect = found.canvas_view.el.getBoundingClientRect();
  return [rect.left + found.frame.x_scale.compute(x), rect.top + found.frame.y_scale.compute(y)];
}"""


#: Titles of every Bokeh figure on the page (titles are drawn on the canvas, not in the DOM).
FIGURE_TITLES_JS = """() => {
  const seen = new Set();
  const titles = [];
  const walk = (view) => {
    if (!view || seen.has(view)) return;
    seen.add(view);
    if (view.model.type === "Figure") titles.push(view.model.title?.text ?? "");
    for (const child of view.child_views ?? []) walk(child);
  };
  for (const root of Object.values(Bokeh.index)) walk(root);
  return titles;
}"""


#: Model id of every Bokeh figure on the page, by title.
FIGURE_IDS_JS = """() => {
  const seen = new Set();
  const ids = {};
  const walk = (view) => {
    if (!view || seen.has(view)) return;
    seen.add(view);
    if (view.model.type === "Figure") ids[view.model.title?.text ?? ""] = view.model.id;
    for (const child of view.child_views ?? []) walk(child);
  };
  for (const root of Object.values(Bokeh.index)) walk(root);
  return ids;
}"""


def figure_titles(page: Page) -> list[str]:
    return page.evaluate(FIGURE_TITLES_JS)


def wait_for_title(page: Page, pattern: str, timeout_ms: int = 30_000) -> str:
    """Poll (no fixed sleep) until a figure title matches ``pattern``; return it."""
    for _ in range(timeout_ms // 250):
        matches = [t for t in figure_titles(page) if re.search(pattern, t)]
        if matches:
            return matches[0]
        page.wait_for_timeout(250)
    raise AssertionError(f"no figure title matches {pattern!r}; titles: {figure_titles(page)}")


def click_data_point(page: Page, title: str, x: float, y: float) -> None:
    """Click the screen position of data point ``(x, y)`` in the figure titled ``title``."""
    position = page.evaluate(SCREEN_POSITION_JS, [title, x, y])
    assert position is not None, f"no Bokeh figure titled {title!r} on the page"
    page.mouse.click(*position)


@pytest.mark.ui
def test_click_on_umap_shows_the_star_card(page: Page, app_url: str, screenshot_dir: Path) -> None:
    page.set_viewport_size({"width": 1600, "height": 2000})
    page.goto(app_url)
    canvases = page.locator(".bk-Canvas")
    expect(canvases).to_have_count(4, timeout=60_000)  # no card plots before a star is chosen
    card = page.locator(".star-card").first
    expect(card).to_contain_text("Click a star", timeout=60_000)

    # The "single" blob of the synthetic UMAP is centred on (0, 0): hundreds of stars lie within
    # the click radius of its centre.
    click_data_point(page, "UMAP of DESA embeddings", 0.0, 0.0)

    expect(card).to_contain_text(re.compile(r"KIC 1\d{6} · row \d+"), timeout=30_000)
    expect(page.locator(".star-lightcurve .bk-Canvas")).to_have_count(2, timeout=30_000)
    expect(page.locator(".star-spectrum .bk-Canvas")).to_have_count(4, timeout=30_000)
    for locator in (page.locator(".star-lightcurve .bk-Canvas"), page.locator(".star-spectrum .bk-Canvas")):
        expect(locator.first).to_be_visible()
    titles = figure_titles(page)
    assert {"Light curve", "Spectrum (rest frame)", "Li I 6708", "H-alpha 6563", "Ca II triplet"} <= set(
        titles
    )
    wait_for_title(page, r"^Folded at (predicted P_rot|P_orb) = [\d.]+ d")
    expect(card).to_contain_text("68 % interval")
    # Markdown renders in a shadow root: get_by_text pierces it, inner_text of the card does not.
    header = page.get_by_text(re.compile(r"KIC \d+ · row \d+")).first
    first = re.search(r"KIC (\d+)", header.inner_text()).group(1)
    figures = page.evaluate(FIGURE_IDS_JS)

    # A second click elsewhere (the sync-binary blob at (-4, 3.5)) switches the card to that star.
    click_data_point(page, "UMAP of DESA embeddings", -4.0, 3.5)
    expect(card).not_to_contain_text(f"KIC {first}", timeout=30_000)
    wait_for_title(page, r"^Folded at P_orb = [\d.]+ d \(truth\)$")  # binaries fold at the true orbit
    # The same figures show the new star: its data was sent, not new plots.
    after = page.evaluate(FIGURE_IDS_JS)
    for title in ("Light curve", "Spectrum (rest frame)", "Li I 6708", "H-alpha 6563", "Ca II triplet"):
        assert after[title] == figures[title], f"figure {title!r} was rebuilt for the second star"
    expect(page.locator(".star-lightcurve .bk-Canvas")).to_have_count(2)

    # Beside the views, yet a Bokeh root of its own: a card that grows relays out its own root
    # only, not the four views (dashboard/app.py, BESIDE_CSS).
    roots = page.evaluate(BESIDE_JS)
    assert roots["views_root"] != roots["side_root"]
    assert roots["side"]["left"] >= roots["views"]["right"] - 1, roots
    assert abs(roots["side"]["top"] - roots["views"]["top"]) < 40, roots

    # The card's column beside the views (queue and label buttons above the card).
    page.locator(".side-panel").first.screenshot(path=str(screenshot_dir / SCREENSHOT))


#: Where the views and the side panel are, and which Bokeh root holds each.
BESIDE_JS = """() => {
  const views = document.querySelector('.desa-views'), side = document.querySelector('.desa-side');
  const box = (el) => {
    const r = el.getBoundingClientRect();
    return {left: r.left, right: r.right, top: r.top};
  };
  const root = (el) => el.closest('[data-root-id]').dataset.rootId;
  return {views: box(views), side: box(side), views_root: root(views), side_root: root(side)};
}"""


@pytest.mark.ui
def test_hover_shows_star_id_and_predictions_once_zoomed_in(page: Page, app_url: str) -> None:
    cat, _ = fixtures.synthetic_catalog(N_STARS, seed=0)
    page.goto(app_url)
    expect(page.locator(".bk-Canvas")).to_have_count(4, timeout=60_000)
    expect(page.locator(".selected-count")).to_have_text(f"Selected: 0 / {N_STARS}", timeout=60_000)
    title = "UMAP of DESA embeddings"
    # Zoom with the wheel (active by default) into the giant blob at (7, -2) until few stars show.
    page.mouse.move(*page.evaluate(SCREEN_POSITION_JS, [title, 7.0, -2.0]))
    for _ in range(3):
        page.mouse.wheel(0, -300)
        page.wait_for_timeout(300)
    star = ((cat["umap_x"] - 7.0) ** 2 + (cat["umap_y"] + 2.0) ** 2).idxmin()
    kic = int(cat.loc[star, "kic_id"])
    tooltip = page.get_by_text(f"KIC {kic}", exact=True)
    for _ in range(60):  # the hover layer arrives after the zoom; poll, moving onto the star
        x, y = page.evaluate(
            SCREEN_POSITION_JS, [title, float(cat.loc[star, "umap_x"]), float(cat.loc[star, "umap_y"])]
        )
        page.mouse.move(x + 3, y + 3)
        page.mouse.move(x, y)
        if tooltip.count():
            break
        page.wait_for_timeout(500)
    expect(tooltip.first).to_be_visible()
    expect(page.get_by_text("true population:").first).to_be_visible()
