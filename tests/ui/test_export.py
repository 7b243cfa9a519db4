"""An export download from the browser, read back by astropy with units and provenance."""

from __future__ import annotations

import urllib.parse
from pathlib import Path

import pytest
from astropy.io.votable import parse as parse_votable
from astropy.table import Table
from playwright.sync_api import Page, expect

from benchmarks import fixtures
from dashboard.store import load_catalog
from data.query import expression_mask

N_STARS = 3000
EXPRESSION = "true_population == 'young' and binary_prob < 0.5"


def served_count(tmp_path: Path, expression: str) -> int:
    """How many stars of the served synthetic survey (seed 0) ``expression`` selects."""
    fixtures.write_synthetic_survey(tmp_path / "served", n=N_STARS, seed=0)
    return int(expression_mask(expression, load_catalog(tmp_path / "served")).sum())


@pytest.mark.ui
def test_votable_and_fits_downloads_read_back(page: Page, app_url: str, tmp_path: Path) -> None:
    page.goto(app_url + "?expression=" + urllib.parse.quote(EXPRESSION), timeout=90_000)
    count = page.locator(".selected-count")
    n = served_count(tmp_path, EXPRESSION)
    expect(count).to_have_text(f"Selected: {n} / {N_STARS}", timeout=60_000)

    with page.expect_download(timeout=60_000) as info:
        page.get_by_text("Download VOTable").click()
    download = info.value
    assert download.suggested_filename.startswith("desa_uitest_") and download.suggested_filename.endswith(
        ".xml"
    )
    path = tmp_path / download.suggested_filename
    download.save_as(path)
    table = Table.read(path, format="votable")
    assert len(table) == n and table["phot_g_mean_mag"].unit == "mag"
    infos = {i.name: i.value for i in parse_votable(str(path)).resources[0].infos}
    assert infos["selection"] == EXPRESSION and len(infos["checkpoint_sha256"]) == 64

    with page.expect_download(timeout=60_000) as info:
        page.get_by_text("Download FITS").click()
    path = tmp_path / info.value.suggested_filename
    info.value.save_as(path)
    table = Table.read(path, format="fits")
    assert len(table) == n and table["pred_teff_k"].unit == "K" and table.meta["SELECTN"] == EXPRESSION
