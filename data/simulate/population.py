"""Stellar populations of the simulated Kepler field and their truth table.

Six populations (``docs/SCIENCE.md`` section 3): field singles, young (< 300 Myr) singles,
tidally synchronized close binaries, wide binaries, red giants and subgiants. Each recipe is one
function ``_draw_<population>(n, config, rng) -> dict of arrays``; adding a population means its
name and colour in ``data.schema.POPULATIONS``, and here one function and one fraction.
Observables shared by all (distance, extinction, IDs, RVs) follow.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from data import extinction, isochrones
from data.schema import GIANT, POPULATION_NAMES, SINGLE, SUBGIANT, SYNC_BINARY, WIDE_BINARY, YOUNG
from data.simulate import binarity, stars

#: The populations drawn (``data.schema.POPULATIONS``: names and colours); recipes and fractions below.
POPULATIONS = POPULATION_NAMES
KEPLER_FIELD_RA_DEC = (290.67, 44.5)
K_CONST_KMS = 212.9  # K = 212.9 P^(−1/3) m₂ (m₁+m₂)^(−2/3) km/s, P in d, m in M☉
A_CONST_RSUN = 4.2084  # a = 4.2084 (M/M☉)^(1/3) (P/d)^(2/3) R☉
LRS_FWHM_KMS = 166.6  # c / 1800: lines double at LAMOST LRS above this separation
# Extinction towards the Kepler field: E(B−V) = 0.18 (1 − e^(−d / 800 pc)) (our law; the
# Burstein–Heiles total at the field centre is 0.10, SCIENCE.md 4.4). A_G, A_BP and A_RP follow
# from E(B−V) and the intrinsic colour by the Gaia EDR3 law (data/extinction.py).
EBV_MAX_MAG = 0.18
EBV_SCALE_PC = 800.0


def _default_fractions() -> dict[str, float]:
    return {
        SINGLE: 0.55,
        YOUNG: 0.10,
        SYNC_BINARY: 0.10,
        WIDE_BINARY: 0.12,
        GIANT: 0.08,
        SUBGIANT: 0.05,
    }


@dataclass(frozen=True)
class SurveyConfig:
    """What to simulate: size, seed, population mix and observing set-up."""

    n_stars: int = 2500
    seed: int = 0
    population_fractions: dict[str, float] = field(default_factory=_default_fractions)
    feh_mean: float = -0.1
    feh_std: float = 0.25
    lc_quarters: int = 1
    spectrum_layout: Literal["table", "image"] = "table"
    kepmag_range: tuple[float, float] = (10.0, 16.0)
    spectrum_snr_median: float = 28.0  # survey median SNR_g, LAMOST-Kepler LRS (see _activity)
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)


def population_counts(config: SurveyConfig) -> dict[str, int]:
    """Integer counts per population that sum to ``n_stars`` (largest-remainder rounding)."""
    names = [name for name in POPULATIONS if config.population_fractions.get(name, 0) > 0]
    weights = np.array([config.population_fractions[name] for name in names], dtype=float)
    exact = weights / weights.sum() * config.n_stars
    counts = np.floor(exact).astype(int)
    for i in np.argsort(-(exact - counts))[: config.n_stars - counts.sum()]:
        counts[i] += 1
    return dict(zip(names, counts.tolist(), strict=True))


def _log_uniform(rng: np.random.Generator, lo: float, hi: float, n: int) -> np.ndarray:
    return np.exp(rng.uniform(np.log(lo), np.log(hi), n))


def _dwarf_mass(rng: np.random.Generator, n: int) -> np.ndarray:
    # Kepler targets are mostly FGK: a broad bump around 0.95 M☉.
    return np.clip(rng.normal(0.95, 0.2, n), 0.45, 1.35)


def _dwarfs(mass: np.ndarray, age_gyr: np.ndarray, feh: np.ndarray) -> tuple[dict, np.ndarray]:
    """MIST main-sequence properties; stars past the turn-off get younger until they are on it."""
    age = np.array(age_gyr, dtype=float)
    props = isochrones.main_sequence_stars(mass, age, feh)
    for _ in range(30):
        off = ~np.isfinite(props["teff_k"]) | ~np.isfinite(props["abs_g_mag"])
        if not off.any():
            break
        age[off] *= 0.8
        fix = isochrones.main_sequence_stars(mass[off], age[off], feh[off])
        for key, values in fix.items():
            props[key][off] = values
    else:
        raise RuntimeError("could not place dwarfs on the MIST main sequence")
    return props, age


def _single(
    n: int,
    rng: np.random.Generator,
    age_gyr: np.ndarray,
    feh: np.ndarray,
    mass: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    mass = _dwarf_mass(rng, n) if mass is None else mass
    props, age_gyr = _dwarfs(mass, age_gyr, feh)
    props.update(mass_msun=props["mass_msun"], age_gyr=age_gyr, feh=feh)
    props["prot_d"] = stars.gyro_period(props["teff_k"], age_gyr, rng)
    props["a_li"] = stars.lithium_abundance(props["teff_k"], age_gyr, rng)
    return props


def _draw_single(n: int, config: SurveyConfig, rng: np.random.Generator, feh: np.ndarray) -> dict:
    mass = _dwarf_mass(rng, n)
    t_ms = 10.0 * mass**-2.5  # rough main-sequence lifetime (Gyr); MIST decides in _dwarfs
    # Log-uniform ages from 0.5 Gyr to the MS lifetime: Kepler rotators are biased young.
    age = np.exp(rng.uniform(np.log(0.5), np.log(np.clip(t_ms, 0.8, 10.0)), n))
    return _single(n, rng, age, feh, mass)


def _draw_young(n: int, config: SurveyConfig, rng: np.random.Generator, feh: np.ndarray) -> dict:
    props = _single(n, rng, _log_uniform(rng, 0.1, 0.3, n), feh)
    # Fast-rotator tail before convergence on the slow sequence (SCIENCE.md 3.4): log-uniform
    # between 1.2 d and the slow-sequence period at the star's age (kept within 4–9 d). Spot
    # amplitudes follow from the Rossby number in `_spots`, as for every dwarf.
    p_slow = np.clip(stars.slow_sequence_period(props["teff_k"], props["age_gyr"]), 4.0, 9.0)
    props["prot_d"] = np.exp(rng.uniform(np.log(1.2), np.log(p_slow)))
    return props


def _companion(props: dict, q: np.ndarray, feh: np.ndarray) -> dict[str, np.ndarray]:
    """Add the companion (a coeval dwarf of initial mass q·M₁) and the combined photometry."""
    comp = isochrones.main_sequence_stars(np.clip(q * props["mass_msun"], 0.102, None), props["age_gyr"], feh)
    if not np.isfinite(comp["abs_g_mag"]).all():
        raise RuntimeError("a companion fell off the MIST main sequence")
    m_rp1 = props["abs_g_mag"] - props["g_rp_mag"]
    m_rp2 = comp["abs_g_mag"] - comp["g_rp_mag"]
    m_bp1, m_bp2 = m_rp1 + props["bp_rp_mag"], m_rp2 + comp["bp_rp_mag"]

    def add(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return -2.5 * np.log10(10 ** (-0.4 * a) + 10 ** (-0.4 * b))

    total_g = add(props["abs_g_mag"], comp["abs_g_mag"])
    out = dict(props)
    out.update(
        mass2_msun=comp["mass_msun"],
        q=comp["mass_msun"] / props["mass_msun"],
        teff2_k=comp["teff_k"],
        radius2_rsun=comp["radius_rsun"],
        logg2=comp["logg"],
        flux_ratio_g=10 ** (-0.4 * (comp["abs_g_mag"] - props["abs_g_mag"])),
        delta_g_ms_mag=props["abs_g_mag"] - total_g,
        abs_g_mag=total_g,
        bp_rp_mag=add(m_bp1, m_bp2) - add(m_rp1, m_rp2),
        g_rp_mag=total_g - add(m_rp1, m_rp2),
        logl=np.log10(10 ** props["logl"] + 10 ** comp["logl"]),
    )
    return out


def _draw_sync_binary(n: int, config: SurveyConfig, rng: np.random.Generator, feh: np.ndarray) -> dict:
    props = _single(n, rng, rng.uniform(1.0, 8.0, n), feh)
    q = np.where(rng.random(n) < 0.8, rng.uniform(0.7, 1.0, n), rng.uniform(0.3, 0.7, n))
    porb = _log_uniform(rng, 1.0, 10.0, n)
    # Lurie et al. 2017: most are synchronized, a sub-synchronous group at 1.13 P_orb.
    props["prot_d"] = porb * np.where(rng.random(n) < 0.2, 1.13, 1.0)
    out = _companion(props, q, feh)
    # Both components are tidally locked to the orbit (the companion rotates with the primary).
    out.update(
        porb_d=porb, prot2_d=props["prot_d"], synchronized=np.ones(n, bool), is_binary=np.ones(n, bool)
    )
    return out


def _draw_wide_binary(n: int, config: SurveyConfig, rng: np.random.Generator, feh: np.ndarray) -> dict:
    props = _draw_single(n, config, rng, feh)
    q = rng.uniform(0.1, 1.0, n)  # roughly flat q (Raghavan et al. 2010)
    # Raghavan log-normal (median log P = 5.0, σ = 2.3), truncated to P > 30 d: not synchronized.
    log_p = rng.normal(5.0, 2.3, n)
    while (bad := (log_p < 1.5) | (log_p > 7.5)).any():
        log_p[bad] = rng.normal(5.0, 2.3, int(bad.sum()))
    out = _companion(props, q, feh)
    # The companion spins down on its own (coeval gyrochronology at its Teff).
    prot2 = stars.gyro_period(out["teff2_k"], out["age_gyr"], rng)
    out.update(porb_d=10**log_p, prot2_d=prot2, synchronized=np.zeros(n, bool), is_binary=np.ones(n, bool))
    return out


def _draw_evolved(n: int, rng: np.random.Generator, feh: np.ndarray, *, giant: bool) -> dict:
    """Subgiants or giants (RGB and red clump) drawn from the MIST isochrones' own phases.

    Ages are log-uniform over 0.8–10 Gyr; along each isochrone a point is drawn ∝ IMF × Δm
    (:func:`data.isochrones.evolved_stars`), which weights each branch by its lifetime.
    """
    phases = ("rgb", "cheb") if giant else ("subgiant",)
    age = _log_uniform(rng, 0.8, 10.0, n)
    drawn = isochrones.evolved_stars(age, feh, phases, rng)
    for _ in range(20):
        bad = drawn["teff_k"].isna().to_numpy() | drawn["abs_g_mag"].isna().to_numpy()
        if not bad.any():
            break
        age[bad] = _log_uniform(rng, 0.8, 10.0, int(bad.sum()))
        redo = isochrones.evolved_stars(age[bad], feh[bad], phases, rng)
        for column in drawn.columns:
            drawn.loc[bad, column] = redo[column].to_numpy()
    else:
        raise RuntimeError(f"could not draw {phases} stars from the MIST grid")
    props = {
        key: drawn[key].to_numpy(dtype=float)
        for key in (
            "mass_msun",
            "teff_k",
            "logg",
            "logl",
            "radius_rsun",
            "abs_g_mag",
            "bp_rp_mag",
            "g_rp_mag",
        )
    }
    props["evolutionary_phase"] = drawn["phase"].to_numpy(dtype=object)
    if giant:
        prot = _log_uniform(rng, 40.0, 200.0, n)
        amp = _log_uniform(rng, 0.005, 0.05, n)
        # ~1 % of giants are Li-rich, A(Li) ≥ 2 (Gao et al. 2019).
        a_li = np.where(rng.random(n) < 0.01, rng.uniform(2.0, 3.0, n), rng.normal(0.8, 0.4, n))
    else:
        prot = _log_uniform(rng, 15.0, 60.0, n)
        amp = _log_uniform(rng, 0.02, 0.2, n)
        a_li = rng.normal(1.5, 0.4, n)
    props.update(feh=feh, age_gyr=age, prot_d=prot, spot_amp_pct=amp, a_li=a_li)
    return props


_RECIPES: dict[str, Callable[..., dict]] = {
    SINGLE: _draw_single,
    YOUNG: _draw_young,
    SYNC_BINARY: _draw_sync_binary,
    WIDE_BINARY: _draw_wide_binary,
    GIANT: lambda n, config, rng, feh: _draw_evolved(n, rng, feh, giant=True),
    SUBGIANT: lambda n, config, rng, feh: _draw_evolved(n, rng, feh, giant=False),
}

_BINARY_DEFAULTS = {
    "mass2_msun": np.nan,
    "q": np.nan,
    "teff2_k": np.nan,
    "radius2_rsun": np.nan,
    "logg2": np.nan,
    "flux_ratio_g": 0.0,
    "delta_g_ms_mag": 0.0,
    "porb_d": np.nan,
    "prot2_d": np.nan,
    "synchronized": False,
    "is_binary": False,
}


def _locus_height(df: pd.DataFrame) -> None:
    """Height above the MIST single-star main sequence in G at the star's colour and [Fe/H].

    Positive above the sequence: ≈ delta_g_ms_mag for dwarf binaries, plus evolution for old G
    dwarfs and several magnitudes for giants; NaN off the locus's colour range. The locus is at
    [Fe/H] rounded to 0.05 dex (cached per value). Dereddened convention: it runs before
    ``_place`` reddens, so it measures the intrinsic colour and M_G.
    """
    height = np.full(len(df), np.nan)
    feh_key = np.round(df["feh"].to_numpy() / 0.05) * 0.05
    colour, mag = df["bp_rp_mag"].to_numpy(), df["abs_g_mag"].to_numpy()
    for value in np.unique(feh_key):
        sel = feh_key == value
        height[sel] = isochrones.main_sequence_abs_g(colour[sel], float(value)) - mag[sel]
    df["delta_g_locus_mag"] = height


def _orbits(df: pd.DataFrame, rng: np.random.Generator) -> None:
    """Inclination, semi-amplitudes and the velocity separation at the spectrum epoch."""
    n = len(df)
    df["inclination_deg"] = np.degrees(np.arccos(rng.uniform(0.0, 1.0, n)))
    # Spin axis = orbit axis (spin–orbit aligned); v_eq = 50.6 km/s (R/R☉)/(P/d).
    sin_spin = np.sin(np.radians(df["inclination_deg"].to_numpy()))
    df["vsini_kms"] = 50.6 * df["radius_rsun"] / df["prot_d"] * sin_spin
    df["vsini2_kms"] = np.nan_to_num(50.6 * df["radius2_rsun"] / df["prot_d"] * sin_spin)
    m1, m2, p = df["mass_msun"].to_numpy(), df["mass2_msun"].to_numpy(), df["porb_d"].to_numpy()
    sin_i = np.sin(np.radians(df["inclination_deg"].to_numpy()))
    with np.errstate(invalid="ignore"):
        k1 = K_CONST_KMS * p ** (-1 / 3) * m2 * (m1 + m2) ** (-2 / 3) * sin_i
        k2 = k1 * m1 / m2
        df["a_rsun"] = A_CONST_RSUN * (m1 + m2) ** (1 / 3) * p ** (2 / 3)
    df["k1_kms"] = np.nan_to_num(k1)
    df["k2_kms"] = np.nan_to_num(k2)
    df["orbit_phase"] = rng.uniform(0.0, 1.0, n)
    df["delta_rv_kms"] = (df["k1_kms"] + df["k2_kms"]) * np.abs(np.sin(2 * np.pi * df["orbit_phase"]))
    df["sb2_visible"] = (df["porb_d"] < 3.0) & (df["delta_rv_kms"] > LRS_FWHM_KMS)
    # Eclipses where the projected separation at conjunction is below R₁ + R₂.
    r_sum = df["radius_rsun"].to_numpy() + np.nan_to_num(df["radius2_rsun"].to_numpy())
    with np.errstate(invalid="ignore"):
        grazing = df["a_rsun"].to_numpy() * np.cos(np.radians(df["inclination_deg"].to_numpy())) < r_sum
    df["is_eclipsing"] = df["is_binary"].to_numpy() & np.nan_to_num(grazing, nan=False).astype(bool)
    # Backward-compatible alias read by the light-curve simulator; new code reads is_eclipsing.
    df["eclipsing"] = df["is_eclipsing"]
    df["is_close_binary"] = df["is_binary"].to_numpy() & (df["porb_d"].to_numpy() < binarity.CLOSE_PORB_D)
    df["rv_kms"] = rng.normal(-20.0, 30.0, n)  # systemic velocity, thin/thick disc mix


def _place(df: pd.DataFrame, config: SurveyConfig, rng: np.random.Generator) -> None:
    """Distances so that Kepler magnitudes span ``kepmag_range``; extinction by distance.

    Adds distance_pc, ebv_mag, a_g_mag, a_bp_mag, a_rp_mag and kepmag; keeps the intrinsic
    photometry as bp_rp_intrinsic_mag, g_rp_intrinsic_mag and abs_g_intrinsic_mag, and reddens
    bp_rp_mag and g_rp_mag (abs_g_mag stays intrinsic: apparent G adds A_G).
    """
    n = len(df)
    lo, hi = config.kepmag_range
    # Star counts rise towards faint magnitudes: p(Kp) ∝ 10^(0.25 Kp) on [lo, hi].
    u = rng.random(n)
    kp = np.log10(10 ** (0.25 * lo) + u * (10 ** (0.25 * hi) - 10 ** (0.25 * lo))) / 0.25
    # Kp − G ≈ 0.07 + 0.12 (BP−RP − 0.8): a rough linear colour term (our approximation).
    colour0 = df["bp_rp_mag"].to_numpy()
    g_app = kp - 0.07 - 0.12 * (colour0 - 0.8)
    a_g = np.zeros(n)
    for _ in range(4):  # E(B−V) grows with distance towards EBV_MAX_MAG (Kepler field, b ≈ +13°)
        dist = 10 ** ((g_app - df["abs_g_mag"].to_numpy() - a_g + 5) / 5)
        ebv = EBV_MAX_MAG * (1 - np.exp(-dist / EBV_SCALE_PC))
        a_g = extinction.a_g(colour0, ebv)
    a_bp, a_rp = extinction.a_bp(colour0, ebv), extinction.a_rp(colour0, ebv)
    df["distance_pc"] = dist
    df["ebv_mag"] = ebv
    df["a_g_mag"] = a_g
    df["a_bp_mag"] = a_bp
    df["a_rp_mag"] = a_rp
    df["kepmag"] = kp
    df["abs_g_intrinsic_mag"] = df["abs_g_mag"]
    df["bp_rp_intrinsic_mag"] = df["bp_rp_mag"]
    df["g_rp_intrinsic_mag"] = df["g_rp_mag"]
    df["bp_rp_mag"] = df["bp_rp_mag"] + (a_bp - a_rp)
    df["g_rp_mag"] = df["g_rp_mag"] + (a_g - a_rp)
    ra0, dec0 = KEPLER_FIELD_RA_DEC
    df["ra_deg"] = ra0 + rng.uniform(-7, 7, n) / np.cos(np.radians(dec0))
    df["dec_deg"] = dec0 + rng.uniform(-7, 7, n)


def _unique_ints(rng: np.random.Generator, lo: int, hi: int, n: int) -> np.ndarray:
    values = np.unique(rng.integers(lo, hi, size=n + 16, dtype=np.int64))
    while values.size < n:
        values = np.unique(np.concatenate([values, rng.integers(lo, hi, size=n, dtype=np.int64)]))
    return (
        rng.permutation(values[:n])
        if values.size == n
        else rng.permutation(rng.choice(values, n, replace=False))
    )


def _identify(df: pd.DataFrame, config: SurveyConfig, rng: np.random.Generator) -> None:
    n = len(df)
    df.insert(0, "star_id", np.arange(n, dtype=np.int64))
    df.insert(1, "kic_id", _unique_ints(rng, 1_000_000, 13_000_000, n))
    df.insert(2, "lamost_obsid", _unique_ints(rng, 100_000_000, 999_999_999, n))
    # Kepler-field Gaia DR3 ids are ~2.1e18, far above 2**53.
    df.insert(
        3,
        "gaia_source_id",
        _unique_ints(rng, 2_050_000_000_000_000_000, 2_140_000_000_000_000_000, n),
    )


# Spectrum SNR_g: photon noise (SNR ∝ √flux ∝ 10^(−0.2 G)) times a log-normal scatter at fixed G
# (moon, seeing, fibre placement, bright/faint plates). Matched to the LAMOST-Kepler LRS spectra (De
# Cat et al. 2015, ApJS 220, 19; Zong et al. 2018, ApJS 238, 30, arXiv:1810.02753; Fu et al. 2020,
# RAA, arXiv:2008.10776): on the default survey the median SNR_g is 28, 84 % of spectra are above
# 10, 30 % above 50 and 13 % above 100. Approximate: these are our reading of the SNR_g histograms of
# those papers, not values digitised from a figure. The counts we checked agree: 88,628 first-round
# spectra with SNR_g ≥ 6 (Ren et al. 2016, arXiv:1607.01453) and LASP parameters (SNR_g ≥ 6 to 15
# needed) for 173,971 of 227,870 spectra, 76 % (Zong et al. 2018); here 94 % have SNR_g ≥ 6.
SNR_PIVOT_G_MAG = 14.5  # G at which the SNR_g scatters about config.spectrum_snr_median
SNR_SCATTER_LN = 0.9  # σ of ln SNR_g at fixed G (our choice, tuned to the fractions above)


def _activity(df: pd.DataFrame, config: SurveyConfig, rng: np.random.Generator) -> None:
    """Rossby number, Hα filling, Li EW and the spectrum SNR."""
    ro = df["prot_d"] / stars.convective_turnover_d(df["mass_msun"].to_numpy())
    df["rossby"] = ro
    # Saturated (filled) for Ro ≲ 0.1, none by Ro ≈ 1 (SCIENCE.md 3.4: Hα tracks rotation, not age).
    df["halpha_fill"] = np.clip(1.0 - np.log10(np.clip(ro, 1e-3, None) / 0.1), 0.0, 1.0)
    df.loc[df["logg"] < 3.5, "halpha_fill"] = 0.0
    # Flare rate (flares/day with peak ≥ 0.1 %): saturated at 0.3 /d for Ro ≲ 0.13, falling as
    # Ro⁻² (our recipe after Davenport 2016's rate–Rossby trend); none on giants or above the Kraft break.
    df["flare_rate_per_d"] = np.where(
        df["logg"] >= 3.5, 0.3 * np.clip(0.13 / np.clip(ro, 1e-3, None), 0, 1) ** 2, 0.0
    )
    df["li_ew_ma"] = stars.lithium_ew_ma(
        df["a_li"].to_numpy(), df["teff_k"].to_numpy(), df["logg"].to_numpy(), df["feh"].to_numpy()
    )
    # The companion's own A(Li) and Li 6708 EW at its Teff and logg and the common age (NaN for
    # singles); the composite spectrum dilutes it by light once (spectrum.simulate_spectrum).
    binary = df["is_binary"].to_numpy(bool)
    teff2 = np.where(binary, df["teff2_k"].to_numpy(), stars.TEFF_SUN_K)  # placeholder, masked below
    a_li2 = stars.lithium_abundance(teff2, df["age_gyr"].to_numpy(), rng)
    li2 = stars.lithium_ew_ma(a_li2, teff2, np.where(binary, df["logg2"], 4.4), df["feh"].to_numpy())
    df["a_li2"] = np.where(binary, a_li2, np.nan)
    df["li2_ew_ma"] = np.where(binary, li2, np.nan)
    g = df["abs_g_mag"] + 5 * np.log10(df["distance_pc"]) - 5 + df["a_g_mag"]
    snr = config.spectrum_snr_median * 10 ** (-0.2 * (g - SNR_PIVOT_G_MAG))
    df["snr_g"] = np.clip(snr * np.exp(rng.normal(0, SNR_SCATTER_LN, len(df))), 4.0, 400.0)


def _spots(df: pd.DataFrame, rng: np.random.Generator) -> None:
    """Spot amplitude, lifetime and shear of every dwarf and dwarf companion, from physics only.

    Amplitude from the Rossby number, decay time from Teff, shear from Teff and Prot
    (:mod:`data.simulate.stars`); the population label is never read, so a synchronized binary
    and a young single star with the same Prot and Teff draw from one light-curve distribution.
    What differs is physical: a binary's light is shared with a spotted companion, and close
    orbits add ellipsoidal variation and eclipses (:mod:`data.simulate.lightcurve`).
    Evolved stars keep the amplitudes drawn with their phase (`_draw_evolved`).
    """
    n = len(df)
    dwarf = (df["evolutionary_phase"].astype(str) == "ms").to_numpy()
    teff, prot = df["teff_k"].to_numpy(), df["prot_d"].to_numpy()
    amp = stars.spot_amplitude_pct(df["rossby"].to_numpy(), rng)
    evolved_amp = df["spot_amp_pct"].to_numpy(dtype=float) if "spot_amp_pct" in df else np.full(n, np.nan)
    df["spot_amp_pct"] = np.where(dwarf, amp, evolved_amp)
    # Evolved stars: a few rotations (giant spots are short-lived relative to their long periods).
    df["spot_decay_rot"] = np.where(dwarf, stars.spot_decay_rotations(teff, rng), _log_uniform(rng, 1, 5, n))
    df["shear"] = stars.differential_rotation_shear(teff, prot, rng)
    comp = df["is_binary"].to_numpy() & np.isfinite(df["teff2_k"].to_numpy())
    teff2 = np.where(comp, df["teff2_k"].to_numpy(), 5000.0)
    prot2 = np.where(comp, df["prot2_d"].to_numpy(), 10.0)
    mass2 = np.where(comp, df["mass2_msun"].to_numpy(), 0.8)
    ro2 = prot2 / stars.convective_turnover_d(mass2)
    df["rossby2"] = np.where(comp, ro2, np.nan)
    df["spot_amp2_pct"] = np.where(comp, stars.spot_amplitude_pct(ro2, rng), np.nan)
    df["spot_decay2_rot"] = np.where(comp, stars.spot_decay_rotations(teff2, rng), np.nan)
    df["shear2"] = np.where(comp, stars.differential_rotation_shear(teff2, prot2, rng), np.nan)


def draw_population(config: SurveyConfig, rng: np.random.Generator) -> pd.DataFrame:
    """Draw the truth table of a simulated survey (one row per star, shuffled).

    Returns
    -------
    pandas.DataFrame
        star_id, kic_id, lamost_obsid, gaia_source_id, population, is_binary, masses, q, age_gyr,
        feh, teff_k, logg, logl, radius_rsun, prot_d, porb_d, synchronized, a_li, li_ew_ma,
        delta_g_ms_mag, delta_g_locus_mag (in the intrinsic CMD), sb2_visible, inclination_deg,
        ebv_mag, a_g_mag, a_bp_mag, a_rp_mag, distance_pc, bp_rp_mag and g_rp_mag (reddened),
        bp_rp_intrinsic_mag, g_rp_intrinsic_mag, abs_g_mag = abs_g_intrinsic_mag (M_G without
        extinction), spot_amp_pct and the orbit/activity columns the file writers need.
        Binary labels for binning and scoring: flux_ratio_g, porb_d, is_close_binary, is_eclipsing
        (``eclipsing`` is its alias), non_single_star, is_detectable_binary, alpha_phot_mas and
        eclipse_depth (:mod:`data.simulate.binarity`).
    """
    frames = []
    for name, n in population_counts(config).items():
        if n == 0:
            continue
        feh = np.clip(rng.normal(config.feh_mean, config.feh_std, n), -1.0, 0.5)
        props = _RECIPES[name](n, config, rng, feh)
        frame = pd.DataFrame({k: np.asarray(v) for k, v in props.items()})
        for key, default in _BINARY_DEFAULTS.items():
            if key not in frame:
                frame[key] = default
        if "evolutionary_phase" not in frame:
            frame["evolutionary_phase"] = "ms"
        frame.insert(0, "population", name)
        frames.append(frame)
    df = pd.concat(frames, ignore_index=True)
    df = df.iloc[rng.permutation(len(df))].reset_index(drop=True)
    df["is_binary"] = df["is_binary"].astype(bool)
    df["synchronized"] = df["synchronized"].astype(bool)
    _locus_height(df)
    _orbits(df, rng)
    _place(df, config, rng)
    binarity.add_observer_labels(df)  # deterministic: needs _orbits and _place, draws nothing
    _identify(df, config, rng)
    _activity(df, config, rng)
    _spots(df, rng)
    df["population"] = df["population"].astype("string")
    df["evolutionary_phase"] = df["evolutionary_phase"].astype("string")
    return df
