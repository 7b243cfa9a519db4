"""Pure array transforms onto the fixed model grids (arrays in, arrays out, no file access).

The grids are the survey schema's (``data.schema``, which the model reads too); the store's
manifest records them with the choices made here (:func:`grid_description`). Light curves keep
time: a regular grid in days with a validity mask, not a stitched sample count
(``docs/SCIENCE.md`` section 2). Spectra are shifted with λ_rest = λ_obs / (1 + v/c) (the
reference code multiplies, which is wrong) and divided by an iteratively σ-clipped continuum per
arm, so lines do not bias it.
"""

from __future__ import annotations

import numpy as np

from data.schema import (
    LC_CHANNELS,
    LC_LENGTH,
    LC_SPAN_D,
    SPEC_LENGTH,
    SPEC_LOG10_START,
    SPEC_LOG10_STEP,
    SPEC_MAX_AA,
    SPEC_MIN_AA,
)

#: Value written into the tensor where a bin is invalid (the mask says so).
LC_FILL_VALUE = 0.0
#: Below this fraction of valid bins a light curve is quarantined.
LC_MIN_VALID_FRACTION = 0.2

#: Blue/red arm boundary of LAMOST (continuum fitted per arm).
SPEC_ARM_SPLIT_AA = 5800.0
#: Polynomial degree of the continuum of the blue and the red arm. The red arm now runs to 9026 Å,
#: where degree 5 leaves the continuum 1–3 % low beyond 8600 Å on noiseless simulated spectra
#: (3700–6500 K); degree 6 there brings that under 0.3 %, while the blue arm is best at 5.
SPEC_CONTINUUM_DEGREE = (5, 6)
SPEC_CLIP = (0.0, 2.0)
SPEC_FILL_VALUE = 1.0
SPEC_MIN_VALID_FRACTION = 0.5
C_KMS = 299792.458


def grid_description() -> dict[str, object]:
    """Return the grid constants as a JSON-ready dict (stored in the manifest and checkpoints)."""
    return {
        "lc_length": LC_LENGTH,
        "lc_span_d": LC_SPAN_D,
        "lc_bin_d": LC_SPAN_D / LC_LENGTH,
        "lc_channels": list(LC_CHANNELS),
        "lc_fill_value": LC_FILL_VALUE,
        "spec_length": SPEC_LENGTH,
        "spec_min_aa": SPEC_MIN_AA,
        "spec_max_aa": SPEC_MAX_AA,
        "spec_log10_start": SPEC_LOG10_START,
        "spec_log10_step": SPEC_LOG10_STEP,
        "spec_grid": "log10-uniform, rest frame, vacuum",
        "spec_arm_split_aa": SPEC_ARM_SPLIT_AA,
        "spec_continuum_degree": list(SPEC_CONTINUUM_DEGREE),
        "spec_clip": list(SPEC_CLIP),
        "spec_fill_value": SPEC_FILL_VALUE,
    }


# --- light curves ------------------------------------------------------------------------------
def bin_lightcurve(
    time_bkjd: np.ndarray, flux: np.ndarray, valid: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Average valid cadences into LC_LENGTH bins spanning LC_SPAN_D from the first valid time.

    Returns
    -------
    binned, mask
        (LC_LENGTH,) float64 mean flux (NaN in empty bins) and bool mask (True = has data).
    """
    time = np.asarray(time_bkjd, dtype=np.float64)
    flux = np.asarray(flux, dtype=np.float64)
    ok = np.asarray(valid, dtype=bool) & np.isfinite(time) & np.isfinite(flux)
    if not ok.any():
        return np.full(LC_LENGTH, np.nan), np.zeros(LC_LENGTH, dtype=bool)
    t0 = time[ok].min()
    idx = np.floor((time[ok] - t0) / (LC_SPAN_D / LC_LENGTH)).astype(np.int64)
    inside = idx < LC_LENGTH
    counts = np.bincount(idx[inside], minlength=LC_LENGTH)
    sums = np.bincount(idx[inside], weights=flux[ok][inside], minlength=LC_LENGTH)
    mask = counts > 0
    binned = np.full(LC_LENGTH, np.nan)
    binned[mask] = sums[mask] / counts[mask]
    return binned, mask


def masked_autocorrelation(x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """ACF of a gap-zeroed series divided by the ACF of its mask, normalised to 1 at lag 0.

    Lags with fewer than 8 overlapping valid pairs are set to 0 (too noisy to mean anything).
    """
    n = x.size
    m = mask.astype(np.float64)
    xz = np.where(mask, x, 0.0)
    nfft = 2 * n
    acf_x = np.fft.irfft(np.abs(np.fft.rfft(xz, nfft)) ** 2, nfft)[:n]
    acf_m = np.fft.irfft(np.abs(np.fft.rfft(m, nfft)) ** 2, nfft)[:n]
    enough = acf_m > 7.5
    acf = np.zeros(n)
    acf[enough] = acf_x[enough] / acf_m[enough]
    return acf / acf[0] if acf[0] > 0 else acf


def log_power(x: np.ndarray, mask: np.ndarray, length: int = LC_LENGTH) -> np.ndarray:
    """Standardised log(1 + power) of the gap-zeroed rFFT, interpolated to ``length`` points."""
    xz = np.where(mask, x, 0.0)
    power = np.abs(np.fft.rfft(xz)) ** 2 / max(int(mask.sum()), 1)
    lp = np.log1p(power)
    lp = np.interp(np.linspace(0, lp.size - 1, length), np.arange(lp.size), lp)
    std = lp.std()
    return (lp - lp.mean()) / std if std > 0 else lp - lp.mean()


def lightcurve_channels(
    time_bkjd: np.ndarray, flux: np.ndarray, valid: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Bin a light curve onto the model grid and build its three channels.

    Parameters
    ----------
    time_bkjd, flux, valid
        (T,) cadence times (d), fluxes (any unit) and validity.

    Returns
    -------
    channels, mask
        (3, LC_LENGTH) float32: relative flux in percent (LC_FILL_VALUE in invalid bins), masked
        ACF over lags 0..LC_LENGTH-1 (1 at lag 0), standardised log power; (LC_LENGTH,) bool mask.
        Check :func:`lightcurve_problem` before using a result.
    """
    binned, mask = bin_lightcurve(time_bkjd, flux, valid)
    channels = np.zeros((3, LC_LENGTH), dtype=np.float32)
    if mask.sum() < 2:
        return channels, mask
    median = np.median(binned[mask])
    if not np.isfinite(median) or median == 0:
        return channels, np.zeros(LC_LENGTH, dtype=bool)
    rel = np.where(mask, (binned / median - 1.0) * 100.0, LC_FILL_VALUE)
    centred = np.where(mask, rel - rel[mask].mean(), 0.0)
    channels[0] = rel
    channels[1] = masked_autocorrelation(centred, mask)
    channels[2] = log_power(centred, mask)
    return channels, mask


def coverage_problem(mask: np.ndarray, min_fraction: float) -> str | None:
    """Return a quarantine reason if fewer than ``min_fraction`` of the grid is valid, else None."""
    fraction = float(np.mean(mask)) if np.size(mask) else 0.0
    if fraction < min_fraction:
        return f"{fraction:.1%} of the grid valid, {min_fraction:.0%} needed"
    return None


def lightcurve_problem(mask: np.ndarray) -> str | None:
    """Quarantine reason for a binned light-curve mask, or None if usable."""
    return coverage_problem(mask, LC_MIN_VALID_FRACTION)


def spectrum_problem(mask: np.ndarray) -> str | None:
    """Quarantine reason for a gridded spectrum mask, or None if usable."""
    return coverage_problem(mask, SPEC_MIN_VALID_FRACTION)


# --- spectra -----------------------------------------------------------------------------------
def spectrum_grid() -> np.ndarray:
    """Return the model's rest-frame wavelength grid in Å, shape (SPEC_LENGTH,)."""
    return 10.0 ** (SPEC_LOG10_START + SPEC_LOG10_STEP * np.arange(SPEC_LENGTH))


def resample_good(
    wavelength_aa: np.ndarray, flux: np.ndarray, good: np.ndarray, target_aa: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Interpolate onto ``target_aa``; a target is valid only if both neighbours are good."""
    wave = np.asarray(wavelength_aa, dtype=np.float64)
    order = np.argsort(wave)
    wave, flux, good = (
        wave[order],
        np.asarray(flux, np.float64)[order],
        np.asarray(good, bool)[order],
    )
    good = good & np.isfinite(flux)
    right = np.clip(np.searchsorted(wave, target_aa), 1, wave.size - 1)
    left = right - 1
    inside = (target_aa >= wave[0]) & (target_aa <= wave[-1])
    ok = inside & good[left] & good[right]
    w = (target_aa - wave[left]) / np.maximum(wave[right] - wave[left], 1e-12)
    out = np.where(
        ok,
        (1 - w) * np.where(good[left], flux[left], 0) + w * np.where(good[right], flux[right], 0),
        np.nan,
    )
    return out, ok


def fit_continuum(
    wavelength_aa: np.ndarray,
    flux: np.ndarray,
    mask: np.ndarray,
    *,
    degree: int = 5,
    iterations: int = 6,
    low_sigma: float = 1.5,
    high_sigma: float = 3.0,
) -> np.ndarray | None:
    """Iteratively σ-clipped polynomial continuum (lines fall below it); None if too few pixels.

    The least-squares fit solves the normal equations of a Legendre basis (well conditioned on
    [−1, 1]) with ``einsum`` rather than ``polyfit``: polyfit's LAPACK call on ~2,000 pixels goes
    multithreaded in OpenBLAS, which on a busy machine (or in ingest's worker processes) spent 20–30×
    the CPU time of the fit itself.
    """
    x = (wavelength_aa - wavelength_aa.mean()) / max(np.ptp(wavelength_aa) / 2, 1e-12)
    basis = np.polynomial.legendre.legvander(x, degree)  # (L, degree + 1)
    use = mask.copy()
    model = None
    for _ in range(iterations):
        if use.sum() < 3 * (degree + 1):
            return None
        b = basis[use]
        coef = np.linalg.solve(np.einsum("li,lj->ij", b, b), np.einsum("li,l->i", b, flux[use]))
        model = np.einsum("li,i->l", basis, coef)
        resid = flux - model
        sigma = 1.4826 * np.median(np.abs(resid[use] - np.median(resid[use])))
        if not sigma > 1e-9 * np.median(np.abs(flux[use])):
            break  # an exact fit (noiseless input): clipping at rounding level would drop every pixel
        new = mask & (resid > -low_sigma * sigma) & (resid < high_sigma * sigma)
        if np.array_equal(new, use):
            break
        use = new
    return model


def spectrum_to_grid(
    wavelength_aa: np.ndarray, flux: np.ndarray, good: np.ndarray, helio_rv_kms: float
) -> tuple[np.ndarray, np.ndarray]:
    """Shift to the rest frame, resample onto :func:`spectrum_grid` and continuum-normalise per arm.

    Returns
    -------
    flux, mask
        (SPEC_LENGTH,) float32 normalised flux (~1 in continuum, clipped to SPEC_CLIP,
        SPEC_FILL_VALUE where invalid) and bool mask (True = good). Check
        :func:`spectrum_problem` before use.
    """
    rest = np.asarray(wavelength_aa, dtype=np.float64) / (1.0 + float(helio_rv_kms) / C_KMS)
    grid = spectrum_grid()
    resampled, mask = resample_good(rest, flux, good, grid)
    out = np.full(SPEC_LENGTH, SPEC_FILL_VALUE, dtype=np.float64)
    arms = (grid < SPEC_ARM_SPLIT_AA, grid >= SPEC_ARM_SPLIT_AA)
    for arm, degree in zip(arms, SPEC_CONTINUUM_DEGREE, strict=True):
        arm_mask = arm & mask
        continuum = fit_continuum(
            grid[arm], np.where(arm_mask, resampled, 0.0)[arm], arm_mask[arm], degree=degree
        )
        if continuum is None or np.any(continuum[arm_mask[arm]] <= 0):
            mask = mask & ~arm
            continue
        out[arm] = np.where(arm_mask[arm], resampled[arm] / continuum, SPEC_FILL_VALUE)
    out = np.clip(out, *SPEC_CLIP)
    out[~mask] = SPEC_FILL_VALUE
    return out.astype(np.float32), mask
