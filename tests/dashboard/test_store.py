"""The cached catalogue loader and the colour-by choices."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dashboard.store import (
    CMD_EXCESS,
    UNCERTAINTY_SCORE,
    add_derived_columns,
    cmd_excess,
    color_options,
    default_color,
    load_catalog,
    session_generation,
    uncertainty_score,
)
from data.errors import DataError


def test_catalogue_is_joined_with_truth_and_tidy(catalog: pd.DataFrame) -> None:
    assert len(catalog) == 600
    assert catalog["row"].dtype == np.int32
    assert catalog["gaia_source_id"].dtype == np.int64
    assert isinstance(catalog["true_population"].dtype, pd.CategoricalDtype)
    assert catalog["umap_x"].dtype == np.float32
    assert catalog["true_teff_k"].dtype == np.float32
    assert "true_row" not in catalog.columns


def test_catalogue_is_cached_per_path(survey_dir: Path) -> None:
    assert load_catalog(survey_dir) is load_catalog(survey_dir)


def test_missing_catalogue_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"catalog\.parquet"):
        load_catalog(tmp_path / "nowhere")


def test_colour_options(catalog: pd.DataFrame) -> None:
    options = color_options(catalog)
    values = list(options.values())
    assert values[0] == "density"
    assert "true_population" in values and "pred_teff_k" in values
    assert not any(v.endswith(("_lo", "_hi")) or v in ("row", "gaia_source_id") for v in values)
    assert default_color(catalog) == "true_population"


def test_cmd_excess_is_the_height_above_the_main_sequence(catalog: pd.DataFrame) -> None:
    from data.isochrones import EQUAL_MASS_OFFSET_MAG, main_sequence_abs_g

    colour = np.array([0.8, 1.2, 2.0])
    on_ms = main_sequence_abs_g(colour)
    np.testing.assert_allclose(cmd_excess(colour, on_ms), 0.0, atol=1e-12)
    np.testing.assert_allclose(cmd_excess(colour, on_ms - EQUAL_MASS_OFFSET_MAG), EQUAL_MASS_OFFSET_MAG)
    excess = catalog.groupby("true_population", observed=True)[CMD_EXCESS].median()
    assert excess["giant"] > 2 and abs(excess["single"]) < excess["sync_binary"]
    assert catalog[CMD_EXCESS].dtype == np.float32
    assert CMD_EXCESS in color_options(catalog).values()


def test_uncertainty_score_is_the_widest_interval_over_its_median() -> None:
    df = pd.DataFrame(
        {
            "pred_teff_k_lo": [4900.0, 4900.0, 4000.0, np.nan],
            "pred_teff_k_hi": [5100.0, 5100.0, 6000.0, np.nan],
            "pred_logg_lo": [4.0, 4.0, 4.0, np.nan],
            "pred_logg_hi": [4.2, 4.6, 4.2, np.nan],
        }
    )
    score = uncertainty_score(df)
    # Median widths: teff 200 K, logg 0.2 dex; the last star has no interval.
    np.testing.assert_allclose(score[:3], [1.0, 3.0, 10.0])
    assert np.isnan(score[3])
    assert UNCERTAINTY_SCORE not in add_derived_columns(pd.DataFrame({"x": [1.0]})).columns


def test_a_new_generation_reaches_the_next_session_never_half_of_an_open_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``desa ingest``/``embed`` under a running server: sessions are one generation each."""
    from benchmarks.fixtures import write_synthetic_survey
    from dashboard import app
    from dashboard.similar import similar_for_survey
    from dashboard.views.star_card import survey_arrays
    from data.provenance import file_sha256, provenance
    from data.storage import SurveyStore

    root = tmp_path / "live"
    write_synthetic_survey(root, n=120, seed=1)
    first = session_generation(root)
    old = load_catalog(root, first)
    old_sha = file_sha256(SurveyStore(root).catalog_path)
    write_synthetic_survey(root, n=80, seed=2)  # a re-ingest with another star count, meanwhile
    second = session_generation(root)
    assert second != first
    # The open session still reads only its own generation: catalogue, arrays, kNN, provenance.
    assert load_catalog(root, first) is old and len(old) == 120
    assert similar_for_survey(root, 120, generation=first).n_rows == 120
    assert survey_arrays(root, 120, generation=first).spec_flux.shape[0] == 120
    assert provenance(root, "", 1, generation=first)["catalogue_sha256"] == old_sha
    # The next session gets the new one whole.
    assert len(load_catalog(root, second)) == 80 and len(load_catalog(root)) == 80
    assert similar_for_survey(root, 80, generation=second).n_rows == 80
    assert survey_arrays(root, 80, generation=second).lc_mask.shape[0] == 80
    monkeypatch.setenv("DESA_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DESA_SURVEY", "live")
    page = app.build_app()
    footer = [p.object for p in page.main if isinstance(getattr(p, "object", None), str)]
    assert any("· 80 stars" in text for text in footer), footer
