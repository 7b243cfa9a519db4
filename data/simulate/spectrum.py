"""LAMOST low-resolution spectra from a parametric model (not a synthesis code).

No installable package gives FGKM dwarf spectra at R ≈ 1800 offline (``docs/SCIENCE.md`` 4.3), so a
spectrum is a Planck continuum at Teff times a hand-made line list whose equivalent widths scale
with Teff, logg and [Fe/H]: Balmer lines, Ca II H&K, Ca I 4227, the G band, Mg b, Na D, the Ca II
triplet, Fe I blends, a fixed forest of weak metal lines, TiO bands below 4000 K and Li 6708 from
A(Li). Hα and Ca II cores fill in with activity (Rossby number). Binaries are the light-weighted sum
of two Doppler-shifted components. Lines are Gaussians convolved analytically with the R = 1800
instrumental profile. Wavelengths are vacuum (air values × 1.00028 where quoted from air tables).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from data.lamost import COEFF0, COEFF1, lamost_grid

RESOLUTION = 1800.0
C_KMS = 299792.458
_SIG_PER_FWHM = 1.0 / 2.3548

# (vacuum Å, EW at 5800 K/logg 4.4/[Fe/H] 0 in Å, intrinsic σ Å, Teff slope k_T, [Fe/H] slope,
#  logg slope): EW = EW₀ · exp(k_T x) · 10^(k_Z [Fe/H]) · (1 + k_g (logg − 4.4)),
#  x = (Teff − 5800)/1000.
# Solar-like EWs are round values of the right order (our choice, not measured).
_BALMER = ((6564.6, 3.0, 5.0), (4862.7, 3.5, 5.0), (4341.7, 2.8, 4.5), (4102.9, 2.5, 4.5))
_LINES = (
    (3934.8, 18.0, 7.0, -0.5, 0.3, 0.0),  # Ca II K
    (3969.6, 14.0, 7.0, -0.5, 0.3, 0.0),  # Ca II H
    (4227.9, 1.5, 1.0, -1.2, 0.4, 0.15),  # Ca I 4227
    (4305.0, 5.0, 12.0, -0.6, 0.3, 0.0),  # G band (CH)
    (5168.8, 1.0, 0.8, -0.8, 0.4, 0.2),  # Mg b
    (5174.1, 1.2, 0.8, -0.8, 0.4, 0.2),
    (5185.0, 1.5, 0.8, -0.8, 0.4, 0.2),
    (5891.6, 0.75, 0.6, -1.2, 0.4, 0.2),  # Na D
    (5897.6, 0.6, 0.6, -1.2, 0.4, 0.2),
    (8500.4, 1.0, 1.5, -0.3, 0.3, -0.15),  # Ca II triplet (stronger in giants)
    (8544.4, 3.0, 1.5, -0.3, 0.3, -0.15),
    (8664.5, 2.5, 1.5, -0.3, 0.3, -0.15),
)
# A dozen Fe I blends (air λ × 1.00028): 4045.8, 4383.5, 4404.8, 4957.6, 5269.5, 5328.0, 5371.5,
# 5397.1, 5405.8, 5429.7, 5446.9, 6495.0 Å.
_FE_AIR = (
    4045.8,
    4383.5,
    4404.8,
    4957.6,
    5269.5,
    5328.0,
    5371.5,
    5397.1,
    5405.8,
    5429.7,
    5446.9,
    6495.0,
)
_FE_EW = (0.8, 0.7, 0.6, 0.4, 0.5, 0.35, 0.35, 0.3, 0.3, 0.3, 0.3, 0.25)
_TIO_HEADS = (4955.0, 5168.0, 5449.0, 6160.0, 7055.0, 7590.0)
LI_VAC_AA = 6709.66
HALPHA_FILL_DEPTH = 0.8
ROT_SIGMA_PER_VSINI = 0.52
R_V = 3.1
CAII_FILL_DEPTH = 0.4


@dataclass(frozen=True, eq=False)
class SimulatedSpectrum:
    """One simulated LAMOST spectrum on the native grid (see ``write_lamost_spectrum``)."""

    wavelength_aa: np.ndarray
    flux: np.ndarray
    ivar: np.ndarray
    andmask: np.ndarray
    ormask: np.ndarray
    helio_rv_kms: float


@lru_cache(maxsize=1)
def _line_table() -> np.ndarray:
    """All narrow/broad lines as rows (λ, EW₀, σ, k_T, k_Z, k_g), including a fixed weak forest."""
    fe = [(a * 1.00028, ew, 0.5, -0.9, 0.5, 0.0) for a, ew in zip(_FE_AIR, _FE_EW, strict=True)]
    # 200 weak metal lines at fixed positions: a deterministic stand-in for the real line forest.
    forest_rng = np.random.default_rng(20250715)
    lam = np.exp(forest_rng.uniform(np.log(3800), np.log(9000), 200))
    ew = forest_rng.uniform(0.03, 0.15, 200) * np.where(lam < 5500, 1.5, 0.7)
    forest = np.column_stack(
        [lam, ew, np.full(200, 0.4), np.full(200, -1.0), np.full(200, 0.5), np.zeros(200)]
    )
    return np.vstack([np.array(_LINES + tuple(fe)), forest])


def _equivalent_widths(table: np.ndarray, teff: float, logg: float, feh: float) -> np.ndarray:
    x = (teff - 5800.0) / 1000.0
    ew = table[:, 1] * np.exp(table[:, 3] * x) * 10 ** (table[:, 4] * feh)
    return ew * np.clip(1.0 + table[:, 5] * (logg - 4.4), 0.3, 2.0)


def planck(wavelength_aa: np.ndarray, teff_k: float) -> np.ndarray:
    """Planck B_λ (arbitrary units, ∝ λ⁻⁵ / (exp(hc/λkT) − 1))."""
    x = 1.4387769e8 / (wavelength_aa * teff_k)  # hc/k in Å·K
    return (wavelength_aa / 5500.0) ** -5 / np.expm1(np.minimum(x, 700.0))


def _add_lines(
    tau: np.ndarray, centres: np.ndarray, ews: np.ndarray, sigma_int: np.ndarray, vsini_kms: float = 0.0
) -> None:
    """Add Gaussian lines (area = EW, Å) convolved with the R = 1800 profile to ``tau``.

    Rotation broadens each line by a Gaussian of σ = 0.52 λ v sin i / c, the second moment of the
    classical rotation profile with linear limb darkening ε = 0.6 (Gray 2005); at R = 1800 it only
    matters for v sin i ≳ 100 km/s.
    """
    px = (np.log10(centres) - COEFF0) / COEFF1
    sigma_rot = ROT_SIGMA_PER_VSINI * centres * vsini_kms / C_KMS
    sigma = np.sqrt(sigma_int**2 + (centres / RESOLUTION * _SIG_PER_FWHM) ** 2 + sigma_rot**2)
    sigma_px = sigma / (centres * np.log(10) * COEFF1)
    half = int(np.ceil(5 * sigma_px.max()))
    offsets = np.arange(-half, half + 1)
    idx = np.rint(px)[:, None].astype(np.int64) + offsets[None, :]
    ok = (idx >= 0) & (idx < tau.size)
    depth = ews / (np.sqrt(2 * np.pi) * sigma)
    prof = depth[:, None] * np.exp(-0.5 * ((idx - px[:, None]) / sigma_px[:, None]) ** 2)
    tau += np.bincount(idx[ok], weights=prof[ok], minlength=tau.size)


def ccm89_extinction(wavelength_aa: np.ndarray, ebv: float, r_v: float = R_V) -> np.ndarray:
    """A_λ (mag) of Cardelli, Clayton & Mathis (1989) for E(B−V) and R_V, 0.3–3.3 μm⁻¹."""
    x = 1e4 / np.asarray(wavelength_aa, dtype=float)
    if (x < 0.3).any() or (x > 3.3).any():
        raise ValueError("ccm89_extinction covers 3030–33333 Å only")
    y = x - 1.82
    a = np.where(
        x >= 1.1,
        np.polyval([0.32999, -0.77530, 0.01979, 0.72085, -0.02427, -0.50447, 0.17699, 1.0], y),
        0.574 * x**1.61,
    )
    b = np.where(
        x >= 1.1,
        np.polyval([-2.09002, 5.30260, -0.62251, -5.38434, 1.07233, 2.28305, 1.41338, 0.0], y),
        -0.527 * x**1.61,
    )
    return ebv * (a * r_v + b)


def normalised_spectrum(
    teff: float,
    logg: float,
    feh: float,
    *,
    li_ew_ma: float,
    fill: float,
    rv_kms: float,
    vsini_kms: float = 0.0,
) -> np.ndarray:
    """Continuum-normalised model spectrum on the LAMOST grid, Doppler-shifted by ``rv_kms``."""
    wave = lamost_grid()
    shift = 1.0 + rv_kms / C_KMS
    tau = np.zeros(wave.size)
    table = _line_table()
    ews = _equivalent_widths(table, teff, logg, feh)
    ews[:2] *= 1.0 - CAII_FILL_DEPTH * fill
    narrow = table[:, 2] < 3.0
    _add_lines(tau, table[narrow, 0] * shift, ews[narrow], table[narrow, 2], vsini_kms)
    _add_lines(tau, table[~narrow, 0] * shift, ews[~narrow], table[~narrow, 2], vsini_kms)
    balmer = np.array(_BALMER)
    b_ew = balmer[:, 1] * np.exp(1.1 * (teff - 5800.0) / 1000.0) * (1.0 + 0.1 * (logg - 4.4))
    b_ew[0] *= 1.0 - HALPHA_FILL_DEPTH * fill
    _add_lines(tau, balmer[:, 0] * shift, b_ew, balmer[:, 2], vsini_kms)
    li = np.array([li_ew_ma / 1000.0])
    _add_lines(tau, np.array([LI_VAC_AA * shift]), li, np.array([0.3]), vsini_kms)
    flux = np.exp(-tau)
    if teff < 4000.0:  # TiO bands: sharp head, degrading to the red over ~80 Å
        depth = 0.5 * min((4000.0 - teff) / 700.0, 1.0)
        for head in _TIO_HEADS:
            red = wave >= head * shift
            flux[red] *= 1.0 - depth * np.exp(-(wave[red] - head * shift) / 80.0)
    return flux


def instrument_response(wavelength_aa: np.ndarray) -> np.ndarray:
    """Smooth two-arm throughput with a dichroic dip near 5800 Å (shape only, our choice)."""
    blue = np.exp(-0.5 * ((wavelength_aa - 4800.0) / 900.0) ** 2)
    red = np.exp(-0.5 * ((wavelength_aa - 7200.0) / 1400.0) ** 2)
    return 0.15 + blue + 0.9 * red - 0.3 * np.exp(-0.5 * ((wavelength_aa - 5800.0) / 60.0) ** 2)


def simulate_spectrum(star: dict, rng: np.random.Generator) -> SimulatedSpectrum:
    """Simulate a LAMOST LRS spectrum of a truth-table row (a dict), with noise and bad pixels."""
    wave = lamost_grid()
    phase = np.sin(2 * np.pi * star["orbit_phase"])
    v1 = star["rv_kms"] + star["k1_kms"] * phase
    fill = star["halpha_fill"]
    flux = (
        star["radius_rsun"] ** 2
        * planck(wave, star["teff_k"])
        * normalised_spectrum(
            star["teff_k"],
            star["logg"],
            star["feh"],
            li_ew_ma=star["li_ew_ma"],
            fill=fill,
            rv_kms=v1,
            vsini_kms=float(star.get("vsini_kms", 0.0)),
        )
    )
    if star["is_binary"]:
        v2 = star["rv_kms"] - star["k2_kms"] * phase
        # The companion's own Li EW (its Teff, logg and the common age; population._activity):
        # weighting its spectrum by its light below is the one and only dilution.
        flux = flux + star["radius2_rsun"] ** 2 * planck(wave, star["teff2_k"]) * normalised_spectrum(
            star["teff2_k"],
            star["logg2"],
            star["feh"],
            li_ew_ma=float(star["li2_ew_ma"]),
            fill=fill,
            rv_kms=v2,
            vsini_kms=float(star.get("vsini2_kms", 0.0)),
        )
    # Interstellar reddening of the continuum (the truth's E(B−V), CCM89 with R_V = 3.1).
    flux = flux * 10 ** (-0.4 * ccm89_extinction(wave, float(star.get("ebv_mag", 0.0))))
    flux = flux * instrument_response(wave)
    g_band = (wave > 4000) & (wave < 5500)
    flux *= 300.0 / np.median(flux[g_band])  # ~300 counts per pixel in g
    f_g = np.median(flux[g_band])
    sigma = np.sqrt(np.maximum(flux, 1e-3) * f_g) / star["snr_g"]
    sigma *= 1.0 + 0.5 * np.exp(-0.5 * ((wave - 5800.0) / 60.0) ** 2)  # noisier at the dichroic
    observed = flux + rng.normal(0.0, 1.0, wave.size) * sigma
    ivar = 1.0 / sigma**2
    andmask = np.zeros(wave.size, dtype=np.int32)
    bad = rng.choice(wave.size, size=int(rng.integers(3, 15)), replace=False)
    andmask[bad] |= 1 << int(rng.integers(0, 8))
    andmask[:3] |= 1 << 23
    andmask[-3:] |= 1 << 23
    ivar[andmask != 0] = 0.0
    ormask = andmask.copy()
    ormask[rng.choice(wave.size, size=10, replace=False)] |= 1 << 4
    helio_rv = v1 + rng.normal(0.0, 5.0)  # LRS RV precision ~5 km/s (unverified)
    return SimulatedSpectrum(wave, observed, ivar, andmask, ormask, float(helio_rv))
