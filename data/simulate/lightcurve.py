"""Kepler long-cadence light curves: evolving spots, binaries, granulation, cadence and noise.

Relative flux is a product of a few effects, all vectorised over cadences (``docs/SCIENCE.md``
3.2–3.8): spots as sums of sinusoids at P_rot and its first harmonic with Gaussian envelopes of a
few rotations (long-lived, phase-stable spots for synchronized binaries) and differential rotation;
ellipsoidal variation at P_orb/2 ∝ q (R/a)³ sin² i; eclipses from the exact overlap of two uniform
disks; granulation as AR(1) red noise for evolved stars; white noise growing with Kepler magnitude.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter

from data.kepler import LONG_CADENCE_D
from data.quality import KeplerQuality

#: Quarter start (BKJD) of the first simulated quarter, Q5-like; a quarter is 90 days of LC data.
QUARTER_START_BKJD = 443.49
QUARTER_SPAN_D = 90.0
N_CADENCES = int(np.ceil(QUARTER_SPAN_D / LONG_CADENCE_D))
#: Kepler e⁻/s of a Kp = 12 star (roughly; Kepler Instrument Handbook).
FLUX_KP12 = 1.74e5


@dataclass(frozen=True, eq=False)
class SimulatedLightCurve:
    """One simulated quarter, ready for :func:`data.kepler.write_kepler_lightcurve`."""

    time_bkjd: np.ndarray
    pdcsap_flux: np.ndarray
    pdcsap_flux_err: np.ndarray
    sap_flux: np.ndarray
    sap_quality: np.ndarray
    quarter: int


def cadence_times(quarter_index: int = 0) -> np.ndarray:
    """Regular long-cadence times (BKJD) of one simulated quarter."""
    start = QUARTER_START_BKJD + quarter_index * (QUARTER_SPAN_D + 3.0)
    return start + LONG_CADENCE_D * np.arange(N_CADENCES)


def noise_ppm(kepmag: float) -> float:
    """White noise per long cadence: 60 ppm · 10^(0.2 (Kp − 12)), floored at 20 ppm (our choice)."""
    return max(60.0 * 10 ** (0.2 * (kepmag - 12.0)), 20.0)


def spot_signal(
    t: np.ndarray,
    prot_d: float,
    amp_pct: float,
    rng: np.random.Generator,
    *,
    lifetime_rot: tuple[float, float] = (2.0, 6.0),
    shear: float | None = None,
) -> np.ndarray:
    """Relative flux change (fraction) of evolving spots; peak-to-peak ≈ ``amp_pct`` percent.

    Each spot is cos θ + h cos(2θ + ψ) at its latitude's period P_rot (1 + shear·δ), inside a
    Gaussian envelope of width ``lifetime_rot`` rotations; spots are seeded over the whole span.
    """
    span = t[-1] - t[0]
    shear = rng.uniform(0.0, 0.1) if shear is None else shear
    life = rng.uniform(*lifetime_rot) * prot_d
    k = int(np.clip(np.ceil(span / life) * 2 + 2, 3, 40))
    centre = rng.uniform(t[0] - life, t[-1] + life, k)[:, None]
    period = prot_d * (1.0 + shear * rng.uniform(-1.0, 1.0, k))[:, None]
    theta = 2 * np.pi * (t[None, :] - t[0]) / period + rng.uniform(0, 2 * np.pi, k)[:, None]
    harmonic = rng.uniform(0.1, 0.5, k)[:, None]
    shape = np.cos(theta) + harmonic * np.cos(2 * theta + rng.uniform(0, 2 * np.pi, k)[:, None])
    env = np.exp(-0.5 * ((t[None, :] - centre) / life) ** 2) * rng.uniform(0.5, 1.0, k)[:, None]
    signal = (shape * env).sum(axis=0)
    lo, hi = np.percentile(signal, [2.5, 97.5])
    return signal / max(hi - lo, 1e-12) * amp_pct / 100.0


def _disk_overlap(d: np.ndarray, r1: float, r2: float) -> np.ndarray:
    """Area of overlap of two disks of radii r1, r2 at centre separation d (vectorised)."""
    d = np.maximum(d, 1e-12)
    area = np.zeros_like(d)
    inside = d <= abs(r1 - r2)
    area[inside] = np.pi * min(r1, r2) ** 2
    part = (d < r1 + r2) & ~inside
    dp = d[part]
    c1 = np.clip((dp**2 + r1**2 - r2**2) / (2 * dp * r1), -1, 1)
    c2 = np.clip((dp**2 + r2**2 - r1**2) / (2 * dp * r2), -1, 1)
    tri = 0.5 * np.sqrt(np.clip((-dp + r1 + r2) * (dp + r1 - r2) * (dp - r1 + r2) * (dp + r1 + r2), 0, None))
    area[part] = r1**2 * np.arccos(c1) + r2**2 * np.arccos(c2) - tri
    return area


def binary_signal(t: np.ndarray, star: dict, rng: np.random.Generator) -> np.ndarray:
    """Ellipsoidal variation and eclipses of a close binary (fractional flux change)."""
    p, a = star["porb_d"], star["a_rsun"]
    r1, r2, q = star["radius_rsun"], star["radius2_rsun"], star["q"]
    inc = np.radians(star["inclination_deg"])
    l2 = star["flux_ratio_g"] / (1.0 + star["flux_ratio_g"])  # light fraction of the companion
    phase = 2 * np.pi * ((t - t[0]) / p + star["orbit_phase"])
    # Ellipsoidal: A ≈ q (R₁/a)³ sin² i for the primary, plus the companion's, weighted by light.
    amp = (1 - l2) * q * (r1 / a) ** 3 * np.sin(inc) ** 2 + l2 / q * (r2 / a) ** 3 * np.sin(inc) ** 2
    signal = -amp * np.cos(2 * phase)
    # Sky-projected separation; star 2 in front at cos(phase) > 0 (primary eclipse).
    sep = a * np.sqrt(np.sin(phase) ** 2 + (np.cos(inc) * np.cos(phase)) ** 2)
    if a * np.cos(inc) < r1 + r2:
        overlap = _disk_overlap(sep, r1, r2)
        front2 = np.cos(phase) > 0
        signal -= np.where(front2, (1 - l2) * overlap / (np.pi * r1**2), l2 * overlap / (np.pi * r2**2))
    return signal


def granulation(t: np.ndarray, logg: float, rng: np.random.Generator) -> np.ndarray:
    """AR(1) red noise: σ = 60 ppm (g/g☉)^−½, τ = 10 min · g☉/g (scalings; our amplitudes)."""
    sigma = 60e-6 * 10 ** (-0.5 * (logg - 4.438))
    tau = (10.0 / 1440.0) * 10 ** (4.438 - logg)
    phi = np.exp(-LONG_CADENCE_D / tau)
    white = rng.normal(0.0, sigma * np.sqrt(1 - phi**2), t.size)
    return lfilter([1.0], [1.0, -phi], white)


def _quality(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Quality flags, a ~1-day downlink gap (NaN TIME) and a few NaN fluxes."""
    quality = np.zeros(n, dtype=np.int32)
    nan_time = np.zeros(n, dtype=bool)
    gap_start = rng.integers(n // 5, 4 * n // 5)
    gap = slice(gap_start, gap_start + int(rng.uniform(0.8, 1.3) / LONG_CADENCE_D))
    nan_time[gap] = True
    quality[gap] |= KeplerQuality.NO_DATA
    bits = np.array(
        [
            KeplerQuality.ATTITUDE_TWEAK,
            KeplerQuality.COARSE_POINT,
            KeplerQuality.DESATURATION,
            KeplerQuality.APERTURE_COSMIC,
            KeplerQuality.IMPULSIVE_OUTLIER,
            KeplerQuality.ROLLING_BAND_APERTURE,
        ],
        dtype=np.int32,
    )
    flagged = rng.choice(n, size=int(rng.integers(10, 40)), replace=False)
    quality[flagged] |= rng.choice(bits, size=flagged.size)
    nan_flux = rng.choice(n, size=int(rng.integers(1, 6)), replace=False)
    return quality, nan_time, nan_flux


def simulate_lightcurve(
    star: dict, rng: np.random.Generator, *, quarter_index: int = 0
) -> SimulatedLightCurve:
    """Simulate one Kepler quarter of a star described by a truth-table row (as a dict)."""
    t = cadence_times(quarter_index)
    population = star["population"]
    stable = population == "sync_binary"  # tidally locked: long-lived, phase-stable spots
    rel = spot_signal(
        t,
        star["prot_d"],
        star["spot_amp_pct"],
        rng,
        lifetime_rot=(10.0, 30.0) if stable else (2.0, 6.0),
        shear=0.0 if stable else None,
    )
    if population == "wide_binary":
        # The companion rotates on its own; its spots are diluted by its light fraction.
        l2 = star["flux_ratio_g"] / (1.0 + star["flux_ratio_g"])
        p2 = star["prot_d"] * np.exp(rng.normal(0.0, 0.3))
        rel = (1 - l2) * rel + l2 * spot_signal(t, p2, star["spot_amp_pct"], rng)
    if stable:
        rel += binary_signal(t, star, rng)
    if star["logg"] < 4.0:
        rel += granulation(t, star["logg"], rng)
    sigma = noise_ppm(star["kepmag"]) * 1e-6
    rel += rng.normal(0.0, sigma, t.size)
    flux0 = FLUX_KP12 * 10 ** (-0.4 * (star["kepmag"] - 12.0))
    pdcsap = flux0 * (1.0 + rel)
    quality, nan_time, nan_flux = _quality(t.size, rng)
    # SAP keeps an uncorrected slow focus/pointing drift and ~10 % aperture losses.
    drift = 1.0 + 0.004 * ((t - t[0]) / (t[-1] - t[0])) ** 2
    sap = 0.9 * pdcsap * drift
    time = t.copy()
    time[nan_time] = np.nan
    pdcsap[nan_time] = np.nan
    sap[nan_time] = np.nan
    pdcsap[nan_flux] = np.nan
    err = np.full(t.size, sigma * flux0)
    err[nan_time] = np.nan
    return SimulatedLightCurve(time, pdcsap, err, sap, quality, quarter=5 + quarter_index)
