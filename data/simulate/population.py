"""Stellar populations of the simulated Kepler field and their truth table.

Six populations (``docs/SCIENCE.md`` section 3): field singles, young (< 300 Myr) singles,
tidally synchronized close binaries, wide binaries, red giants and subgiants. Each recipe is one
function ``_draw_<population>(n, config, rng) -> dict of arrays``; adding a population means adding
one function and one fraction. Observables shared by all (distance, extinction, IDs, RVs) follow.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from data.simulate import stars

POPULATIONS = ("single", "young", "sync_binary", "wide_binary", "giant", "subgiant")
KEPLER_FIELD_RA_DEC = (290.67, 44.5)
K_CONST_KMS = 212.9  # K = 212.9 P^(−1/3) m₂ (m₁+m₂)^(−2/3) km/s, P in d, m in M☉
A_CONST_RSUN = 4.2084  # a = 4.2084 (M/M☉)^(1/3) (P/d)^(2/3) R☉
LRS_FWHM_KMS = 166.6  # c / 1800: lines double at LAMOST LRS above this separation


def _default_fractions() -> dict[str, float]:
    return {
        "single": 0.55,
        "young": 0.10,
        "sync_binary": 0.10,
        "wide_binary": 0.12,
        "giant": 0.08,
        "subgiant": 0.05,
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
    spectrum_snr_median: float = 40.0
    workers: int = 2


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


def _single(
    n: int,
    rng: np.random.Generator,
    age_gyr: np.ndarray,
    feh: np.ndarray,
    mass: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    mass = _dwarf_mass(rng, n) if mass is None else mass
    props = stars.dwarf_properties(mass, feh)
    props.update(mass_msun=mass, age_gyr=age_gyr, feh=feh)
    props["prot_d"] = stars.gyro_period(props["b_v_mag"], props["teff_k"], age_gyr, rng)
    props["a_li"] = stars.lithium_abundance(props["teff_k"], age_gyr, rng)
    props["spot_amp_pct"] = _log_uniform(rng, 0.05, 0.5, n)
    return props


def _draw_single(n: int, config: SurveyConfig, rng: np.random.Generator, feh: np.ndarray) -> dict:
    mass = _dwarf_mass(rng, n)
    t_ms = 10.0 * mass**-2.5  # main-sequence lifetime (Gyr)
    # Log-uniform ages from 0.5 Gyr to the MS lifetime: Kepler rotators are biased young.
    age = np.exp(rng.uniform(np.log(0.5), np.log(np.clip(t_ms, 0.8, 10.0)), n))
    return _single(n, rng, age, feh, mass)


def _draw_young(n: int, config: SurveyConfig, rng: np.random.Generator, feh: np.ndarray) -> dict:
    props = _single(n, rng, _log_uniform(rng, 0.03, 0.3, n), feh)
    # Fast-rotator tail before convergence on the slow sequence, percent-level spots.
    props["prot_d"] = _log_uniform(rng, 0.8, 7.0, n)
    props["spot_amp_pct"] = _log_uniform(rng, 0.5, 3.0, n)
    return props


def _companion(props: dict, q: np.ndarray, feh: np.ndarray) -> dict[str, np.ndarray]:
    """Add the companion (a dwarf of mass q·M₁) and the combined photometry (flux sums)."""
    comp = stars.dwarf_properties(np.clip(q * props["mass_msun"], 0.1, None), feh)
    m_rp1 = props["abs_g_mag"] - props["g_rp_mag"]
    m_rp2 = comp["abs_g_mag"] - comp["g_rp_mag"]
    m_bp1, m_bp2 = m_rp1 + props["bp_rp_mag"], m_rp2 + comp["bp_rp_mag"]

    def add(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return -2.5 * np.log10(10 ** (-0.4 * a) + 10 ** (-0.4 * b))

    total_g = add(props["abs_g_mag"], comp["abs_g_mag"])
    out = dict(props)
    out.update(
        mass2_msun=q * props["mass_msun"],
        q=q,
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
    props["spot_amp_pct"] = _log_uniform(rng, 0.5, 3.0, n)
    out = _companion(props, q, feh)
    out.update(porb_d=porb, synchronized=np.ones(n, bool), is_binary=np.ones(n, bool))
    return out


def _draw_wide_binary(n: int, config: SurveyConfig, rng: np.random.Generator, feh: np.ndarray) -> dict:
    props = _draw_single(n, config, rng, feh)
    q = rng.uniform(0.1, 1.0, n)  # roughly flat q (Raghavan et al. 2010)
    # Raghavan log-normal (median log P = 5.0, σ = 2.3), truncated to P > 30 d: not synchronized.
    log_p = rng.normal(5.0, 2.3, n)
    while (bad := (log_p < 1.5) | (log_p > 7.5)).any():
        log_p[bad] = rng.normal(5.0, 2.3, int(bad.sum()))
    out = _companion(props, q, feh)
    out.update(porb_d=10**log_p, synchronized=np.zeros(n, bool), is_binary=np.ones(n, bool))
    return out


def _draw_evolved(n: int, rng: np.random.Generator, feh: np.ndarray, *, giant: bool) -> dict:
    if giant:
        # 35 % red clump (logg 2.4 ± 0.1, 4600–4900 K), the rest on the RGB (logg 1.5–3.5,
        # Teff rising with logg); Teff clipped to 4000–5200 K. Our recipe, not an isochrone.
        mass = rng.uniform(0.9, 2.0, n)
        clump = rng.random(n) < 0.35
        logg = np.where(clump, rng.normal(2.4, 0.1, n), rng.uniform(1.5, 3.5, n))
        teff = np.where(clump, rng.uniform(4600, 4900, n), 4500 + 350 * (logg - 2.5) + rng.normal(0, 100, n))
        teff = np.clip(teff - 150 * feh, 4000, 5200)
        prot = _log_uniform(rng, 40.0, 200.0, n)
        amp = _log_uniform(rng, 0.005, 0.05, n)
        a_li = np.where(rng.random(n) < 0.01, rng.uniform(2.0, 3.0, n), rng.normal(0.8, 0.4, n))
    else:
        mass = rng.uniform(1.0, 1.6, n)
        logg = rng.uniform(3.5, 4.0, n)
        teff = rng.uniform(5000, 6200, n)
        prot = _log_uniform(rng, 15.0, 60.0, n)
        amp = _log_uniform(rng, 0.02, 0.2, n)
        a_li = rng.normal(1.5, 0.4, n)
    props = stars.evolved_properties(teff, logg, mass)
    props.update(
        mass_msun=mass,
        feh=feh,
        age_gyr=np.clip(11.0 * mass**-2.5, 0.5, 12.0),
        prot_d=prot,
        spot_amp_pct=amp,
        a_li=a_li,
    )
    return props


_RECIPES: dict[str, Callable[..., dict]] = {
    "single": _draw_single,
    "young": _draw_young,
    "sync_binary": _draw_sync_binary,
    "wide_binary": _draw_wide_binary,
    "giant": lambda n, config, rng, feh: _draw_evolved(n, rng, feh, giant=True),
    "subgiant": lambda n, config, rng, feh: _draw_evolved(n, rng, feh, giant=False),
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
    "synchronized": False,
    "is_binary": False,
}


def _orbits(df: pd.DataFrame, rng: np.random.Generator) -> None:
    """Inclination, semi-amplitudes and the velocity separation at the spectrum epoch."""
    n = len(df)
    df["inclination_deg"] = np.degrees(np.arccos(rng.uniform(0.0, 1.0, n)))
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
    df["rv_kms"] = rng.normal(-20.0, 30.0, n)  # systemic velocity, thin/thick disc mix


def _place(df: pd.DataFrame, config: SurveyConfig, rng: np.random.Generator) -> None:
    """Distances so that Kepler magnitudes span ``kepmag_range``; extinction A_G by distance."""
    n = len(df)
    lo, hi = config.kepmag_range
    # Star counts rise towards faint magnitudes: p(Kp) ∝ 10^(0.25 Kp) on [lo, hi].
    u = rng.random(n)
    kp = np.log10(10 ** (0.25 * lo) + u * (10 ** (0.25 * hi) - 10 ** (0.25 * lo))) / 0.25
    # Kp − G ≈ 0.07 + 0.12 (BP−RP − 0.8): a rough linear colour term (our approximation).
    g_app = kp - 0.07 - 0.12 * (df["bp_rp_mag"].to_numpy() - 0.8)
    a_g = np.zeros(n)
    for _ in range(3):  # A_G grows with distance towards 0.3 mag (Kepler-field E(B−V) ≲ 0.1)
        dist = 10 ** ((g_app - df["abs_g_mag"].to_numpy() - a_g + 5) / 5)
        a_g = 0.3 * (1 - np.exp(-dist / 800.0))
    df["distance_pc"] = dist
    df["a_g_mag"] = a_g
    df["kepmag"] = kp
    df["bp_rp_intrinsic_mag"] = df["bp_rp_mag"]
    df["bp_rp_mag"] = df["bp_rp_mag"] + 0.5 * a_g  # E(BP−RP) ≈ A_G / 2
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


def _activity(df: pd.DataFrame, config: SurveyConfig, rng: np.random.Generator) -> None:
    """Rossby number, Hα filling, Li EW and the spectrum SNR."""
    ro = df["prot_d"] / stars.convective_turnover_d(df["mass_msun"].to_numpy())
    df["rossby"] = ro
    # Saturated (filled) for Ro ≲ 0.1, none by Ro ≈ 1 (SCIENCE.md 3.4: Hα tracks rotation, not age).
    df["halpha_fill"] = np.clip(1.0 - np.log10(np.clip(ro, 1e-3, None) / 0.1), 0.0, 1.0)
    df.loc[df["logg"] < 3.5, "halpha_fill"] = 0.0
    df["li_ew_ma"] = stars.lithium_ew_ma(df["a_li"].to_numpy(), df["teff_k"].to_numpy())
    g = df["abs_g_mag"] + 5 * np.log10(df["distance_pc"]) - 5 + df["a_g_mag"]
    snr = config.spectrum_snr_median * 10 ** (-0.2 * (g - 14.0)) * np.exp(rng.normal(0, 0.45, len(df)))
    df["snr_g"] = np.clip(snr, 4.0, 400.0)


def draw_population(config: SurveyConfig, rng: np.random.Generator) -> pd.DataFrame:
    """Draw the truth table of a simulated survey (one row per star, shuffled).

    Returns
    -------
    pandas.DataFrame
        star_id, kic_id, lamost_obsid, gaia_source_id, population, is_binary, masses, q, age_gyr,
        feh, teff_k, logg, logl, radius_rsun, prot_d, porb_d, synchronized, a_li, li_ew_ma,
        delta_g_ms_mag, sb2_visible, inclination_deg, a_g_mag, distance_pc, bp_rp_mag (reddened),
        abs_g_mag, spot_amp_pct and the orbit/activity columns the file writers need.
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
        frame.insert(0, "population", name)
        frames.append(frame)
    df = pd.concat(frames, ignore_index=True)
    df = df.iloc[rng.permutation(len(df))].reset_index(drop=True)
    df["is_binary"] = df["is_binary"].astype(bool)
    df["synchronized"] = df["synchronized"].astype(bool)
    _orbits(df, rng)
    _place(df, config, rng)
    _identify(df, config, rng)
    _activity(df, config, rng)
    df["population"] = df["population"].astype("string")
    return df
