"""The CMD opens dereddened (GSP-Phot); the sidebar switch redraws it in observed photometry."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import Locator, Page, expect

#: Axis labels of the axes reachable from the page's Bokeh roots (labels are drawn on canvas).
#: A document's model registry can keep a replaced figure's models, so the walk starts at the roots.
_AXIS_LABELS_JS = """() => {
    const labels = [];
    const seen = new Set();
    const walk = (value) => {
        if (value === null || typeof value !== "object" || ArrayBuffer.isView(value)) return;
        if (Array.isArray(value)) { value.forEach(walk); return; }
        if (value instanceof Map) { value.forEach(walk); return; }
        if (value.attributes !== undefined && value.id !== undefined) {
            if (seen.has(value.id)) return;
            seen.add(value.id);
            if (typeof value.axis_label === "string") labels.push(value.axis_label);
            Object.values(value.attributes).forEach(walk);
            return;
        }
        Object.values(value).forEach(walk);
    };
    for (const doc of Bokeh.documents) doc.roots().forEach(walk);
    return labels;
}"""


def _axis_labels(page: Page) -> list[str]:
    return page.evaluate(_AXIS_LABELS_JS)


def _pixels(canvas: Locator) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(canvas.screenshot())).convert("L"), dtype=np.int16)


def _drag_box(page: Page, canvas: Locator) -> None:
    """A box over the middle of a plot (box select is every view's active drag tool)."""
    box = canvas.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + 0.35 * box["width"], box["y"] + 0.35 * box["height"])
    page.mouse.down()
    page.mouse.move(box["x"] + 0.55 * box["width"], box["y"] + 0.6 * box["height"], steps=15)
    page.mouse.up()


@pytest.mark.ui
def test_switching_the_cmd_to_observed_changes_axes_data_note_url_and_selections(
    page: Page, app_url: str
) -> None:
    page.goto(app_url, timeout=90_000)
    canvases = page.locator(".bk-Canvas")
    expect(canvases).to_have_count(4, timeout=60_000)
    cmd = canvases.nth(1)
    note = page.locator(".cmd-note")
    expect(note).to_contain_text("Dereddened with each star's Gaia GSP-Phot", timeout=60_000)
    expect(note).to_contain_text("stars without GSP-Phot values are not shown")
    labels = _axis_labels(page)
    assert "(BP − RP)₀ [mag]" in labels and "M_G,0 [mag]" in labels, labels
    expression = page.locator(".selection-expression textarea")
    _drag_box(page, cmd)
    expect(expression).to_have_value(re.compile(r"^box\(bp_rp0_mag, abs_g0_mag, "), timeout=30_000)
    page.locator(".bk-btn", has_text="Clear selection").click()
    expect(expression).to_have_value("", timeout=30_000)
    dereddened = _pixels(cmd)

    page.locator(".cmd-photometry .bk-btn", has_text="observed").click()

    expect(note).to_contain_text("Observed (reddened) photometry", timeout=30_000)
    expect(page).to_have_url(re.compile(r"[?&]cmd=observed"), timeout=30_000)
    for _ in range(120):  # the new figure arrives over the websocket
        labels = _axis_labels(page)
        if "M_G [mag]" in labels and "M_G,0 [mag]" not in labels:
            break
        page.wait_for_timeout(250)
    assert "BP − RP [mag]" in labels and "M_G [mag]" in labels, labels
    assert "M_G,0 [mag]" not in labels, labels
    cmd = page.locator(".bk-Canvas").nth(1)
    changed = 0
    for _ in range(120):  # stars drawn where the observed photometry puts them
        after = _pixels(cmd)
        changed = (
            int(np.count_nonzero(np.abs(after - dereddened) > 40)) if after.shape == dereddened.shape else -1
        )
        if changed > 500 or changed < 0:
            break
        page.wait_for_timeout(250)
    assert changed > 500 or changed < 0, f"the CMD image barely changed ({changed} pixels)"
    _drag_box(page, cmd)
    expect(expression).to_have_value(re.compile(r"^box\(bp_rp_mag, abs_g_mag, "), timeout=30_000)
