"""Two line indices measured on each input spectrum, as extra spectrum features of the model.

The Li 6708 matched-filter equivalent width and the FWHM of the line-mask cross-correlation
function are the observer's recipes of ``data.spectral_indices`` (``li6708_ew_ma``,
``ccf_fwhm_kms``), vectorised here over the model's own spectrum grid: the spectra the model
receives are already in the rest frame and continuum-normalised, so both are measured at RV 0
with the pixel mask as uniform weights and the normalised continuum (2,000 spectra in about
0.3 s). They carry binary and youth information the learned encoder misses (issue 15,
``docs/evaluation/readout.md``).

With ``SpectrumEncoderConfig.measured_indices`` the model appends them to the pooled spectrum
vector (:meth:`desa_core.model.DesaModel.encode`), standardised with statistics fitted on the
training split and stored in the checkpoint (:class:`MeasuredIndices`), so the fusion, every
baseline and the embed path read the same features. They come from the spectrum pixels only.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from torch import Tensor, nn

from data.schema import C_KMS, CCF_MASK_AA, LI_CONTINUUM_AA, LI_VAC_AA, LRS_RESOLUTION

#: The measured indices, in column order: signed log Li EW, log CCF FWHM.
INDEX_NAMES = ("li6708_ew_signed_log", "ccf_fwhm_log")


def spectrum_wavelengths(length: int, log10_start: float, log10_step: float) -> np.ndarray:
    """Rest-frame vacuum wavelengths (Å) of a model's spectrum grid (``SpectrumEncoderConfig``)."""
    return 10.0 ** (log10_start + log10_step * np.arange(length))


def measured_indices(
    flux: np.ndarray, mask: np.ndarray, wavelength_aa: np.ndarray, *, chunk: int = 2048
) -> np.ndarray:
    """(N, 2) float64 indices of gridded spectra: sign·log(1 + |EW| / 100 mÅ) and log FWHM (km/s).

    The EW (mÅ) is noisy and of either sign at SNR ≈ 30; the signed log keeps the young stars'
    100–400 mÅ apart from noise without letting outliers dominate. NaN where a region has too few
    good pixels (a star without a spectrum has NaN in both).
    """
    out = np.full((len(flux), len(INDEX_NAMES)), np.nan)
    for start in range(0, len(flux), chunk):
        stop = start + chunk
        ew, fwhm = grid_line_indices(
            np.asarray(flux[start:stop]), np.asarray(mask[start:stop]), wavelength_aa
        )
        out[start:stop, 0] = np.sign(ew) * np.log1p(np.abs(ew) / 100.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[start:stop, 1] = np.log(np.where(fwhm > 0, fwhm, np.nan))
    return out


class MeasuredIndices(nn.Module):
    """The standardised measured indices of a batch of spectra: (B, L) flux, mask -> (B, 2).

    ``mean`` and ``std`` are buffers (saved in the checkpoint) set by :meth:`fit` from the training
    split's raw indices; a missing index (NaN) becomes 0, the training mean.
    """

    def __init__(self, length: int, log10_start: float, log10_step: float) -> None:
        super().__init__()
        self.wavelength_aa = spectrum_wavelengths(length, log10_start, log10_step)
        self.register_buffer("mean", torch.full((len(INDEX_NAMES),), float("nan"), dtype=torch.float64))
        self.register_buffer("std", torch.ones(len(INDEX_NAMES), dtype=torch.float64))

    @property
    def fitted(self) -> bool:
        """Whether :meth:`fit` has set the standardisation statistics."""
        return bool(torch.isfinite(self.mean).all())

    def raw(self, flux: Tensor, mask: Tensor) -> np.ndarray:
        """(B, 2) raw indices (NaN where unmeasurable) of a batch of spectra."""
        return measured_indices(flux.detach().cpu().numpy(), mask.detach().cpu().numpy(), self.wavelength_aa)

    @torch.no_grad()
    def fit(self, raw: np.ndarray) -> None:
        """Standardisation statistics from raw indices of the training split (NaN ignored)."""
        raw = np.asarray(raw, np.float64)
        if not np.isfinite(raw).any(axis=0).all():
            raise ValueError("no training spectrum has a measurable line index; cannot standardise")
        mean, std = np.nanmean(raw, axis=0), np.nanstd(raw, axis=0)
        self.mean.copy_(torch.as_tensor(mean))
        self.std.copy_(torch.as_tensor(np.where(std > 0, std, 1.0)))

    def standardise(self, raw: np.ndarray) -> np.ndarray:
        """(B, 2) float32 standardised indices, 0 where missing."""
        if not self.fitted:
            raise RuntimeError(
                "the measured-index statistics are not fitted: fit them on the training split "
                "(training.stages.align.encode_all does) before encoding"
            )
        mean, std = self.mean.double().cpu().numpy(), self.std.double().cpu().numpy()
        z = (np.asarray(raw, np.float64) - mean) / std
        return np.nan_to_num(z, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32)

    def forward(self, flux: Tensor, mask: Tensor) -> Tensor:
        return torch.as_tensor(self.standardise(self.raw(flux, mask)), device=flux.device)


def grid_line_indices(
    flux: np.ndarray, mask: np.ndarray, wavelength_aa: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Li 6708 EW (mÅ) and CCF FWHM (km/s) of gridded spectra: (B, L) each -> two (B,) arrays.

    The store's spectra (``data.preprocess.spectrum_to_grid``) are already in the rest frame and
    continuum-normalised, so this is :func:`li6708_ew_ma` and :func:`ccf_fwhm_kms` at RV 0 with the
    inverse variance replaced by the pixel mask (uniform weights) and the CCF's running-median
    continuum by the normalised one. Every step is linear algebra over the batch, so 20,000 spectra
    take seconds. NaN where the region has too few good pixels.
    """
    flux = np.asarray(flux, np.float64)
    good = np.asarray(mask, bool) & np.isfinite(flux)
    wave = np.asarray(wavelength_aa, np.float64)
    return _grid_li_ew(flux, good, wave), _grid_ccf_fwhm(flux, good, wave)


def _grid_li_ew(flux: np.ndarray, good: np.ndarray, wave: np.ndarray) -> np.ndarray:
    cont_px = np.flatnonzero(np.any([(wave > lo) & (wave < hi) for lo, hi in LI_CONTINUUM_AA], axis=0))
    near_px = np.flatnonzero(np.abs(wave - LI_VAC_AA) < 6.0)
    x = wave[cont_px] - LI_VAC_AA
    w = good[:, cont_px].astype(np.float64)  # (B, K)
    f = np.where(good[:, cont_px], flux[:, cont_px], 0.0)
    # Weighted straight line through the continuum windows, solved per star (2 x 2 normal equations).
    s0, s1, s2 = w.sum(1), (w * x).sum(1), (w * x * x).sum(1)
    t0, t1 = (w * f).sum(1), (w * f * x).sum(1)
    det = s0 * s2 - s1 * s1
    ok = (s0 >= 4) & (good[:, near_px].sum(1) >= 3) & (det > 0)
    det = np.where(ok, det, 1.0)
    slope, intercept = (s0 * t1 - s1 * t0) / det, (s2 * t0 - s1 * t1) / det
    cont = intercept[:, None] + slope[:, None] * (wave[near_px] - LI_VAC_AA)[None]  # (B, M)
    cont = np.where(cont > 0, cont, 1.0)
    depth = 1.0 - np.where(good[:, near_px], flux[:, near_px], 0.0) / cont
    wt = good[:, near_px] * cont**2
    sigma = LI_VAC_AA / LRS_RESOLUTION / 2.3548
    phi = np.exp(-0.5 * ((wave[near_px] - LI_VAC_AA) / sigma) ** 2) / (np.sqrt(2 * np.pi) * sigma)
    norm = (wt * phi**2).sum(1)
    ew = (wt * phi * depth).sum(1) / np.where(norm > 0, norm, 1.0)
    return np.where(ok & (norm > 0), ew * 1000.0, np.nan)


#: Velocities of the grid CCF (km/s), as in :func:`ccf_fwhm_kms`.
CCF_VELOCITY_KMS = np.arange(-500.0, 501.0, 5.0)


def _ccf_matrix(wave: np.ndarray) -> np.ndarray:
    """(V, L) weights: row v sums the mask lines shifted by velocity v, linearly interpolated."""
    lines = np.array(CCF_MASK_AA)
    lines = lines[(lines > wave[0] + 20) & (lines < wave[-1] - 20)]
    log_wave = np.log(wave)
    pos = np.log(lines[None, :]) + np.log1p(CCF_VELOCITY_KMS[:, None] / C_KMS)  # (V, n)
    right = np.clip(np.searchsorted(log_wave, pos), 1, wave.size - 1)
    frac = (pos - log_wave[right - 1]) / (log_wave[right] - log_wave[right - 1])
    out = np.zeros((CCF_VELOCITY_KMS.size, wave.size))
    rows = np.broadcast_to(np.arange(CCF_VELOCITY_KMS.size)[:, None], pos.shape)
    np.add.at(out, (rows, right - 1), 1.0 - frac)
    np.add.at(out, (rows, right), frac)
    return out


@functools.lru_cache(maxsize=8)
def _ccf_columns(wave_bytes: bytes) -> tuple[np.ndarray, np.ndarray]:
    """The grid pixels any shifted mask line touches (K,) and the CCF weights on them (K, V).

    Built once per grid: about 230 of the 3,840 pixels of the LAMOST grid, so the CCF of a batch is
    a (B, K) by (K, V) product instead of one over every pixel (and the matrix is not rebuilt).
    """
    matrix = _ccf_matrix(np.frombuffer(wave_bytes, dtype=np.float64))
    columns = np.flatnonzero(matrix.any(axis=0))
    return columns, np.ascontiguousarray(matrix[:, columns].T)


def _grid_ccf_fwhm(flux: np.ndarray, good: np.ndarray, wave: np.ndarray) -> np.ndarray:
    columns, weights = _ccf_columns(np.ascontiguousarray(wave, dtype=np.float64).tobytes())
    # Continuum-normalised: the continuum is 1; bad pixels count as no line.
    depth = np.where(good[:, columns], 1.0 - flux[:, columns], 0.0)
    # In torch, not numpy: numpy's BLAS keeps its own threads spinning after a product, which took
    # the cores from the model's forward pass (benchmarks/bench_embed.py: ~25 % fewer stars/s).
    ccf = (torch.from_numpy(depth) @ torch.from_numpy(weights)).numpy()  # (B, V)
    ccf -= np.median(ccf[:, np.abs(CCF_VELOCITY_KMS) > 350], axis=1, keepdims=True)
    central = np.flatnonzero(np.abs(CCF_VELOCITY_KMS) < 300)
    peak = central[np.argmax(ccf[:, central], axis=1)]
    rows = np.arange(len(ccf))
    half = ccf[rows, peak] / 2.0
    above = ccf > half[:, None]
    idx = np.arange(ccf.shape[1])[None]
    # The contiguous run above half maximum around the peak: first index left / right that is not.
    left = np.where(~above & (idx < peak[:, None]), idx, -1).max(1)
    right = np.where(~above & (idx > peak[:, None]), idx, ccf.shape[1]).min(1)
    v = CCF_VELOCITY_KMS
    ok = (half > 0) & (left >= 0) & (right < ccf.shape[1]) & (good.sum(1) >= 100)
    left, right = np.clip(left, 0, len(v) - 2), np.clip(right, 1, len(v) - 1)
    x_left = _cross(half, ccf[rows, left], ccf[rows, left + 1], v[left], v[left + 1])
    x_right = _cross(half, ccf[rows, right], ccf[rows, right - 1], v[right], v[right - 1])
    return np.where(ok, x_right - x_left, np.nan)


def _cross(level: np.ndarray, y0: np.ndarray, y1: np.ndarray, x0: np.ndarray, x1: np.ndarray) -> np.ndarray:
    """Where the line through (x0, y0), (x1, y1) reaches ``level`` (per star)."""
    dy = np.where(y1 != y0, y1 - y0, 1e-12)
    return x0 + (level - y0) * (x1 - x0) / dy
