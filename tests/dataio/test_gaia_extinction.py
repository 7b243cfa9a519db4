"""Extinction in the simulated Gaia table: reddened photometry in every band."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

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
