"""Single-star physics for the simulator beyond the isochrones: rotation, activity and lithium.

Stellar structure (Teff, logg, L, R) and Gaia photometry come from :mod:`data.isochrones` (MIST
with Mamajek's colours). Rotation is the Bouma et al. (2023) gyrochronology table; lithium is an
A(Li) depletion recipe turned into Li 6708 equivalent widths by a shipped breidablik grid. Each
constant carries its source (``docs/SCIENCE.md`` section 3).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

TEFF_SUN_K = 5772.0
LOGG_SUN = 4.438
MBOL_SUN = 4.74

# Gyrochronology: the Bouma et al. (2023) slow sequence, shipped as a table built by gyrointerp.
GYRO_GRID = Path(__file__).with_name("grids") / "gyro_slow_sequence.npz"
KRAFT_BREAK_K = 6250.0
# Li 6708 equivalent widths: breidablik 3D-NLTE profiles, shipped as a table.
LI_GRID = Path(__file__).with_name("grids") / "li6708_ew.npz"


@lru_cache(maxsize=1)
def _slow_sequence_grid() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The shipped Bouma et al. (2023) slow-sequence table (see grids/build_gyro_grid.py)."""
    with np.load(GYRO_GRID) as grid:
        return grid["teff_k"], np.log10(grid["age_myr"]), np.log(grid["prot_d"])


def slow_sequence_period(teff_k: np.ndarray, age_gyr: np.ndarray) -> np.ndarray:
    """Slow-sequence rotation period (days) of a dwarf, no scatter.

    ``gyrointerp.models.slow_sequence`` (Bouma et al. 2023; valid 3800–6200 K, 0.08–4 Gyr; it
    includes the stalled spin-down of K dwarfs) interpolated bilinearly in (Teff, log age) on the
    shipped table; Teff is clipped to 3800–6200 K and ages below 80 Myr take the 80 Myr value.
    Beyond 4 Gyr, P ∝ t^0.5 (Skumanich 1972; SCIENCE.md 3.3).
    """
    from scipy.interpolate import RegularGridInterpolator

    teff_axis, log_age_axis, log_p = _slow_sequence_grid()
    teff = np.clip(np.asarray(teff_k, dtype=float), teff_axis[0], teff_axis[-1])
    age_myr = np.asarray(age_gyr, dtype=float) * 1000.0
    log_age = np.clip(np.log10(np.maximum(age_myr, 1e-3)), log_age_axis[0], log_age_axis[-1])
    interp = RegularGridInterpolator((log_age_axis, teff_axis), log_p)
    period = np.exp(interp(np.column_stack([np.ravel(log_age), np.ravel(teff)]))).reshape(np.shape(teff))
    old = age_myr > 4000.0
    return np.where(old, period * np.sqrt(np.maximum(age_myr, 4000.0) / 4000.0), period)


def gyro_period(teff_k: np.ndarray, age_gyr: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Rotation period (days) of a single dwarf: the slow sequence with 8 % log-normal scatter.

    Above the Kraft break (KRAFT_BREAK_K) stars have thin convective envelopes and do not brake:
    they keep a log-uniform 1.5–8 d period (our choice, matching F-star v sin i of tens of km/s).
    """
    period = slow_sequence_period(teff_k, age_gyr) * np.exp(rng.normal(0.0, 0.08, np.shape(teff_k)))
    hot = np.asarray(teff_k) > KRAFT_BREAK_K
    period = np.where(hot, np.exp(rng.uniform(np.log(1.5), np.log(8.0), np.shape(teff_k))), period)
    return np.clip(period, 0.3, 80.0)


def convective_turnover_d(mass_msun: np.ndarray) -> np.ndarray:
    """Wright et al. (2011) turnover time: log τ = 1.16 − 1.49 log M − 0.54 log² M (days)."""
    lm = np.log10(np.clip(mass_msun, 0.1, 1.4))
    return 10 ** (1.16 - 1.49 * lm - 0.54 * lm**2)


def lithium_abundance(teff_k: np.ndarray, age_gyr: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A(Li) of a dwarf: 3.3 at birth, depleted by c(Teff)·log10(1 + (t/300 Myr)^1.5).

    Our recipe: c = 1 + 1.5·clip((6000 − Teff)/1000, 0, 1), so a 4.5 Gyr Sun gets ≈1.0, an old K
    dwarf none, and G/K stars younger than 300 Myr keep ≳2.8 (Pleiades-like).
    Floor −0.5, scatter 0.1.
    """
    c = 1.0 + 1.5 * np.clip((6000.0 - teff_k) / 1000.0, 0.0, 1.0)
    depletion = c * np.log10(1.0 + (age_gyr / 0.3) ** 1.5)
    return np.clip(3.3 - depletion + rng.normal(0.0, 0.1, np.shape(teff_k)), -0.5, 3.4)


@lru_cache(maxsize=1)
def _li_grid() -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    """The shipped breidablik Li 6708 EW table (see grids/build_li_grid.py)."""
    with np.load(LI_GRID) as grid:
        axes = (grid["teff_k"], grid["logg"], grid["feh"], grid["a_li"])
        return axes, np.log(grid["ew_ma"] + 1e-3)


def lithium_ew_ma(
    a_li: np.ndarray, teff_k: np.ndarray, logg: np.ndarray | float = 4.5, feh: np.ndarray | float = 0.0
) -> np.ndarray:
    """Li I 6708 equivalent width (mÅ) from A(Li), Teff, logg and [Fe/H].

    Interpolates (linearly in log EW) the shipped table of breidablik 3D-NLTE profiles
    (Wang et al. 2021; SCIENCE.md 3.3–3.4: 5800 K, A(Li) = 2.2 → 43 mÅ; 5000 K, A(Li) = 3.2 →
    365 mÅ). Inputs are clipped to the table: 4000–7000 K, logg 2–4.5, [Fe/H] −1 to +0.5,
    A(Li) −0.5 to 4.
    """
    from scipy.interpolate import RegularGridInterpolator

    axes, log_ew = _li_grid()
    shape = np.broadcast_shapes(np.shape(a_li), np.shape(teff_k), np.shape(logg), np.shape(feh))
    points = [
        np.clip(np.broadcast_to(np.asarray(v, dtype=float), shape).ravel(), axis[0], axis[-1])
        for v, axis in zip((teff_k, logg, feh, a_li), axes, strict=True)
    ]
    interp = RegularGridInterpolator(axes, log_ew)
    ew = np.exp(interp(np.column_stack(points))) - 1e-3
    return np.clip(ew, 0.0, None).reshape(shape)


def nu_max_uhz(logg: np.ndarray, teff_k: np.ndarray) -> np.ndarray:
    """Asteroseismic ν_max = 3090 μHz (g/g☉)(Teff/5777 K)^−½ (standard scaling)."""
    return 3090.0 * 10 ** (logg - LOGG_SUN) * (teff_k / 5777.0) ** -0.5


# --- starspots: functions of rotation, Teff and activity only, never of the population ---------
#: Saturated peak-to-peak spot amplitude (%) and the Rossby number where saturation ends.
SPOT_AMP_SAT_PCT = 2.0
SPOT_RO_SAT = 0.1
SPOT_AMP_SCATTER_DEX = 0.25
#: Solar differential rotation ΔΩ (rad/d, equator to pole) and its Teff exponent.
SHEAR_DOMEGA_SUN = 0.07
SHEAR_TEFF_EXPONENT = 8.92


def spot_amplitude_pct(rossby: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Peak-to-peak spot modulation (%) from the Rossby number, with 0.25 dex scatter.

    Saturated at 2 % below Ro = 0.1 and falling as Ro⁻¹ above it: the saturated/unsaturated form
    of the activity–Rossby relation (Wright et al. 2011, ApJ 743, 48), with the level and slope
    of Kepler's photometric amplitudes (McQuillan, Mazeh & Aigrain 2014, ApJS 211, 24, Fig. 9:
    R_per of ~1–3 % for the fastest K dwarfs, ~0.1–0.3 % on the slow sequence; see also
    See et al. 2019, ApJ 876, 118, for the amplitude–Ro saturation). Population-blind by design:
    a synchronized binary and a young single star with the same Ro draw from the same law.
    """
    ro = np.clip(np.asarray(rossby, dtype=float), 1e-3, None)
    level = SPOT_AMP_SAT_PCT * np.minimum(1.0, SPOT_RO_SAT / ro)
    scatter = 10 ** rng.normal(0.0, SPOT_AMP_SCATTER_DEX, np.shape(ro))
    return np.clip(level * scatter, 0.005, 8.0)


def spot_decay_rotations(teff_k: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Spot decay time in rotation periods: longer for cooler stars, 0.25 dex scatter.

    log10(τ/P) = 0.5 + 0.7 (6000 K − Teff)/1000 K, clipped to 1–100 rotations: the trend of
    Giles, Collier Cameron & Haywood (2017, MNRAS 472, 1618; Kepler spot lifetimes from the ACF
    decay: ~1–3 rotations for F stars, tens of rotations for K and M dwarfs). Depends on Teff
    only, so tidal locking adds nothing here (SCIENCE.md 3.9: synchronized binaries and young stars
    have alike light curves).
    """
    teff = np.asarray(teff_k, dtype=float)
    log_tau = 0.5 + 0.7 * (6000.0 - teff) / 1000.0 + rng.normal(0.0, 0.25, np.shape(teff))
    return np.clip(10**log_tau, 1.0, 100.0)


def differential_rotation_shear(
    teff_k: np.ndarray, prot_d: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Relative surface shear α = ΔΩ/Ω_eq = ΔΩ P / 2π, with ΔΩ from Teff.

    ΔΩ = 0.07 rad/d (Teff/5800 K)^8.92 (Barnes et al. 2005, MNRAS 357, L1; the steep Teff
    dependence and weak Prot dependence confirmed on Kepler stars by Reinhold, Reiners & Basri
    2013, A&A 560, A4), with 0.3 dex scatter; α clipped to 0–0.5.
    """
    teff = np.asarray(teff_k, dtype=float)
    d_omega = SHEAR_DOMEGA_SUN * (teff / 5800.0) ** SHEAR_TEFF_EXPONENT
    d_omega = d_omega * 10 ** rng.normal(0.0, 0.3, np.shape(teff))
    return np.clip(d_omega * np.asarray(prot_d, dtype=float) / (2 * np.pi), 0.0, 0.5)
