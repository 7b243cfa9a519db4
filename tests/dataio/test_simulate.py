"""The simulated survey: golden seeded sample, determinism, resume and the science check."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from data import preprocess as pp
from data.gaia import read_gaia_table
from data.kepler import read_kepler_lightcurve
from data.lamost import read_lamost_spectrum
from data.simulate.lightcurve import simulate_lightcurve
from data.simulate.population import SurveyConfig, draw_population, population_counts
from data.simulate.spectrum import simulate_spectrum
from data.simulate.survey import simulate_survey

GOLDEN = SurveyConfig(n_stars=40, seed=7, workers=1)


def test_population_counts_are_exact() -> None:
    assert population_counts(GOLDEN) == {
        "single": 22,
        "young": 4,
        "sync_binary": 4,
        "wide_binary": 5,
        "giant": 3,
        "subgiant": 2,
    }
    assert sum(population_counts(replace(GOLDEN, n_stars=2500)).values()) == 2500


def test_same_seed_same_truth_and_golden_numbers() -> None:
    a = draw_population(GOLDEN, np.random.default_rng(GOLDEN.seed))
    b = draw_population(GOLDEN, np.random.default_rng(GOLDEN.seed))
    pd.testing.assert_frame_equal(a, b)
    c = draw_population(GOLDEN, np.random.default_rng(GOLDEN.seed + 1))
    assert not np.allclose(a["teff_k"], c["teff_k"])
    assert a["kic_id"].is_unique and a["gaia_source_id"].is_unique and a["lamost_obsid"].is_unique
    assert (a["gaia_source_id"] > 2**53).all()
    assert a["kic_id"].between(1, 999_999_999).all()
    golden = {
        "median_teff_k": round(float(a["teff_k"].median())),
        "median_prot_d": round(float(a["prot_d"].median()), 1),
        "n_binary": int(a["is_binary"].sum()),
        "max_delta_g_ms_mag": round(float(a["delta_g_ms_mag"].max()), 2),
    }
    assert golden == GOLDEN_NUMBERS


# Pinned from a run on numpy 2, MeanStars 3.6.1, lachesis-grids 0.0.9 (MIST v2.5) and the shipped
# gyrochronology and Li tables; a change here means the simulator changed.
GOLDEN_NUMBERS = {
    "median_teff_k": 5521,
    "median_prot_d": 12.3,
    "n_binary": 9,
    "max_delta_g_ms_mag": 0.57,
}


def test_physical_ranges() -> None:
    df = draw_population(replace(GOLDEN, n_stars=600), np.random.default_rng(0))
    giants = df[df["population"] == "giant"]
    # Giants come from MIST's RGB and core-He-burning phases, subgiants from its subgiant branch.
    assert set(giants["evolutionary_phase"]) <= {"rgb", "cheb"}
    assert giants["logg"].between(0.0, 3.5).all() and giants["teff_k"].median() == pytest.approx(
        4800, abs=300
    )
    sub = df[df["population"] == "subgiant"]
    assert (sub["evolutionary_phase"] == "subgiant").all()
    assert sub["logg"].between(3.5, 4.2).all()
    dwarfs = df[~df["population"].isin(["giant", "subgiant"])]
    assert (dwarfs["evolutionary_phase"] == "ms").all() and dwarfs["logg"].between(3.8, 5.3).all()
    assert df["delta_g_ms_mag"].max() <= 2.5 * np.log10(2) + 1e-6
    # E(B−V) grows with distance up to 0.18 mag; A_G ≈ 2.3–2.9 E(B−V) by colour, below A0 = 0.56.
    assert df["ebv_mag"].between(0, 0.18).all() and df["a_g_mag"].between(0, 0.56).all()
    near, far = df["distance_pc"] < 300, df["distance_pc"] > 2000
    assert df.loc[near, "ebv_mag"].max() < df.loc[far, "ebv_mag"].min()
    assert df["kepmag"].between(10, 16).all()
    sb2 = df["sb2_visible"]
    assert (df.loc[sb2, "porb_d"] < 3).all() and (df.loc[sb2, "delta_rv_kms"] > 166).all()


def test_survey_files_are_readable_and_resume_is_exact(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    summary = simulate_survey(GOLDEN, raw, progress=False)
    assert summary.n_stars == 40 and summary.n_written == 40
    kepler = sorted((raw / "kepler").glob("kplr*_llc.fits"))
    lamost = sorted((raw / "lamost").glob("spec-*.fits"))
    assert len(kepler) == len(lamost) == 40
    gaia = read_gaia_table(raw / "gaia_source.ecsv")
    truth = pd.read_parquet(raw / "truth.parquet")
    assert gaia["source_id"].tolist() == truth["gaia_source_id"].tolist()
    labels = {"is_binary", "is_close_binary", "is_eclipsing", "is_detectable_binary", "non_single_star"}
    assert labels | {"flux_ratio_g", "porb_d"} <= set(truth.columns)
    assert gaia["non_single_star"].tolist() == truth["non_single_star"].tolist()
    lc = read_kepler_lightcurve(kepler[0])
    assert lc.kic_id in set(truth["kic_id"]) and 0.9 < lc.valid.mean() < 1.0
    spec = read_lamost_spectrum(lamost[0])
    assert spec.obsid in set(truth["lamost_obsid"]) and spec.mask.mean() > 0.99
    before = kepler[5].read_bytes()
    kepler[5].unlink()
    again = simulate_survey(GOLDEN, raw, progress=False)
    assert again.n_written == 1 and again.n_skipped == 39
    assert kepler[5].read_bytes() == before, "a resumed star must be identical"


def _acf_period_d(acf: np.ndarray) -> float:
    """First ACF peak at least 80 % as high as the highest one, after the first negative lag."""
    lag_d = np.arange(acf.size) * pp.LC_SPAN_D / pp.LC_LENGTH
    below = np.flatnonzero(acf < 0)
    start = below[0] if below.size else 1
    stop = int(45.0 / (pp.LC_SPAN_D / pp.LC_LENGTH))
    peaks = np.flatnonzero((acf[1:-1] > acf[:-2]) & (acf[1:-1] >= acf[2:])) + 1
    peaks = peaks[(peaks >= start) & (peaks < stop)]
    if peaks.size == 0:
        return float("nan")
    best = acf[peaks].max()
    return float(lag_d[peaks[np.argmax(acf[peaks] >= 0.8 * best)]])


def _li_pseudo_ew_aa(flux: np.ndarray, mask: np.ndarray) -> float:
    grid = pp.spectrum_grid()
    cont = mask & (((grid > 6680) & (grid < 6700)) | ((grid > 6720) & (grid < 6740)))
    line = mask & (grid > 6704) & (grid < 6715)
    step = np.gradient(grid)
    return float(np.sum((1 - flux[line] / np.median(flux[cont])) * step[line]))


@pytest.fixture(scope="module")
def science_sample() -> pd.DataFrame:
    df = draw_population(SurveyConfig(n_stars=400, seed=11), np.random.default_rng(11))
    df = df[df["population"].isin(["young", "sync_binary"])].reset_index(drop=True)
    rng = np.random.default_rng(5)
    rows = []
    for star in df.to_dict("records"):
        lc = simulate_lightcurve(star, rng)
        valid = np.isfinite(lc.time_bkjd) & np.isfinite(lc.pdcsap_flux)
        channels, mask = pp.lightcurve_channels(lc.time_bkjd, lc.pdcsap_flux, valid)
        spec = simulate_spectrum(star, rng)
        flux, smask = pp.spectrum_to_grid(spec.wavelength_aa, spec.flux, spec.ivar > 0, spec.helio_rv_kms)
        lo, hi = np.percentile(channels[0][mask], [5, 95])
        rows.append(
            {
                "period_d": _acf_period_d(channels[1]),
                "amp_pct": hi - lo,
                "li_ew_aa": _li_pseudo_ew_aa(flux, smask),
            }
        )
    return pd.concat([df, pd.DataFrame(rows)], axis=1)


def test_young_and_sync_binaries_overlap_in_light_curves(science_sample: pd.DataFrame) -> None:
    young = science_sample[science_sample["population"] == "young"]
    sync = science_sample[science_sample["population"] == "sync_binary"]
    assert len(young) >= 30 and len(sync) >= 30
    for col in ("period_d", "amp_pct"):
        ratio = young[col].median() / sync[col].median()
        assert 1 / 1.5 < ratio < 1.5, f"{col}: medians differ by {ratio:.2f}"
        lo, hi = sync[col].quantile([0.1, 0.9])
        assert young[col].between(lo, hi).mean() > 0.6, f"{col}: young mostly outside the binaries' range"
    # The measured period tracks the true rotation period for most stars.
    rel = np.abs(science_sample["period_d"] / science_sample["prot_d"] - 1)
    assert (rel < 0.2).mean() > 0.7


def test_young_and_sync_binaries_differ_in_lithium_and_cmd(science_sample: pd.DataFrame) -> None:
    young = science_sample[science_sample["population"] == "young"]
    sync = science_sample[science_sample["population"] == "sync_binary"]
    assert young["li_ew_ma"].median() > 5 * sync["li_ew_ma"].median()
    assert young["li_ew_aa"].median() > sync["li_ew_aa"].median() + 0.08, "Li visible in the spectra"
    assert (young["delta_g_ms_mag"] == 0).all()
    assert sync["delta_g_ms_mag"].median() > 0.2
    assert (sync["delta_g_ms_mag"] > 0.1).mean() > 0.6
