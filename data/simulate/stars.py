"""Single-star physics for the simulator: the dwarf sequence, giants, rotation and lithium.

The dwarf sequence is E. Mamajek's table ("A Modern Mean Dwarf Stellar Color and Effective
Temperature Sequence", v2022.04.16) through the ``MeanStars`` package. Everything else is a small,
documented analytic recipe; the constants carry their source (``docs/SCIENCE.md`` section 3).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

TEFF_SUN_K = 5772.0
LOGG_SUN = 4.438
MBOL_SUN = 4.74

# [Fe/H] at fixed mass (our simple recipe, roughly matching MIST slopes for 0.8–1.2 M☉):
# metal-rich stars are cooler, Δlog Teff = −0.03 [Fe/H]; at fixed Teff the main sequence is
# brighter for metal-rich stars, ΔM_G = −0.8 [Fe/H] (ΔlogL = +0.32 [Fe/H]).
FEH_DLOGTEFF = -0.03
FEH_DMG = -0.8

# Barnes 2007 gyrochronology, P = a [(B−V)₀ − c]^b (t/Myr)^n
# (SCIENCE.md 3.3; coefficients unverified).
BARNES_A, BARNES_B, BARNES_N, BARNES_C = 0.7725, 0.601, 0.5189, 0.4
KRAFT_BREAK_K = 6250.0


@dataclass(frozen=True)
class DwarfSequence:
    """Mamajek's mean dwarf sequence, 2,900–7,500 K, as monotonic arrays sorted by Teff."""

    teff_k: np.ndarray
    mass_msun: np.ndarray
    radius_rsun: np.ndarray
    logl: np.ndarray
    abs_g_mag: np.ndarray
    bp_rp_mag: np.ndarray
    g_rp_mag: np.ndarray
    b_v_mag: np.ndarray

    def at_teff(self, teff_k: np.ndarray, name: str) -> np.ndarray:
        """Interpolate column ``name`` at ``teff_k`` (clipped to the table range)."""
        return np.interp(teff_k, self.teff_k, getattr(self, name))

    def teff_of_mass(self, mass_msun: np.ndarray) -> np.ndarray:
        """Interpolate Teff at a mass (the table's mass is monotonic in Teff)."""
        return np.interp(mass_msun, self.mass_msun, self.teff_k)


def _floats(column: object) -> np.ndarray:
    # Mamajek's table marks uncertain entries with ':' and missing ones with '...'.
    out = []
    for value in np.ma.filled(np.ma.asarray(column).astype(str), "nan"):
        match = re.match(r"^\s*([-+]?\d*\.?\d+)", str(value))
        out.append(float(match.group(1)) if match else np.nan)
    return np.asarray(out)


@lru_cache(maxsize=1)
def dwarf_sequence() -> DwarfSequence:
    """Load and clean the Mamajek table from ``MeanStars`` (cached; read on first use)."""
    from MeanStars import MeanStars

    table = MeanStars().data
    cols = {
        name: _floats(table[name])
        for name in ("Teff", "Msun", "R_Rsun", "logL", "M_G", "Bp-Rp", "G-Rp", "B-V")
    }
    keep = (cols["Teff"] >= 2900) & (cols["Teff"] <= 7500)
    for values in cols.values():
        keep &= np.isfinite(values)
    order = np.argsort(cols["Teff"][keep])
    pick = {k: v[keep][order] for k, v in cols.items()}
    # np.interp needs increasing x; mass rises with Teff in the cleaned table.
    pick["Msun"] = np.maximum.accumulate(pick["Msun"]) + np.arange(order.size) * 1e-6
    return DwarfSequence(
        pick["Teff"],
        pick["Msun"],
        pick["R_Rsun"],
        pick["logL"],
        pick["M_G"],
        pick["Bp-Rp"],
        pick["G-Rp"],
        pick["B-V"],
    )


def dwarf_properties(mass_msun: np.ndarray, feh: np.ndarray) -> dict[str, np.ndarray]:
    """Teff, logL, radius, logg and Gaia absolute magnitudes of main-sequence dwarfs.

    Returns a dict of arrays: teff_k, logl, radius_rsun, logg, abs_g_mag, bp_rp_mag, g_rp_mag,
    b_v_mag.
    """
    seq = dwarf_sequence()
    teff = seq.teff_of_mass(mass_msun) * 10 ** (FEH_DLOGTEFF * feh)
    abs_g = seq.at_teff(teff, "abs_g_mag") + FEH_DMG * feh
    logl = seq.at_teff(teff, "logl") - 0.4 * FEH_DMG * feh
    radius = np.sqrt(10**logl) / (teff / TEFF_SUN_K) ** 2
    logg = LOGG_SUN + np.log10(mass_msun) - 2 * np.log10(radius)
    return {
        "teff_k": teff,
        "logl": logl,
        "radius_rsun": radius,
        "logg": logg,
        "abs_g_mag": abs_g,
        "bp_rp_mag": seq.at_teff(teff, "bp_rp_mag"),
        "g_rp_mag": seq.at_teff(teff, "g_rp_mag"),
        "b_v_mag": seq.at_teff(teff, "b_v_mag"),
    }


def evolved_properties(teff_k: np.ndarray, logg: np.ndarray, mass_msun: np.ndarray) -> dict[str, np.ndarray]:
    """Radius, logL and magnitudes of subgiants/giants from Teff, logg and mass.

    R² = M / 10^(logg − logg☉); L from Stefan–Boltzmann; M_G = M_bol − BC_G, with the bolometric
    correction and colours of a dwarf of the same Teff (adequate at LAMOST/Gaia precision here).
    """
    seq = dwarf_sequence()
    radius = np.sqrt(mass_msun / 10 ** (logg - LOGG_SUN))
    logl = 2 * np.log10(radius) + 4 * np.log10(teff_k / TEFF_SUN_K)
    bc_g = MBOL_SUN - 2.5 * seq.at_teff(teff_k, "logl") - seq.at_teff(teff_k, "abs_g_mag")
    abs_g = MBOL_SUN - 2.5 * logl - bc_g
    return {
        "teff_k": teff_k,
        "logl": logl,
        "radius_rsun": radius,
        "logg": logg,
        "abs_g_mag": abs_g,
        "bp_rp_mag": seq.at_teff(teff_k, "bp_rp_mag"),
        "g_rp_mag": seq.at_teff(teff_k, "g_rp_mag"),
        "b_v_mag": seq.at_teff(teff_k, "b_v_mag"),
    }


def gyro_period(
    b_v_mag: np.ndarray, teff_k: np.ndarray, age_gyr: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Barnes (2007) rotation period in days with 10 % scatter; no braking above the Kraft break.

    Above KRAFT_BREAK_K stars keep a log-uniform 1.5–8 d period (no magnetic braking).
    """
    colour = np.clip(b_v_mag - BARNES_C, 0.05, None)
    period = BARNES_A * colour**BARNES_B * (age_gyr * 1000.0) ** BARNES_N
    period *= np.exp(rng.normal(0.0, 0.1, np.shape(period)))
    hot = teff_k > KRAFT_BREAK_K
    period[hot] = np.exp(rng.uniform(np.log(1.5), np.log(8.0), int(hot.sum())))
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


def lithium_ew_ma(a_li: np.ndarray, teff_k: np.ndarray) -> np.ndarray:
    """Li 6708 equivalent width (mÅ) from A(Li) and Teff.

    A fit to four breidablik 3D-NLTE values (SCIENCE.md 3.3–3.4: 5800 K A=2.2 → 43, A=1.0 → 3;
    5000 K A=3.2 → 365, A=0.5 → 6 mÅ): log W = 0.477 + 0.963 (A − 1) + 0.975 (5800 − Teff)/1000,
    then a saturation W/(1 + W/450 mÅ). Good to ~20 % at those points, cruder elsewhere.
    """
    log_w = 0.477 + 0.963 * (a_li - 1.0) + 0.975 * (5800.0 - teff_k) / 1000.0
    w = 10 ** np.clip(log_w, -3, 5)
    return w / (1.0 + w / 450.0)


def nu_max_uhz(logg: np.ndarray, teff_k: np.ndarray) -> np.ndarray:
    """Asteroseismic ν_max = 3090 μHz (g/g☉)(Teff/5777 K)^−½ (standard scaling)."""
    return 3090.0 * 10 ** (logg - LOGG_SUN) * (teff_k / 5777.0) ** -0.5
