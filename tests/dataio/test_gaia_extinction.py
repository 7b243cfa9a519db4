"""Extinction in the simulated Gaia table: reddened photometry, GSP-Phot estimates, the dereddened CMD."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from data.isochrones import main_sequence_abs_g
from data.simulate.population import SurveyConfig, draw_population
from data.simulate.survey import gaia_table

SEED = 31  # not 0: the checks must hold on a survey nobody tuned against


@pytest.fixture(scope="module")
def survey() -> tuple[pd.DataFrame, pd.DataFrame]:
    truth = draw_population(SurveyConfig(n_stars=400, seed=SEED, workers=1), np.random.default_rng(SEED))
    return truth, gaia_table(truth, np.random.default_rng(SEED + 1))


def test_gaia_colours_redden_by_the_law_in_g_rp_and_bp_rp(survey: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    truth, gaia = survey
    dusty = (truth["a_bp_mag"] - truth["a_rp_mag"]).to_numpy() > 0.1
    g_rp_excess = (gaia["phot_g_mean_mag"] - gaia["phot_rp_mean_mag"] - truth["g_rp_intrinsic_mag"])[dusty]
    bp_rp_excess = (gaia["bp_rp"] - truth["bp_rp_intrinsic_mag"])[dusty]
    e_g_rp = (truth["a_g_mag"] - truth["a_rp_mag"])[dusty]
    e_bp_rp = (truth["a_bp_mag"] - truth["a_rp_mag"])[dusty]
    assert dusty.sum() > 50
    # Per-star noise is 3 mmag; a wrong coefficient (such as 0.45 E(BP−RP) for E(G−RP)) is 15 %.
    assert np.median(g_rp_excess / e_g_rp) == pytest.approx(1.0, abs=0.03)
    assert np.median(bp_rp_excess / e_bp_rp) == pytest.approx(1.0, abs=0.03)


def test_gspphot_extinctions_are_noisy_partial_estimates_of_the_truth(
    survey: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    truth, gaia = survey
    ag, ebprp = gaia["ag_gspphot"], gaia["ebpminrp_gspphot"]
    missing = ag.isna()
    assert 0.1 < missing.mean() < 0.3, "GSP-Phot is null for a fifth or so of the stars"
    assert (ebprp.isna() == missing).all()
    assert gaia.loc[missing, "phot_g_mean_mag"].mean() > gaia.loc[~missing, "phot_g_mean_mag"].mean()
    error = (ag - truth["a_g_mag"])[~missing]
    assert 0.05 < error.std() < 0.2 and abs(error.median()) < 0.1 and error.abs().max() < 1.0
    assert (ag[~missing] >= 0).all()
    lower, upper = gaia["ag_gspphot_lower"][~missing], gaia["ag_gspphot_upper"][~missing]
    assert (lower <= ag[~missing]).all() and (ag[~missing] <= upper).all()
    # A_G and E(BP−RP) come from one A0, so their errors share a sign (the reddening vector).
    e_error = (ebprp - (truth["a_bp_mag"] - truth["a_rp_mag"]))[~missing]
    assert np.corrcoef(error, e_error)[0, 1] > 0.95


def test_few_single_dwarfs_sit_high_above_the_dereddened_main_sequence(
    survey: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    """Dereddened with GSP-Phot, the excess above the MIST sequence is binarity or evolution, not dust.

    About 5 % of single dwarfs are above it, against about 30 % observed.
    """
    truth, gaia = survey
    with np.errstate(invalid="ignore", divide="ignore"):
        abs_g = gaia["phot_g_mean_mag"] + 5 * np.log10(gaia["parallax"]) - 10
    single = (truth["population"] == "single").to_numpy()

    def high_fraction(colour: pd.Series, mag: pd.Series) -> float:
        height = main_sequence_abs_g(colour.to_numpy()) - mag.to_numpy()
        ok = single & np.isfinite(height)
        assert ok.sum() > 100
        return float((height[ok] > 0.5).mean())

    dereddened = high_fraction(gaia["bp_rp"] - gaia["ebpminrp_gspphot"], abs_g - gaia["ag_gspphot"])
    observed = high_fraction(gaia["bp_rp"], abs_g)
    assert dereddened < 0.10, f"{dereddened:.1%} of single dwarfs > 0.5 mag above the dereddened MS"
    assert observed > 2 * dereddened
