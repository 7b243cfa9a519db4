"""The "synchronized binaries vs young stars" template selects both groups in every view."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from playwright.sync_api import Page, expect

from benchmarks import fixtures
from dashboard import templates as tpl
from dashboard.store import load_catalog

from .conftest import N_STARS
from .test_linked_selection import _selected_pixels, _wait_for_selected_pixels

#: The README's picture of this page (in the ``screenshot_dir`` fixture's folder: docs/ with
#: ``make screenshots``).
SCREENSHOT = "screenshot-templates.png"


def _expected_masks(folder: Path) -> dict[str, np.ndarray]:
    """The template masks on the catalogue the served app shows (same synthetic survey and seed)."""
    fixtures.write_synthetic_survey(folder, n=N_STARS, seed=0)
    df = load_catalog(folder)
    return {name: tpl.TEMPLATES[name].mask(df) for name in tpl.PAIR}


@pytest.mark.ui
def test_template_button_selects_sync_binaries_and_young_stars_everywhere(
    page: Page, app_url: str, tmp_path: Path, screenshot_dir: Path
) -> None:
    page.set_viewport_size({"width": 1600, "height": 2400})
    page.goto(app_url)
    canvases = page.locator(".bk-Canvas")
    expect(canvases).to_have_count(4, timeout=60_000)
    count = page.locator(".selected-count")
    expect(count).to_have_text(f"Selected: 0 / {N_STARS}", timeout=60_000)
    before = [_selected_pixels(canvases.nth(i)) for i in range(3)]

    page.locator(".template-pair button").click()

    masks = _expected_masks(tmp_path / "uitest")
    expected = int((masks["sync_binary"] | masks["young"]).sum())
    assert 0 < expected < N_STARS
    expect(count).to_have_text(f"Selected: {expected} / {N_STARS}", timeout=30_000)
    expression = page.locator(".selection-expression textarea")
    expect(expression).to_have_value(re.compile(r"binary_prob > 0\.5.*pred_age_gyr < 1"), timeout=30_000)
    for i, name in enumerate(("UMAP", "CMD", "HR diagram")):
        pixels = _wait_for_selected_pixels(page, canvases.nth(i), more_than=before[i] + 100)
        assert pixels > before[i] + 100, (
            f"the {name} did not highlight the template ({before[i]} -> {pixels})"
        )

    summary = page.locator(".template-summary")
    for name in tpl.PAIR:
        label = tpl.TEMPLATES[name].label
        expect(summary).to_contain_text(f"{label}: {int(masks[name].sum())} stars", timeout=30_000)
    expect(summary).to_contain_text("Check against simulation truth")
    expect(summary.locator(".mini-card")).to_have_count(2)

    page.screenshot(path=str(screenshot_dir / SCREENSHOT), full_page=True)


@pytest.mark.ui
def test_a_template_card_opens_with_its_thresholds_and_an_edited_one_applies(
    page: Page, app_url: str
) -> None:
    """A card's threshold inputs are made when it is first opened (dashboard/views/templates_view.py)."""
    page.set_viewport_size({"width": 1600, "height": 2400})
    page.goto(app_url)
    count = page.locator(".selected-count")
    expect(count).to_have_text(f"Selected: 0 / {N_STARS}", timeout=60_000)
    label = tpl.TEMPLATES["giant"].thresholds[1].label  # height above the main sequence
    expect(page.get_by_text(label)).to_have_count(0, timeout=30_000)
    page.locator(".accordion-header").filter(has_text="Giants").click()
    field = page.locator(".bk-input-group").filter(has_text=label).locator("input")
    expect(field).to_have_value("3.5", timeout=30_000)
    field.fill("5")
    field.press("Enter")
    page.locator(".template-giant button").click()
    expression = page.locator(".selection-expression textarea")
    expect(expression).to_have_value(re.compile(r"cmd_excess_mag > 5\b"), timeout=30_000)
    expect(count).not_to_have_text(f"Selected: 0 / {N_STARS}")
