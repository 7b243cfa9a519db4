"""Simulated LAMOST spectra: SNR_g as in LAMOST-Kepler, and Li 6708 of binaries diluted once, by light."""

from __future__ import annotations

import numpy as np
import pytest

from data.lamost import lamost_grid
from data.simulate import stars
from data.simulate.population import SurveyConfig, draw_population
from data.simulate.spectrum import C_KMS, LI_VAC_AA, planck, simulate_spectrum

PRIMARY = {
    "teff_k": 5800.0,
    "logg": 4.45,
    "feh": 0.0,
    "radius_rsun": 1.0,
    "rv_kms": 20.0,
    "k1_kms": 0.0,
    "k2_kms": 0.0,
    "orbit_phase": 0.0,
    "halpha_fill": 0.0,
    "li_ew_ma": 200.0,
    "is_binary": False,
    "snr_g": 1e7,  # noiseless for EW purposes
    "ebv_mag": 0.0,
}


def _measured_li_ew_ma(star: dict) -> float:
    """Composite Li EW (mÅ): 1 − F/F(no Li) integrated over ±10 Å of the line, on the native grid."""
    wave = lamost_grid()
    with_li = simulate_spectrum(star, np.random.default_rng(0)).flux
    no_li = simulate_spectrum({**star, "li_ew_ma": 0.0, "li2_ew_ma": 0.0}, np.random.default_rng(0)).flux
    window = np.abs(wave - LI_VAC_AA * (1 + star["rv_kms"] / C_KMS)) < 10.0
    return 1000.0 * float(np.sum((1.0 - with_li / no_li)[window] * np.gradient(wave)[window]))


def _binary(companion: dict) -> dict:
    return {**PRIMARY, "is_binary": True, **companion}


def test_an_equal_mass_twin_shows_the_single_stars_li() -> None:
    single = _measured_li_ew_ma(PRIMARY)
    assert single == pytest.approx(PRIMARY["li_ew_ma"], rel=0.05)
    twin = _binary(
        {"teff2_k": 5800.0, "logg2": 4.45, "radius2_rsun": 1.0, "li2_ew_ma": 200.0, "flux_ratio_g": 1.0}
    )
    assert _measured_li_ew_ma(twin) == pytest.approx(single, rel=0.10)


def test_a_q_half_binary_shows_the_light_weighted_li_of_both_stars() -> None:
    """A young 1 + 0.5 M☉ pair: the cool companion's own Li (stronger at its Teff) is diluted once."""
    teff2, logg2, radius2, age = 3900.0, 4.75, 0.48, 0.1
    a_li2 = stars.lithium_abundance(np.array([teff2]), np.array([age]), np.random.default_rng(1))
    li2 = float(stars.lithium_ew_ma(a_li2, np.array([teff2]), logg2, 0.0)[0])
    flux_ratio_g = radius2**2 * planck(np.array([4800.0]), teff2)[0] / planck(np.array([4800.0]), 5800.0)[0]
    star = _binary(
        {
            "teff2_k": teff2,
            "logg2": logg2,
            "radius2_rsun": radius2,
            "li2_ew_ma": li2,
            "flux_ratio_g": flux_ratio_g,
        }
    )
    alone = {**PRIMARY, "teff_k": teff2, "logg": logg2, "radius_rsun": radius2, "li_ew_ma": li2}
    ew1, ew2 = _measured_li_ew_ma(PRIMARY), _measured_li_ew_ma(alone)  # each star on its own
    w1 = PRIMARY["radius_rsun"] ** 2 * planck(np.array([LI_VAC_AA]), PRIMARY["teff_k"])[0]
    w2 = radius2**2 * planck(np.array([LI_VAC_AA]), teff2)[0]  # continuum light at 6708 Å
    light_weighted = (w1 * ew1 + w2 * ew2) / (w1 + w2)
    twice_diluted = (w1 * ew1 + w2 * ew1 * flux_ratio_g) / (w1 + w2)
    assert abs(light_weighted - twice_diluted) > 0.08 * light_weighted, "the test must tell them apart"
    assert _measured_li_ew_ma(star) == pytest.approx(light_weighted, rel=0.02)


def test_companions_get_li_from_their_own_teff_and_age() -> None:
    df = draw_population(SurveyConfig(n_stars=300, seed=5), np.random.default_rng(5))
    binary = df[df["is_binary"]]
    assert len(binary) > 30 and df.loc[~df["is_binary"], "li2_ew_ma"].isna().all()
    expected_ew = stars.lithium_ew_ma(
        binary["a_li2"].to_numpy(),
        binary["teff2_k"].to_numpy(),
        binary["logg2"].to_numpy(),
        binary["feh"].to_numpy(),
    )
    np.testing.assert_allclose(binary["li2_ew_ma"], expected_ew, rtol=1e-9)
    # A(Li) follows the depletion recipe at the companion's Teff and the system's age (0.1 dex scatter).
    teff2, age = binary["teff2_k"].to_numpy(), binary["age_gyr"].to_numpy()
    c = 1.0 + 1.5 * np.clip((6000.0 - teff2) / 1000.0, 0.0, 1.0)
    recipe = np.clip(3.3 - c * np.log10(1.0 + (age / 0.3) ** 1.5), -0.5, 3.4)
    assert np.abs(binary["a_li2"].to_numpy() - recipe).max() < 0.5


def test_snr_follows_lamost_kepler_and_magnitude() -> None:
    df = draw_population(SurveyConfig(n_stars=2000, seed=4), np.random.default_rng(4))
    snr = df["snr_g"].to_numpy()
    assert 24 < np.median(snr) < 33, f"median SNR_g {np.median(snr):.1f}"
    assert 0.78 < np.mean(snr > 10) < 0.90, f"{np.mean(snr > 10):.0%} above 10"
    assert 0.22 < np.mean(snr > 50) < 0.38, f"{np.mean(snr > 50):.0%} above 50"
    g = df["abs_g_mag"] + 5 * np.log10(df["distance_pc"]) - 5 + df["a_g_mag"]
    bright, faint = snr[g < np.quantile(g, 0.25)], snr[g > np.quantile(g, 0.75)]
    assert np.median(bright) > 2.5 * np.median(faint), "brighter stars get better spectra"
