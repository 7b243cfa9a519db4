"""Each simulated population's physical signature (docs/SCIENCE.md section 3), on small samples."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits

from data import extinction
from data.isochrones import EQUAL_MASS_OFFSET_MAG, main_sequence_abs_g
from data.simulate import binarity, stars
from data.simulate.lightcurve import LONG_CADENCE_D, cadence_times, flare_signal, oscillations
from data.simulate.population import SurveyConfig, draw_population
from data.simulate.spectrum import ccm89_extinction, simulate_spectrum
from data.simulate.survey import NSS_ECLIPSING, PAIR_SEPARATION_MAS, gaia_table, simulate_survey

BASE = SurveyConfig(n_stars=300, seed=21, workers=1)


def _only(population: str, n: int = 200, seed: int = 4) -> pd.DataFrame:
    config = replace(BASE, n_stars=n, population_fractions={population: 1.0})
    return draw_population(config, np.random.default_rng(seed))


@pytest.fixture(scope="module")
def mixed() -> pd.DataFrame:
    return draw_population(BASE, np.random.default_rng(BASE.seed))


def test_gyrochronology_reproduces_the_published_table() -> None:
    # SCIENCE.md 3.3, gyrointerp slow_sequence values (d).
    checks = {(0.67, 4000): 14.4, (1.0, 5500): 11.1, (2.6, 5000): 23.2, (4.0, 6000): 22.4}
    for (age, teff), prot in checks.items():
        assert stars.slow_sequence_period(np.array([teff]), np.array([age]))[0] == pytest.approx(
            prot, rel=0.03
        )
    # Beyond 4 Gyr, P ∝ t^0.5.
    p4, p9 = stars.slow_sequence_period(np.array([5500.0, 5500.0]), np.array([4.0, 9.0]))
    assert p9 / p4 == pytest.approx(1.5, rel=1e-6)
    # Above the Kraft break there is no braking: old F stars still rotate fast.
    hot = stars.gyro_period(np.full(200, 6500.0), np.full(200, 5.0), np.random.default_rng(0))
    assert np.median(hot) < 8.0
    cool = stars.gyro_period(np.full(200, 5500.0), np.full(200, 5.0), np.random.default_rng(0))
    assert np.median(cool) > 25.0


def test_li_grid_reproduces_breidablik() -> None:
    # SCIENCE.md 3.3–3.4 (breidablik 3D NLTE): (Teff, A(Li)) → EW in mÅ.
    ew = stars.lithium_ew_ma(np.array([2.2, 1.0, 3.2, 0.5]), np.array([5800, 5800, 5000, 5000]), 4.4, 0.0)
    assert ew == pytest.approx([43, 3, 365, 6], rel=0.1)


def test_sync_binaries_rotate_with_their_orbit() -> None:
    sync = _only("sync_binary")
    ratio = sync["prot_d"] / sync["porb_d"]
    locked = np.abs(ratio - 1) < 0.01
    sub = np.abs(ratio - 1.13) < 0.01
    assert (locked | sub).all() and locked.mean() > 0.7  # Lurie et al. 2017: most are synchronous
    assert sync["porb_d"].between(1, 10.0).all() and sync["synchronized"].all()
    # No Li excess: Gyr old.
    assert sync["age_gyr"].min() >= 0.9


def test_young_stars_have_more_lithium_than_old_dwarfs_of_the_same_teff(mixed: pd.DataFrame) -> None:
    young = _only("young", n=150)
    old = mixed[(mixed["population"] == "single") & (mixed["age_gyr"] > 1.0)]
    for lo, hi in ((4800, 5400), (5400, 6000)):
        y = young[young["teff_k"].between(lo, hi)]["li_ew_ma"]
        o = old[old["teff_k"].between(lo, hi)]["li_ew_ma"]
        assert len(y) >= 5 and len(o) >= 5
        assert y.median() > 3 * o.median() and y.median() > 80, (lo, hi, y.median(), o.median())


def test_equal_mass_binaries_sit_075_mag_above_the_single_sequence() -> None:
    binaries = pd.concat([_only("sync_binary", seed=5), _only("wide_binary", seed=6)], ignore_index=True)
    twins = binaries[binaries["q"] > 0.97]
    assert len(twins) >= 10
    # 2.5 log10(1 + L₂/L₁): 0.753 mag at q = 1, falling fast with q as L ∝ M^4–5.
    assert (twins["delta_g_ms_mag"] <= EQUAL_MASS_OFFSET_MAG + 1e-9).all()
    assert twins["delta_g_ms_mag"].to_numpy() == pytest.approx(EQUAL_MASS_OFFSET_MAG, abs=0.12)
    closest = twins.nlargest(3, "q")["delta_g_ms_mag"]
    assert closest.to_numpy() == pytest.approx(EQUAL_MASS_OFFSET_MAG, abs=0.04)
    low_q = binaries[binaries["q"] < 0.5]
    # A q < 0.5 companion adds little light (≤ 0.15 mag; M-dwarf primaries have a shallower
    # mass–luminosity relation, so they reach the top of that range).
    assert (low_q["delta_g_ms_mag"] < 0.15).all()
    assert low_q["delta_g_ms_mag"].median() < 0.05
    # In the observed Gaia CMD, against the MIST single-star locus: K dwarfs (no evolution) only.
    gaia = gaia_table(binaries, np.random.default_rng(0))
    singles = _only("single", seed=7)
    gs = gaia_table(singles, np.random.default_rng(1))

    def height(truth: pd.DataFrame, g: pd.DataFrame) -> pd.Series:
        colour0 = g["bp_rp"] - (truth["bp_rp_mag"] - truth["bp_rp_intrinsic_mag"])
        abs_g = g["phot_g_mean_mag"] + 5 * np.log10(g["parallax"] / 1000.0) + 5 - truth["a_g_mag"]
        locus = np.concatenate(
            [main_sequence_abs_g(colour0.to_numpy()[i : i + 1], float(f)) for i, f in enumerate(truth["feh"])]
        )
        keep = colour0.between(1.0, 1.8) & (g["parallax"] / g["parallax_error"] > 10)
        return (pd.Series(locus, index=truth.index) - abs_g)[keep]

    twin_height = height(twins, gaia.loc[twins.index]).median()
    single_height = height(singles, gs).median()
    assert twin_height - single_height == pytest.approx(EQUAL_MASS_OFFSET_MAG, abs=0.15)
    assert abs(single_height) < 0.15


def test_gaia_binarity_signatures() -> None:
    sync, wide, single = _only("sync_binary", seed=8), _only("wide_binary", seed=9), _only("single", seed=10)
    g_sync, g_wide, g_single = (gaia_table(df, np.random.default_rng(3)) for df in (sync, wide, single))
    # RUWE: ~1.0 ± 0.05 for single stars and close binaries; raised where the photocentre wobble
    # of an orbit of months to years exceeds the astrometric threshold (data.simulate.binarity).
    assert (g_sync["ruwe"] < 1.4).mean() > 0.95 and (g_single["ruwe"] < 1.4).mean() > 0.95
    assert g_single["ruwe"].median() == pytest.approx(1.0, abs=0.02) and g_single["ruwe"].std() < 0.08
    g = binarity.apparent_g(wide)
    wobble = binarity.ruwe_without_noise(binarity.wobble_seen_mas(wide["alpha_phot_mas"], wide["porb_d"]), g)
    assert (wobble > 1.6).sum() >= 10 and (g_wide.loc[wobble > 1.6, "ruwe"] > 1.4).all()
    rho_mas = 1000 * wide["a_rsun"] / binarity.RSUN_PER_AU / wide["distance_pc"]
    calm = (wobble < 1.1) & ~rho_mas.between(*PAIR_SEPARATION_MAS)
    assert calm.sum() >= 10 and (g_wide.loc[calm, "ruwe"] < 1.4).mean() > 0.95
    # Partially resolved pairs (0.1–1″, flux ratio ≥ 0.1) raise RUWE whatever their period.
    pair = rho_mas.between(*PAIR_SEPARATION_MAS) & (wide["flux_ratio_g"] >= 0.1)
    assert pair.sum() >= 5 and (g_wide.loc[pair, "ruwe"] >= 1.4).all()
    # RV scatter: radial_velocity_error and rv_amplitude_robust raised for close binaries.
    bright_sync, bright_single = g_sync["phot_g_mean_mag"] < 13, g_single["phot_g_mean_mag"] < 13
    assert (
        g_sync.loc[bright_sync, "rv_amplitude_robust"].median()
        > 5 * g_single.loc[bright_single, "rv_amplitude_robust"].median()
    )
    assert (
        g_sync.loc[bright_sync, "radial_velocity_error"].median()
        > 3 * g_single.loc[bright_single, "radial_velocity_error"].median()
    )
    assert ((g_sync.loc[bright_sync, "non_single_star"] & 2) > 0).mean() > 0.3
    assert (g_single["non_single_star"] == 0).all()
    # Eclipsing systems carry the EB bit; non-eclipsing ones never do.
    eb = sync["eclipsing"].to_numpy()
    assert eb.any() and not (g_sync.loc[~eb, "non_single_star"] & NSS_ECLIPSING).any()


def test_subgiants_and_giants_follow_mist_phases(mixed: pd.DataFrame) -> None:
    giants = mixed[mixed["population"] == "giant"]
    assert giants["evolutionary_phase"].isin(["rgb", "cheb"]).all()
    clump = giants[giants["evolutionary_phase"] == "cheb"]
    assert len(clump) >= 3 and clump["abs_g_mag"].median() == pytest.approx(0.5, abs=0.5)
    sub = mixed[mixed["population"] == "subgiant"]
    # Subgiants sit between the dwarfs and the giants.
    dwarfs = mixed[mixed["population"] == "single"]
    assert giants["abs_g_mag"].median() < sub["abs_g_mag"].median() < dwarfs["abs_g_mag"].median()
    assert (sub["delta_g_locus_mag"].dropna() > 0.5).mean() > 0.9


def test_giant_oscillations_peak_at_numax() -> None:
    t = cadence_times(0)
    star = {"logg": 2.9, "teff_k": 4800.0, "mass_msun": 1.3, "radius_rsun": 7.5, "logl": 1.5}
    flux = oscillations(t, star, np.random.default_rng(1))
    numax = stars.nu_max_uhz(np.array(2.9), np.array(4800.0))
    freq_uhz = np.linspace(20, 270, 1200)
    t_s = (t - t[0]) * 86400.0
    power = np.abs(np.exp(-2j * np.pi * np.outer(freq_uhz * 1e-6, t_s)) @ flux) ** 2
    peak = freq_uhz[np.argmax(np.convolve(power, np.ones(25) / 25, mode="same"))]
    assert peak == pytest.approx(float(numax), rel=0.2)
    assert 5e-6 < np.std(flux) < 5e-4


def test_flares_are_brief_positive_and_counted() -> None:
    t = cadence_times(0)
    flux, n = flare_signal(t, 0.5, np.random.default_rng(2))
    assert 25 <= n <= 70  # Poisson around 45 flares in 90 d
    assert (flux >= 0).all() and (flux > 1e-4).mean() < 0.2
    none, zero = flare_signal(t, 0.0, np.random.default_rng(2))
    assert zero == 0 and not none.any()
    assert LONG_CADENCE_D * t.size == pytest.approx(90.0, abs=0.1)


def test_extinction_reddens_spectra_and_colours(mixed: pd.DataFrame) -> None:
    a = ccm89_extinction(np.array([4400.0, 5500.0, 8000.0]), 0.1)
    assert a[1] == pytest.approx(0.31, abs=0.01) and a[0] > a[1] > a[2]
    star = mixed[mixed["population"] == "single"].iloc[0].to_dict()
    clear = simulate_spectrum({**star, "ebv_mag": 0.0, "snr_g": 400.0}, np.random.default_rng(0))
    dusty = simulate_spectrum({**star, "ebv_mag": 0.2, "snr_g": 400.0}, np.random.default_rng(0))
    blue, red = clear.wavelength_aa < 4500, clear.wavelength_aa > 8000
    ratio_clear = np.median(clear.flux[blue]) / np.median(clear.flux[red])
    ratio_dusty = np.median(dusty.flux[blue]) / np.median(dusty.flux[red])
    assert ratio_dusty < 0.75 * ratio_clear
    far = mixed["distance_pc"] > mixed["distance_pc"].median()
    assert mixed.loc[far, "ebv_mag"].mean() > mixed.loc[~far, "ebv_mag"].mean()
    # Colours redden by the Gaia EDR3 law at each star's intrinsic colour, G − RP and BP − RP alike.
    colour0, ebv = mixed["bp_rp_intrinsic_mag"], mixed["ebv_mag"]
    a_g, a_bp, a_rp = (f(colour0, ebv) for f in (extinction.a_g, extinction.a_bp, extinction.a_rp))
    assert np.allclose(mixed["a_g_mag"], a_g)
    assert np.allclose(mixed["bp_rp_mag"] - colour0, a_bp - a_rp)
    assert np.allclose(mixed["g_rp_mag"] - mixed["g_rp_intrinsic_mag"], a_g - a_rp)
    assert (mixed["abs_g_intrinsic_mag"] == mixed["abs_g_mag"]).all()


def test_files_do_not_depend_on_worker_count(tmp_path: Path) -> None:
    config = replace(BASE, n_stars=60, seed=3)
    one = simulate_survey(replace(config, workers=1), tmp_path / "one", progress=False)
    two = simulate_survey(replace(config, workers=2), tmp_path / "two", progress=False)
    assert one.n_written == two.n_written == 60
    files = sorted(p.relative_to(tmp_path / "one") for p in (tmp_path / "one").rglob("*.fits"))
    assert len(files) == 120
    for rel in files[::7]:
        with fits.open(tmp_path / "one" / rel) as a, fits.open(tmp_path / "two" / rel) as b:
            for ha, hb in zip(a, b, strict=True):
                if ha.data is None:
                    continue
                if isinstance(ha, fits.BinTableHDU):
                    for name in ha.columns.names:
                        np.testing.assert_array_equal(ha.data[name], hb.data[name])
                else:
                    np.testing.assert_array_equal(ha.data, hb.data)
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "one" / "truth.parquet"),
        pd.read_parquet(tmp_path / "two" / "truth.parquet"),
    )
