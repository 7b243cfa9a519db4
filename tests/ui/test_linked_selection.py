"""A box drawn on the UMAP selects stars in every view: count, expression and CMD overlay change."""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import Locator, Page, expect

#: The README's picture of this page (in the ``screenshot_dir`` fixture's folder: docs/ with
#: ``make screenshots``).
SCREENSHOT = "screenshot.png"


def _selected_pixels(canvas: Locator) -> int:
    """Pixels of the canvas drawn in the selection colour (magenta #e6007e, blended on white)."""
    rgb = np.asarray(Image.open(io.BytesIO(canvas.screenshot())).convert("RGB")).astype(int)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    return int(np.count_nonzero((r > 180) & (g < 110) & (b > 70) & (b < 210) & (r - b > 40)))


def _wait_for_selected_pixels(page: Page, canvas: Locator, more_than: int, timeout_ms: int = 30_000) -> int:
    """Poll (no fixed sleep) until the canvas shows selected stars; return their pixel count."""
    pixels = 0
    for _ in range(timeout_ms // 250):
        pixels = _selected_pixels(canvas)
        if pixels > more_than:
            break
        page.wait_for_timeout(250)
    return pixels


@pytest.mark.ui
def test_box_on_umap_selects_in_all_views(page: Page, app_url: str, screenshot_dir: Path) -> None:
    page.goto(app_url)
    expect(page.get_by_text("DESA stellar embedding explorer").first).to_be_visible(timeout=60_000)
    canvases = page.locator(".bk-Canvas")
    expect(canvases).to_have_count(4, timeout=60_000)  # UMAP, CMD, HRD
    count = page.get_by_text(re.compile(r"^Selected: \d+ / \d+$"))
    expect(count).to_have_text("Selected: 0 / 3000", timeout=60_000)
    umap, cmd, hrd = canvases.nth(0), canvases.nth(1), canvases.nth(2)
    expect(umap).to_be_visible()
    # A few anti-aliased pixels of the toolbar logo and the orange/vermillion stars pass the
    # colour test; the selection adds hundreds.
    before = {name: _selected_pixels(c) for name, c in (("CMD", cmd), ("HR diagram", hrd), ("UMAP", umap))}

    # box_select is the active drag tool of every view (plots.scatter_view), so a drag selects.
    box = umap.bounding_box()
    assert box is not None

    def at(fx: float, fy: float) -> tuple[float, float]:
        return box["x"] + fx * box["width"], box["y"] + fy * box["height"]

    page.mouse.move(*at(0.3, 0.3))
    page.mouse.down()
    page.mouse.move(*at(0.6, 0.7), steps=15)
    page.mouse.up()

    expect(count).not_to_have_text("Selected: 0 / 3000", timeout=30_000)
    selected = int(re.search(r"Selected: (\d+)", count.inner_text()).group(1))
    assert 0 < selected < 3000, f"a box over part of the UMAP selected {selected} of 3000 stars"
    expression = page.locator(".selection-expression textarea")
    expect(expression).to_have_value(re.compile(r"box\(umap_x, umap_y, .*\)"), timeout=30_000)

    # Each view's selected layer is redrawn when its new image arrives over the websocket.
    for name, canvas in (("CMD", cmd), ("HR diagram", hrd), ("UMAP", umap)):
        pixels = _wait_for_selected_pixels(page, canvas, more_than=before[name] + 200)
        assert pixels > before[name] + 200, (
            f"the {name} did not draw the selected stars ({before[name]} -> {pixels} pixels)"
        )

    page.screenshot(path=str(screenshot_dir / SCREENSHOT), full_page=True)
