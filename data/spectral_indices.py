"""Quantities an observer measures on one low-resolution spectrum: Li 6708 EW and CCF width.

Both work on any spectrum on its own grid (wavelength, flux, inverse variance, RV), simulated or
real, and know nothing of the truth table. They are the spectroscopic side of the synchronized
binary versus young star case (``docs/SCIENCE.md`` section 3.9): young stars keep lithium,
close binaries show a composite spectrum whose lines are broadened or doubled by the
components' RV difference.

* :func:`li6708_ew_ma`: a matched filter, the least-squares amplitude of a Gaussian line at
  Li I 6709.66 Å (vacuum) with the instrument's width (R ≈ 1800), on a linear pseudo-continuum
  fitted to line-free windows either side. Optimal for an unresolved line in white noise, so it
  beats a box integral of the same pixels; its 1σ error comes from the inverse variance.
* :func:`ccf_fwhm_kms`: the FWHM of the cross-correlation of the continuum-normalised spectrum
  with a mask of strong lines (Ca I, Mg b, Na D, Fe I, Ca II triplet), a standard SB2
  signature at low resolution (broader than the instrument's ≈ 170 km/s when two components
  are offset; Matijevič et al. 2010, AJ 140, 184, for the RAVE double-lined method).
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import median_filter

from data.schema import C_KMS, CCF_MASK_AA, LI_CONTINUUM_AA, LI_VAC_AA, LRS_RESOLUTION


def li6708_ew_ma(
    wavelength_aa: np.ndarray, flux: np.ndarray, ivar: np.ndarray, rv_kms: float
) -> tuple[float, float]:
    """Li I 6708 equivalent width and its 1σ error (mÅ); NaN when the region has no good pixels."""
    wave = np.asarray(wavelength_aa, float) / (1.0 + rv_kms / C_KMS)
    flux, ivar = np.asarray(flux, float), np.asarray(ivar, float)
    good = (ivar > 0) & np.isfinite(flux)
    cont_sel = good & np.any([(wave > lo) & (wave < hi) for lo, hi in LI_CONTINUUM_AA], axis=0)
    near = good & (np.abs(wave - LI_VAC_AA) < 6.0)
    if cont_sel.sum() < 4 or near.sum() < 3:
        return float("nan"), float("nan")
    coeff = np.polyfit(wave[cont_sel] - LI_VAC_AA, flux[cont_sel], 1, w=np.sqrt(ivar[cont_sel]))
    cont = np.polyval(coeff, wave[near] - LI_VAC_AA)
    depth = 1.0 - flux[near] / cont
    w = ivar[near] * cont**2  # inverse variance of the normalised depth
    sigma = LI_VAC_AA / LRS_RESOLUTION / 2.3548
    # Unit-EW (1 Å) Gaussian profile sampled at the pixels: depth = EW · φ(λ).
    phi = np.exp(-0.5 * ((wave[near] - LI_VAC_AA) / sigma) ** 2) / (np.sqrt(2 * np.pi) * sigma)
    norm = np.sum(w * phi**2)
    ew = np.sum(w * phi * depth) / norm
    return float(ew * 1000.0), float(1000.0 / np.sqrt(norm))


def ccf_fwhm_kms(wavelength_aa: np.ndarray, flux: np.ndarray, ivar: np.ndarray, rv_kms: float) -> float:
    """FWHM (km/s) of the line-mask cross-correlation function around the measured RV."""
    wave = np.asarray(wavelength_aa, float) / (1.0 + rv_kms / C_KMS)
    flux, ivar = np.asarray(flux, float), np.asarray(ivar, float)
    good = (ivar > 0) & np.isfinite(flux)
    if good.sum() < 100:
        return float("nan")
    filled = np.where(good, flux, np.interp(wave, wave[good], flux[good]))
    cont = median_filter(filled, size=151, mode="nearest")
    depth = np.where(good, 1.0 - filled / np.maximum(cont, 1e-12), 0.0)
    velocity = np.arange(-500.0, 501.0, 5.0)
    mask = np.array(CCF_MASK_AA)
    mask = mask[(mask > wave[0] + 20) & (mask < wave[-1] - 20)]
    log_wave = np.log(wave)
    shifted = np.log(mask[None, :]) + np.log1p(velocity[:, None] / C_KMS)
    ccf = np.interp(shifted, log_wave, depth).sum(axis=1)
    ccf -= np.median(ccf[np.abs(velocity) > 350])
    central = np.abs(velocity) < 300
    peak = int(np.flatnonzero(central)[np.argmax(ccf[central])])
    half = ccf[peak] / 2.0
    if half <= 0:
        return float("nan")
    left = peak
    while left > 0 and ccf[left] > half:
        left -= 1
    right = peak
    while right < ccf.size - 1 and ccf[right] > half:
        right += 1
    # Linear interpolation of the half-maximum crossings.
    x_left = np.interp(half, [ccf[left], ccf[left + 1]], [velocity[left], velocity[left + 1]])
    x_right = np.interp(half, [ccf[right], ccf[right - 1]], [velocity[right], velocity[right - 1]])
    return float(x_right - x_left)
