"""Binary labels an observer can assign (data.simulate.binarity): definitions and learnability."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score

from data.simulate import binarity
from data.simulate.population import SurveyConfig, draw_population

# Seeds other than 0, so the thresholds were not tuned on the sample they are tested on.
CONFIG = SurveyConfig(n_stars=1200, seed=13, workers=1)


@pytest.fixture(scope="module")
def truth() -> pd.DataFrame:
    return draw_population(CONFIG, np.random.default_rng(CONFIG.seed))


def test_close_and_eclipsing_labels(truth: pd.DataFrame) -> None:
    binary = truth["is_binary"].to_numpy(bool)
    short = truth["porb_d"].to_numpy(float) < 10.0  # NaN (single) compares False
    assert short.sum() >= 50
    np.testing.assert_array_equal(truth["is_close_binary"].to_numpy(bool), binary & short)
    assert not truth.loc[~binary, ["is_close_binary", "is_eclipsing", "is_detectable_binary"]].any().any()
    # The old column name stays as an alias for the light-curve simulator.
    np.testing.assert_array_equal(truth["eclipsing"].to_numpy(bool), truth["is_eclipsing"].to_numpy(bool))
    assert truth["is_eclipsing"].sum() >= 10
    depth = truth["eclipse_depth"].to_numpy(float)
    assert (depth[truth["is_eclipsing"].to_numpy(bool)] > 0).all() and (
        depth[~truth["is_eclipsing"]] == 0
    ).all()
    # flux_ratio_g and porb_d are in the truth table for binning: 0 and NaN for single stars.
    assert (truth.loc[~binary, "flux_ratio_g"] == 0).all() and truth.loc[~binary, "porb_d"].isna().all()
    assert (truth.loc[binary, "flux_ratio_g"] > 0).all() and (truth.loc[binary, "porb_d"] > 0).all()


def test_non_single_star_bits_follow_detectability(truth: pd.DataFrame) -> None:
    nss = truth["non_single_star"].to_numpy(int)
    assert truth["non_single_star"].dtype == np.int16
    assert (nss[~truth["is_binary"].to_numpy(bool)] == 0).all(), "NSS bits only on binaries"
    assert ((nss & ~7) == 0).all()
    astro = (nss & binarity.NSS_ASTROMETRIC) > 0
    spec = (nss & binarity.NSS_SPECTROSCOPIC) > 0
    eb = (nss & binarity.NSS_ECLIPSING) > 0
    assert astro.sum() >= 5 and spec.sum() >= 5 and eb.sum() >= 5, (astro.sum(), spec.sum(), eb.sum())
    assert truth.loc[eb, "is_eclipsing"].all(), "the eclipsing bit only where the stars eclipse"
    porb = truth["porb_d"].to_numpy(float)
    g = binarity.apparent_g(truth)
    # Astrometric: P within the DR3 window and the surviving wobble above the G-dependent threshold.
    assert ((porb[astro] > 100) & (porb[astro] < 3000)).all()
    seen = binarity.wobble_seen_mas(truth["alpha_phot_mas"].to_numpy(float), porb)
    assert (seen[astro] > binarity.alpha_threshold_mas(g[astro])).all()
    window = truth["is_binary"].to_numpy(bool) & (porb > 100) & (porb < 3000)
    assert not (window & (seen > binarity.alpha_threshold_mas(g)) & ~astro).any()
    # Spectroscopic: Gaia RVS orbits for G_RVS <= 12 and P < 1,000 d only.
    g_rvs = binarity.g_rvs_mag(g, truth["g_rp_mag"].to_numpy(float))
    assert (g_rvs[spec] <= 12.0).all() and (porb[spec] < 1000).all()
    # Every bright close binary is an SB (K1 ~ 60-130 km/s against epoch errors of a few km/s).
    bright_close = truth["is_close_binary"].to_numpy(bool) & (g_rvs < 11.5)
    assert bright_close.sum() >= 5 and spec[bright_close].all()
    # Twins do not wobble: the photocentre follows the light centre (B = beta).
    twins = truth["is_binary"] & (truth["q"] > 0.98)
    assert (
        truth.loc[twins, "alpha_phot_mas"]
        < 0.2 * truth.loc[twins, "a_rsun"] / 215 / truth.loc[twins, "distance_pc"] * 1000
    ).all()


def test_detectable_binary_is_close_or_eclipsing_or_spectroscopic(truth: pd.DataFrame) -> None:
    spec = (truth["non_single_star"].to_numpy(int) & binarity.NSS_SPECTROSCOPIC) > 0
    expected = truth["is_close_binary"].to_numpy(bool) | truth["is_eclipsing"].to_numpy(bool) | spec
    np.testing.assert_array_equal(truth["is_detectable_binary"].to_numpy(bool), expected)
    wide = truth["is_binary"] & ~truth["is_detectable_binary"]
    assert wide.sum() > 0.3 * truth["is_binary"].sum(), "many binaries are not detectable"
    # Each route on its own: close only, eclipsing only, spectroscopic only, astrometric only, none.
    rows = pd.DataFrame(
        {
            "is_binary": [True, True, True, True, True, False],
            "is_close_binary": [True, False, False, False, False, False],
            "is_eclipsing": [False, True, False, False, False, False],
            "non_single_star": [0, 0, binarity.NSS_SPECTROSCOPIC, binarity.NSS_ASTROMETRIC, 0, 0],
        }
    )
    assert binarity.detectable_binary(rows).tolist() == [True, True, True, False, False, False]


def _oracle_auc(df: pd.DataFrame, label: str, seed: int) -> float:
    x = binarity.observable_features(df, np.random.default_rng(seed)).to_numpy(float)
    y = df[label].to_numpy(bool)
    train = np.random.default_rng(seed + 1).random(len(df)) < 0.6
    model = HistGradientBoostingClassifier(random_state=0).fit(x[train], y[train])
    return float(roc_auc_score(y[~train], model.predict_proba(x[~train])[:, 1]))


def test_detectable_label_is_learnable_and_is_binary_is_not(truth: pd.DataFrame) -> None:
    """An oracle on what one light curve and one spectrum carry: near-perfect on the detectable label.

    It is clearly worse on is_binary (wide, faint companions leave no trace).
    """
    detectable = _oracle_auc(truth, "is_detectable_binary", seed=2)
    everything = _oracle_auc(truth, "is_binary", seed=2)
    # 0.972 before ΔRV reached the ORACLE weighted by the companion's light (profile_separation).
    assert detectable >= 0.95, detectable
    assert everything < 0.92 and detectable - everything > 0.06, (detectable, everything)


def test_the_oracles_delta_rv_is_what_the_composite_profile_shows(truth: pd.DataFrame) -> None:
    """ΔRV reaches the ORACLE weighted by the companion's light: full for twins, none without light."""
    rows = pd.DataFrame({"delta_rv_kms": [200.0, 200.0, 200.0, 0.0], "flux_ratio_g": [1.0, 0.25, 0.0, 0.0]})
    np.testing.assert_allclose(binarity.profile_separation(rows), [200.0, 160.0, 0.0, 0.0])
    seen = binarity.observable_features(truth, np.random.default_rng(5))["delta_rv_kms"].to_numpy(float)
    noise = 166.6 / np.sqrt(truth["snr_g"].to_numpy(float))
    residual = (seen - binarity.profile_separation(truth)) / noise  # the measurement noise alone
    binary = truth["is_binary"].to_numpy(bool)
    assert abs(residual[binary].mean()) < 0.15 and 0.85 < residual[binary].std() < 1.15
    fr, drv = truth["flux_ratio_g"].to_numpy(float), truth["delta_rv_kms"].to_numpy(float)
    faint = binary & (fr < 0.1) & (drv > 30)
    assert faint.sum() >= 10
    assert abs(residual[faint].mean()) < 0.75, residual[faint].mean()  # not ΔRV itself (≈ 2 here)
