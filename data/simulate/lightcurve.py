"""Kepler long-cadence light curves: evolving spots, flares, binaries, granulation and oscillations.

Relative flux is a sum of effects, all vectorised over cadences (``docs/SCIENCE.md`` 3.2–3.8):

* **Spots** (:func:`spot_signal`): our own spot emergence and decay model, in the spirit of
  butterpy (Claytor et al. 2022; not used because its wheel installs a top-level ``tests`` package
  that shadows ours). Spots emerge at random times in a latitude band, grow and decay
  exponentially (decay time from Teff, shear from Teff and Prot, amplitude from the Rossby number:
  :mod:`data.simulate.stars`; never from the population label), a binary's companion adds its
  own spots diluted by its light,
  rotate at their latitude's period P(φ) = P_eq / (1 − ΔΩ/Ω · sin²φ) (solar-like differential
  rotation), and dim the star by their projected area (foreshortening μ) times linear limb
  darkening. The total is scaled to the star's peak-to-peak amplitude.
* **Flares** (:func:`flare_signal`) at a rate set by the Rossby number: the Davenport et al.
  (2014) template, energies from a power law (dN/dA ∝ A^−2), integrated over the 29.4-min cadence.
* **Binaries**: ellipsoidal variation at P_orb/2 ∝ q (R/a)³ sin² i and eclipses from the exact
  overlap of two uniform disks, where the inclination allows.
* **Granulation** (AR(1) red noise) and **solar-like oscillations** (modes spaced by Δν around
  ν_max, damped by the long-cadence integration, aliased above 283 μHz) for evolved stars.
* **Noise** growing with Kepler magnitude: photon noise of the collected electrons plus read and
  background noise of a ~20-pixel aperture and a 10 ppm floor.
* **Cadence**: one quarter of long cadences with monthly downlink gaps (NaN TIME) and flagged
  cadences; SAP keeps a slow focus drift and aperture losses, PDCSAP removes them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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
#: Exposure per long cadence: 270 × 6.02 s frames less 0.52 s readout each (LIVETIME ≈ 1,485 s).
LIVETIME_S = 270 * (6.02 - 0.52)
#: Read noise (e⁻ per pixel per read) and background (e⁻/s per pixel) of a typical aperture.
READ_NOISE_E = 100.0
BACKGROUND_E_S = 180.0
APERTURE_PIXELS = 20
NOISE_FLOOR_PPM = 10.0
#: Linear limb darkening in the Kepler band for a Sun-like star (Claret & Bloemen 2011, rounded).
LIMB_DARKENING_U = 0.6
NYQUIST_UHZ = 1e6 / (2 * LONG_CADENCE_D * 86400.0)


@dataclass(frozen=True, eq=False)
class SimulatedLightCurve:
    """One simulated quarter, ready for :func:`data.kepler.write_kepler_lightcurve`."""

    time_bkjd: np.ndarray
    pdcsap_flux: np.ndarray
    pdcsap_flux_err: np.ndarray
    sap_flux: np.ndarray
    sap_quality: np.ndarray
    quarter: int
    columns_extra: dict[str, np.ndarray] = field(default_factory=dict)
    header_extra: dict[str, float | str] = field(default_factory=dict)
    n_flares: int = 0


def cadence_times(quarter_index: int = 0) -> np.ndarray:
    """Regular long-cadence times (BKJD) of one simulated quarter."""
    start = QUARTER_START_BKJD + quarter_index * (QUARTER_SPAN_D + 3.0)
    return start + LONG_CADENCE_D * np.arange(N_CADENCES)


def noise_ppm(kepmag: float) -> float:
    """White noise per long cadence (ppm): photon, read and background noise, plus a floor.

    Kp = 12 → ~70 ppm, Kp = 16 → ~1,200 ppm per cadence (6.5-h CDPP ~20 and ~330 ppm), close to
    Kepler's measured CDPP of quiet stars (Christiansen et al. 2012).
    """
    electrons = FLUX_KP12 * 10 ** (-0.4 * (kepmag - 12.0)) * LIVETIME_S
    read_var = APERTURE_PIXELS * (270 * READ_NOISE_E**2 + BACKGROUND_E_S * LIVETIME_S)
    return float(np.sqrt((electrons + read_var) / electrons**2 * 1e12 + NOISE_FLOOR_PPM**2))


def spot_signal(
    t: np.ndarray,
    prot_d: float,
    amp_pct: float,
    rng: np.random.Generator,
    *,
    decay_rot: float,
    shear: float,
    inclination_deg: float | None = None,
    n_visible: float | None = None,
) -> np.ndarray:
    """Relative flux change (fraction) of an evolving spotted surface; peak-to-peak ≈ ``amp_pct`` %.

    Parameters
    ----------
    prot_d
        Equatorial rotation period (d).
    decay_rot
        Spot decay time in rotations (from Teff, :func:`data.simulate.stars.spot_decay_rotations`);
        growth takes a tenth of it.
    shear
        Differential rotation ΔΩ/Ω (:func:`data.simulate.stars.differential_rotation_shear`).
    inclination_deg
        Stellar inclination; isotropic when ``None``.
    n_visible
        Mean number of spots alive at once; log-uniform 3–15 when ``None``.
    """
    span = t[-1] - t[0]
    inc = np.radians(inclination_deg) if inclination_deg is not None else np.arccos(rng.uniform(0, 1))
    tau = float(decay_rot) * prot_d
    n_visible = float(np.exp(rng.uniform(np.log(3), np.log(15)))) if n_visible is None else n_visible
    lifetime = 3.0 * tau
    k = int(np.clip(rng.poisson(n_visible * (span + 2 * lifetime) / lifetime), 2, 200))
    born = rng.uniform(t[0] - 2 * lifetime, t[-1], k)
    # Active band: latitudes within ±(5°–35°) of the equator, either hemisphere.
    lat = np.radians(rng.uniform(5.0, 35.0, k)) * rng.choice([-1.0, 1.0], k)
    lon = rng.uniform(0, 2 * np.pi, k)
    size = rng.pareto(2.0, k) + 1.0  # many small spots, a few large
    period = prot_d / (1.0 - shear * np.sin(lat) ** 2)
    dt = t[None, :] - born[:, None]
    grow = 0.1 * tau
    area = np.where(dt < 0, 0.0, np.where(dt < grow, dt / grow, np.exp(-(dt - grow) / tau)))
    area *= size[:, None]
    phase = lon[:, None] + 2 * np.pi * (t[None, :] - t[0]) / period[:, None]
    mu = np.cos(inc) * np.sin(lat)[:, None] + np.sin(inc) * np.cos(lat)[:, None] * np.cos(phase)
    visible = np.clip(mu, 0.0, None)
    deficit = (area * visible * (1.0 - LIMB_DARKENING_U * (1.0 - visible))).sum(axis=0)
    signal = -(deficit - deficit.mean())
    lo, hi = np.percentile(signal, [2.5, 97.5])
    return signal / max(hi - lo, 1e-12) * amp_pct / 100.0


def flare_signal(t: np.ndarray, rate_per_d: float, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """Flares (fractional flux increase) and their number.

    Davenport et al. (2014) template: a quartic rise over one t½ and a double-exponential decay;
    peak amplitudes log-distributed as dN/dA ∝ A⁻² from 0.1 % to 10 %, t½ log-uniform 5–60 min;
    sampled on a 2-min grid and averaged over each 29.4-min cadence.
    """
    n = int(rng.poisson(rate_per_d * (t[-1] - t[0])))
    out = np.zeros(t.size)
    if n == 0:
        return out, 0
    a_min, a_max = 1e-3, 0.1
    amp = a_min / (1.0 - rng.random(n) * (1.0 - a_min / a_max))  # Pareto(α = 1) on [a_min, a_max]
    t_half = np.exp(rng.uniform(np.log(5.0), np.log(60.0), n)) / 1440.0
    peak = rng.uniform(t[0], t[-1], n)
    sub = (np.arange(15) - 7) / 15.0 * LONG_CADENCE_D  # 15 sub-samples per cadence
    for a, th, tp in zip(amp, t_half, peak, strict=True):
        near = np.flatnonzero(np.abs(t - tp) < 40 * th + LONG_CADENCE_D)
        x = (t[near, None] + sub[None, :] - tp) / th
        rise = 1 + 1.941 * x - 0.175 * x**2 - 2.246 * x**3 - 1.125 * x**4
        decay = 0.6890 * np.exp(-1.600 * x) + 0.3030 * np.exp(-0.2783 * x)
        shape = np.where(x < -1, 0.0, np.where(x <= 0, np.clip(rise, 0, None), decay))
        out[near] += a * shape.mean(axis=1)
    return out, n


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
    # Orbital phase from a fixed epoch, so quarters and sub-exposure samples stay phase-coherent.
    phase = 2 * np.pi * ((t - QUARTER_START_BKJD) / p + star["orbit_phase"])
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


def oscillations(t: np.ndarray, star: dict, rng: np.random.Generator) -> np.ndarray:
    """Solar-like p modes of an evolved star (fractional flux), as Kepler long cadence sees them.

    ν_max = 3090 μHz (g/g☉)(Teff/5777)^−½ and Δν = 135 μHz (ρ/ρ☉)^½ (standard scalings);
    bolometric amplitude 2.5 ppm · (L/M)^0.84 in the Kepler band (Kjeldsen & Bedding 1995 with the
    Huber et al. 2011 exponent); seven radial orders in a Gaussian envelope of FWHM 0.66 ν_max^0.88,
    each mode with a slowly varying (damped, re-excited) amplitude; amplitudes attenuated by the
    29.4-min integration, sinc(π ν Δt), and frequencies above 283 μHz alias.
    """
    from data.simulate.stars import nu_max_uhz

    numax = float(nu_max_uhz(np.array(star["logg"]), np.array(star["teff_k"])))
    rho = star["mass_msun"] / star["radius_rsun"] ** 3
    dnu = 135.0 * np.sqrt(rho)
    lum = 10 ** star["logl"]
    amp_max = 2.5e-6 * (lum / star["mass_msun"]) ** 0.84
    fwhm = 0.66 * numax**0.88
    out = np.zeros(t.size)
    days = (t - t[0]) * 86400.0 * 1e-6  # Ms, so that ν in μHz gives radians via 2π ν t
    for order in range(-3, 4):
        nu = numax + order * dnu + rng.normal(0, 0.02 * dnu)
        if nu <= 0:
            continue
        env = np.exp(-4 * np.log(2) * ((nu - numax) / fwhm) ** 2)
        damp = np.abs(np.sinc(nu * 1e-6 * LONG_CADENCE_D * 86400.0))
        # Stochastic excitation: an AR(1) amplitude with a ~10-day memory.
        phi = np.exp(-LONG_CADENCE_D / 10.0)
        a = lfilter([1.0], [1.0, -phi], rng.normal(0, np.sqrt(1 - phi**2), t.size))
        out += amp_max * env * damp * a * np.cos(2 * np.pi * nu * days + rng.uniform(0, 2 * np.pi))
    return out


def _quality(t: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Quality flags, monthly ~1-day downlink gaps (NaN TIME) and a few NaN fluxes."""
    n = t.size
    quality = np.zeros(n, dtype=np.int32)
    nan_time = np.zeros(n, dtype=bool)
    # Data are downlinked once a month: three gaps per quarter, the first ~30 d in.
    for month in (1, 2):
        start = int((month * 30.0 + rng.uniform(-2, 2)) / LONG_CADENCE_D)
        stop = start + int(rng.uniform(0.8, 1.3) / LONG_CADENCE_D)
        nan_time[start:stop] = True
        quality[start:stop] |= KeplerQuality.NO_DATA
        # The first cadences after a downlink see a thermal settling flagged as attitude tweaks.
        quality[stop : stop + 3] |= KeplerQuality.ATTITUDE_TWEAK
    quality[nan_time] |= KeplerQuality.EARTH_POINT
    bits = np.array(
        [
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
    # Reaction-wheel desaturations every ~3 days.
    quality[np.arange(int(rng.integers(0, 147)), n, 147)] |= KeplerQuality.DESATURATION
    nan_flux = rng.choice(n, size=int(rng.integers(1, 6)), replace=False)
    return quality, nan_time, nan_flux


def _cdpp_ppm(sigma: float, hours: float) -> float:
    """White-noise CDPP over a ``hours`` window: σ / √(cadences in the window)."""
    return round(float(sigma * 1e6 / np.sqrt(hours / 24.0 / LONG_CADENCE_D)), 2)


def simulate_lightcurve(
    star: dict, rng: np.random.Generator, *, quarter_index: int = 0
) -> SimulatedLightCurve:
    """Simulate one Kepler quarter of a star described by a truth-table row (as a dict)."""
    t = cadence_times(quarter_index)
    # Spots follow rotation, Teff and activity only (the population label is never read here).
    rel = spot_signal(
        t,
        star["prot_d"],
        star["spot_amp_pct"],
        rng,
        decay_rot=float(star["spot_decay_rot"]),
        shear=float(star["shear"]),
        inclination_deg=float(star["inclination_deg"]),
    )
    porb = float(star.get("porb_d", np.nan))
    if star["is_binary"] and np.isfinite(float(star.get("spot_amp2_pct", np.nan))):
        # The companion's own spots, diluted by its light fraction; its spin is aligned with the
        # orbit when tidally synchronized, isotropic otherwise.
        l2 = star["flux_ratio_g"] / (1.0 + star["flux_ratio_g"])
        inc2 = float(star["inclination_deg"]) if star.get("synchronized", False) else None
        spots2 = spot_signal(
            t,
            float(star["prot2_d"]),
            float(star["spot_amp2_pct"]),
            rng,
            decay_rot=float(star["spot_decay2_rot"]),
            shear=float(star["shear2"]),
            inclination_deg=inc2,
        )
        rel = (1 - l2) * rel + l2 * spots2
    if star["is_binary"] and np.isfinite(porb):
        # Ellipsoidal variation and eclipses wherever the orbit makes them (∝ (R/a)³, so only
        # close orbits show them). Averaged over each 29.4-min exposure (5 sub-samples).
        offsets = (np.arange(5) - 2) / 5.0 * LONG_CADENCE_D
        rel += np.mean([binary_signal(t + dt, star, rng) for dt in offsets], axis=0)
    flares, n_flares = flare_signal(t, float(star.get("flare_rate_per_d", 0.0) or 0.0), rng)
    rel += flares
    if star["logg"] < 4.0:
        rel += granulation(t, star["logg"], rng)
        rel += oscillations(t, star, rng)
    sigma = noise_ppm(star["kepmag"]) * 1e-6
    rel += rng.normal(0.0, sigma, t.size)
    flux0 = FLUX_KP12 * 10 ** (-0.4 * (star["kepmag"] - 12.0))
    pdcsap = flux0 * (1.0 + rel)
    quality, nan_time, nan_flux = _quality(t, rng)
    # SAP keeps an uncorrected slow focus/pointing drift and ~10 % aperture losses.
    frac = (t - t[0]) / (t[-1] - t[0])
    drift = 1.0 + 0.004 * frac**2
    flfrcsap, crowdsap = 0.9, float(np.clip(rng.normal(0.97, 0.02), 0.85, 1.0))
    sap = flfrcsap * pdcsap * drift / crowdsap
    pos1 = 0.02 * np.sin(2 * np.pi * frac) + rng.normal(0, 0.002, t.size)
    pos2 = 0.015 * frac + rng.normal(0, 0.002, t.size)
    bkg = BACKGROUND_E_S * APERTURE_PIXELS * (1 + 0.1 * np.sin(2 * np.pi * frac * 3)) + rng.normal(
        0, 20, t.size
    )
    col, row = rng.uniform(20, 1100), rng.uniform(20, 1040)
    extra = {
        "SAP_BKG": bkg,
        "SAP_BKG_ERR": np.full(t.size, 20.0),
        "MOM_CENTR1": col + pos1 + rng.normal(0, 1e-3, t.size),
        "MOM_CENTR1_ERR": np.full(t.size, 1e-3),
        "MOM_CENTR2": row + pos2 + rng.normal(0, 1e-3, t.size),
        "MOM_CENTR2_ERR": np.full(t.size, 1e-3),
        "POS_CORR1": pos1,
        "POS_CORR2": pos2,
        "TIMECORR": np.full(t.size, 3.2e-3 * np.cos(2 * np.pi * (t[0] - 120.0) / 372.5)),
    }
    time = t.copy()
    time[nan_time] = np.nan
    pdcsap[nan_time] = np.nan
    sap[nan_time] = np.nan
    pdcsap[nan_flux] = np.nan
    err = np.full(t.size, sigma * flux0)
    err[nan_time] = np.nan
    for key in ("SAP_BKG", "MOM_CENTR1", "MOM_CENTR2", "POS_CORR1", "POS_CORR2"):
        extra[key][nan_time] = np.nan
    quarter = 5 + quarter_index
    header = {
        "LIVETIME": round(float(np.isfinite(time).sum()) * LIVETIME_S / 86400.0, 6),
        "CDPP3_0": _cdpp_ppm(sigma, 3.0),
        "CDPP6_0": _cdpp_ppm(sigma, 6.0),
        "CDPP12_0": _cdpp_ppm(sigma, 12.0),
        "PDCMETHD": "msMAP",
        "CROWDSAP": round(crowdsap, 4),
        "FLFRCSAP": flfrcsap,
    }
    return SimulatedLightCurve(
        time,
        pdcsap,
        err,
        sap,
        quality,
        quarter=quarter,
        columns_extra=extra,
        header_extra=header,
        n_flares=n_flares,
    )
