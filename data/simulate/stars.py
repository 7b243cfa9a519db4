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
