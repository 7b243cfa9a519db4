"""From exploration to a follow-up list, in a real browser (issue 18).

One served survey for the module, with its follow-up database in the survey folder: named subsets
intersected; a star found by its KIC id; a histogram brushed; the candidate queue showing a
candidate and taking a label; two sessions labelling at once, and both labels with their notes
found again after the server restarts. Screenshots for the README are taken here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from playwright.sync_api import Browser, Page, expect

from benchmarks import fixtures
from dashboard.followup import FollowupList, star_ids
from data.query import expression_mask
from data.settings import followup_database
from data.storage import SurveyStore

from .conftest import N_STARS, serve

SURVEY = "followup"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """(URL, survey folder) of a served synthetic survey; five sync binaries already confirmed."""
    root = tmp_path_factory.mktemp("desa_followup")
    store: SurveyStore = fixtures.write_synthetic_survey(root / SURVEY, n=N_STARS, seed=0)
    catalog = store.read_catalog_with_truth()
    sync = np.flatnonzero(catalog["true_population"].astype(str).to_numpy() == "sync_binary")[:5]
    FollowupList(followup_database(root / SURVEY), SURVEY).put(
        None, sync, star_ids(catalog, sync), label="confirmed", note="seed label"
    )
    log = tmp_path_factory.mktemp("serve_followup") / "panel.log"
    with serve(root, SURVEY, log) as url:
        yield url, root


def _open(page: Page, url: str) -> None:
    page.goto(url)
    expect(page.locator(".bk-Canvas")).to_have_count(4, timeout=60_000)  # UMAP, CMD, HR, histogram
    expect(page.locator(".selected-count")).to_have_text(f"Selected: 0 / {N_STARS}", timeout=60_000)


def _apply(page: Page, expression: str) -> int:
    page.locator(".selection-expression textarea").fill(expression)
    page.locator(".apply-expression button").click()
    # Markdown renders in a shadow root: get_by_text pierces it, inner_text of its host does not.
    count = page.get_by_text(re.compile(r"^Selected: \d+ / \d+$"))
    expect(count).not_to_have_text(f"Selected: 0 / {N_STARS}", timeout=30_000)
    expect(page.locator(".selection-expression textarea")).to_have_value(expression, timeout=30_000)
    return int(re.search(r"Selected: (\d+)", count.inner_text()).group(1))


def _tab(page: Page, title: str) -> None:
    page.locator(".side-panel").get_by_text(title, exact=True).click()


def _search(page: Page, text: str) -> None:
    box = page.locator(".star-search input")
    box.fill(text)
    box.press("Enter")


@pytest.mark.ui
def test_two_named_subsets_intersected(page: Page, served: tuple[str, Path], screenshot_dir: Path) -> None:
    url, root = served
    catalog = SurveyStore(root / SURVEY).read_catalog_with_truth()
    _open(page, url)
    first, second = "binary_prob > 0.5", "box(umap_x, umap_y, -3.0, 5.0, -4.0, 5.0)"
    _tab(page, "Subsets")
    for name, expression in (("binaries", first), ("centre", second)):
        _apply(page, expression)
        page.locator(".subset-name input").fill(name)
        page.locator(".subset-name input").press("Tab")
        page.locator(".subset-save button").click()
        expect(page.locator(".subset-message")).to_contain_text(f"Subset {name}", timeout=30_000)
    page.locator(".subset-combine button").click()  # A, B = the last two; intersection by default
    expected = int((expression_mask(first, catalog) & expression_mask(second, catalog)).sum())
    message = page.locator(".subset-message")
    expect(message).to_contain_text(f"Subset binaries and centre: {expected:,} stars", timeout=30_000)
    expect(page.locator(".subset-entry")).to_have_count(3)
    # The subsets travel in the URL.
    expect(page).to_have_url(re.compile(r"subset=binaries"), timeout=30_000)
    page.screenshot(path=str(screenshot_dir / "screenshot-subsets.png"))


@pytest.mark.ui
def test_id_search_and_histogram_brush(page: Page, served: tuple[str, Path]) -> None:
    url, root = served
    catalog = SurveyStore(root / SURVEY).read_catalog()
    _open(page, url)
    kic = int(catalog["kic_id"].iloc[1234])
    _search(page, f"KIC {kic}")
    expect(page.locator(".star-card").first).to_contain_text(f"KIC {kic} · row 1234", timeout=30_000)

    histogram = page.locator(".bk-Canvas").nth(3)
    box = histogram.bounding_box()
    y = box["y"] + 0.55 * box["height"]
    page.mouse.move(box["x"] + 0.35 * box["width"], y)
    page.mouse.down()
    page.mouse.move(box["x"] + 0.6 * box["width"], y, steps=15)
    page.mouse.up()
    expression = page.locator(".selection-expression textarea")
    expect(expression).to_have_value(
        re.compile(r"^pred_\w+ >= [-\d.e]+ and pred_\w+ <= [-\d.e]+$"), timeout=30_000
    )
    expect(page.locator(".selected-count")).not_to_have_text(f"Selected: 0 / {N_STARS}")


@pytest.mark.ui
def test_queue_shows_a_candidate_and_takes_a_label(
    page: Page, served: tuple[str, Path], screenshot_dir: Path
) -> None:
    url, root = served
    _open(page, url)
    page.locator(".queue-next button").click()
    status = page.locator(".queue-status")
    expect(status).to_contain_text("from 5 positive", timeout=30_000)
    text = page.get_by_text(re.compile(r"candidate row \d+"))
    first = int(re.search(r"candidate row (\d+)", text.inner_text()).group(1))
    card = page.locator(".star-card").first
    expect(card).to_contain_text(f"row {first}", timeout=30_000)
    expect(page.locator(".star-lightcurve .bk-Canvas")).to_have_count(2, timeout=30_000)
    page.screenshot(path=str(screenshot_dir / "screenshot-queue.png"))
    page.keyboard.press("3")  # one key labels it rejected and shows the next
    expect(status).to_contain_text("and 1 rejected", timeout=30_000)
    second = int(re.search(r"candidate row (\d+)", text.inner_text()).group(1))
    assert second != first
    expect(card).to_contain_text(f"row {second}", timeout=30_000)
    labels = FollowupList(followup_database(root / SURVEY), SURVEY).labels(None)
    assert labels[first] == "rejected"


def _label(page: Page, kic: int, label: str, note: str) -> None:
    _search(page, f"KIC {kic}")
    expect(page.locator(".star-card").first).to_contain_text(f"KIC {kic}", timeout=30_000)
    page.locator(".followup-note textarea").fill(note)
    page.locator(f".label-{label} button").click()
    expect(page.locator(".label-message")).to_contain_text(f"labelled {label}", timeout=30_000)


@pytest.mark.ui
def test_two_sessions_label_and_the_list_survives_a_restart(
    browser: Browser, served: tuple[str, Path], tmp_path: Path, screenshot_dir: Path
) -> None:
    url, root = served
    catalog = SurveyStore(root / SURVEY).read_catalog()
    kic = [int(k) for k in catalog["kic_id"].iloc[[100, 200, 300]]]
    sessions = [browser.new_context(viewport={"width": 1600, "height": 1000}) for _ in range(2)]
    pages = [context.new_page() for context in sessions]
    for page in pages:
        _open(page, url)
    # Interleaved: each session labels while the other has just written.
    _label(pages[0], kic[0], "candidate", "first session: check Li")
    _label(pages[1], kic[1], "confirmed", "second <b>session</b>")
    _label(pages[0], kic[2], "rejected", "first again")
    for context in sessions:
        context.close()

    # Restart: a new server process on the same data folder.
    with serve(root, SURVEY, tmp_path / "restarted.log") as again:
        context = browser.new_context(viewport={"width": 1600, "height": 1000})
        page = context.new_page()
        _open(page, again)
        _tab(page, "Follow-up list")
        table = page.locator(".followup-table")
        for row, label, note in (
            (100, "candidate", "first session: check Li"),
            (200, "confirmed", "second <b>session</b>"),  # user text shown as typed, not as HTML
            (300, "rejected", "first again"),
        ):
            line = table.locator(".tabulator-row").filter(has_text=f"KIC {kic[[100, 200, 300].index(row)]}")
            expect(line).to_contain_text(label, timeout=30_000)
            expect(line).to_contain_text(note)
        expect(table.locator("b")).to_have_count(0)
        page.screenshot(path=str(screenshot_dir / "screenshot-followup.png"))
        context.close()
