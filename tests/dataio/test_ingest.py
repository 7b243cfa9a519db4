"""Ingest: a corrupted file is quarantined with its reason; every good star is kept."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from data import preprocess as pp
from data.catalog import REQUIRED
from data.gaia import read_gaia_table, write_gaia_table
from data.ingest import ingest_survey
from data.storage import SurveyStore
from tests.dataio.conftest import N_SIMULATED as N


@pytest.fixture
def store(tmp_path: Path, simulated_raw: Path) -> SurveyStore:
    store = SurveyStore(tmp_path / "survey")
    shutil.copytree(simulated_raw, store.raw_dir)
    return store


def test_clean_ingest(store: SurveyStore) -> None:
    summary = ingest_survey(store.raw_dir, store, seed=1, progress=False, workers=1)
    assert summary.n_stars == N and summary.n_quarantined == 0
    cat = store.read_catalog()
    assert set(col.name for col in REQUIRED) <= set(cat.columns)
    assert cat["row"].dtype == np.int32 and cat["gaia_source_id"].dtype == np.int64
    assert (store.root / cat["kepler_path"].iloc[0]).is_file() and cat["kepler_path"].iloc[0].startswith(
        "raw/"
    )
    assert store.read_array("lc_channels").shape == (N, 3, pp.LC_LENGTH)
    assert store.read_array("lc_mask").dtype == bool
    assert store.read_array("spec_flux").shape == (N, pp.SPEC_LENGTH)
    truth = store.read_truth()
    assert truth["row"].tolist() == list(range(N))
    assert (truth["kic_id"].to_numpy() == cat["kic_id"].to_numpy()).all()
    manifest = store.read_manifest()
    assert manifest["ingest"]["n_stars"] == N and manifest["ingest"]["seed"] == 1
    assert manifest["grids"]["lc_length"] == pp.LC_LENGTH
    # M_G from the parallax recovers the truth (plus extinction) within 4 σ of the parallax error.
    good = cat["parallax_mas"] / cat["parallax_error_mas"] > 10
    tolerance = 4 * 2.1715 * cat["parallax_error_mas"] / cat["parallax_mas"] + 0.01
    diff = np.abs(cat["abs_g_mag"] - (truth["abs_g_mag"] + truth["a_g_mag"]))
    assert good.sum() > 10 and (diff[good] < tolerance[good]).all()


def test_corrupted_file_is_quarantined_and_good_stars_kept(store: SurveyStore) -> None:
    victim = sorted((store.raw_dir / "kepler").glob("*.fits"))[4]
    victim.write_bytes(victim.read_bytes()[:4000])
    orphan_spec = sorted((store.raw_dir / "lamost").glob("*.fits"))[7]
    orphan_spec.unlink()
    summary = ingest_survey(store.raw_dir, store, progress=False, workers=1)
    assert summary.n_stars == N - 2
    q = store.read_quarantine()
    bad = q[q["path"] == str(victim)]
    assert len(bad) == 1 and bad["stage"].iloc[0] == "read"
    assert "unreadable" in bad["reason"].iloc[0] and bad["star_id"].iloc[0] == str(int(victim.name[4:13]))
    assert q["reason"].str.startswith("no spectrum").sum() == 1
    assert summary.reasons == {"unreadable file": 1, "no spectrum for this star": 1}
    kept = set(store.read_catalog()["kic_id"].astype(str))
    assert bad["star_id"].iloc[0] not in kept
    assert len(kept) == N - 2


def test_unusable_light_curve_is_quarantined_at_preprocess(store: SurveyStore) -> None:
    from astropy.io import fits

    victim = sorted((store.raw_dir / "kepler").glob("*.fits"))[0]
    with fits.open(victim, mode="update") as hdul:
        hdul[1].data["SAP_QUALITY"][200:] = 2  # SAFE_MODE on almost every cadence
    summary = ingest_survey(store.raw_dir, store, progress=False, workers=1)
    assert summary.n_stars == N - 1
    q = store.read_quarantine()
    assert q["stage"].tolist() == ["preprocess"] and q["reason"].str.contains("too few valid").all()


def test_splits_in_catalogue(store: SurveyStore) -> None:
    ingest_survey(store.raw_dir, store, seed=0, progress=False, workers=1)
    cat = store.read_catalog()
    assert set(cat["split"].astype(str)) <= {"train", "val", "test"}
    assert isinstance(cat["split"].dtype, pd.CategoricalDtype)


def test_light_curves_longer_than_the_grid_are_cut_openly(tmp_path: Path) -> None:
    """Two quarters (~183 d) on a 90-d grid: the catalogue and manifest say what was kept."""
    from data.simulate.population import SurveyConfig
    from data.simulate.survey import simulate_survey

    store = SurveyStore(tmp_path / "two_quarters")
    simulate_survey(SurveyConfig(n_stars=4, seed=9, workers=1, lc_quarters=2), store.raw_dir, progress=False)
    ingest_survey(store.raw_dir, store, progress=False, workers=1)
    cat = store.read_catalog()
    assert (cat["lc_span_d"] > 150).all()
    assert np.allclose(cat["lc_used_d"], pp.LC_SPAN_D)
    assert store.read_manifest()["ingest"]["n_lightcurves_cut"] == 4


def test_dereddened_cmd_from_gspphot_and_nan_where_it_is_null(store: SurveyStore) -> None:
    ingest_survey(store.raw_dir, store, progress=False, workers=1)
    cat = store.read_catalog()
    gaia = read_gaia_table(store.raw_dir / "gaia_source.ecsv").set_index("kic_id").loc[cat["kic_id"]]
    ag, ebprp = gaia["ag_gspphot"].to_numpy(), gaia["ebpminrp_gspphot"].to_numpy()
    assert 0 < np.isnan(ag).sum() < len(cat), "the simulated survey should have some null GSP-Phot rows"
    np.testing.assert_allclose(cat["ag_gspphot_mag"], ag, rtol=1e-6)
    np.testing.assert_allclose(cat["abs_g0_mag"], cat["abs_g_mag"] - ag, rtol=1e-6)
    np.testing.assert_allclose(cat["bp_rp0_mag"], cat["bp_rp_mag"] - ebprp, rtol=1e-6)
    # Dereddening moves stars towards the truth's intrinsic CMD.
    truth = store.read_truth()
    ok = np.isfinite(ag)
    before = np.abs(cat["bp_rp_mag"] - truth["bp_rp_intrinsic_mag"])[ok].median()
    after = np.abs(cat["bp_rp0_mag"] - truth["bp_rp_intrinsic_mag"])[ok].median()
    assert after < before


def test_gaia_table_without_gspphot_columns_ingests_with_empty_dereddened_cmd(store: SurveyStore) -> None:
    path = store.raw_dir / "gaia_source.ecsv"
    gaia = read_gaia_table(path)
    gspphot = [c for c in gaia.columns if "gspphot" in c]
    assert len(gspphot) == 6
    write_gaia_table(path, gaia.drop(columns=gspphot))
    summary = ingest_survey(store.raw_dir, store, progress=False, workers=1)
    assert summary.n_stars == N and summary.n_quarantined == 0
    cat = store.read_catalog()
    for name in ("ag_gspphot_mag", "ebpminrp_gspphot_mag", "bp_rp0_mag", "abs_g0_mag"):
        assert cat[name].isna().all(), name
    assert cat["bp_rp_mag"].notna().all() and cat["abs_g_mag"].notna().any()
