"""Measured line indices as extra spectrum features (``desa_core.line_indices``, issue 15).

The grid versions must equal the observer's per-spectrum recipes (``data.spectral_indices``) on
synthetic spectra with known lines; with the flag off the model's features are today's, bit for
bit; with it on, every method's spectrum side gets the same two standardised columns.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from data.preprocess import spectrum_grid
from data.schema import C_KMS, CCF_MASK_AA, LI_VAC_AA, LRS_RESOLUTION
from data.spectral_indices import ccf_fwhm_kms, li6708_ew_ma
from desa_core.checkpoint import save_checkpoint
from desa_core.config import DesaConfig
from desa_core.line_indices import MeasuredIndices, grid_line_indices, measured_indices
from desa_core.model import DesaModel
from desa_core.serving import DesaService
from training.ablation import with_measured_indices
from training.baselines import ClipConfig, baseline_embeddings
from training.config import TrainConfig, load_config
from training.stages import align
from training.tensors import SurveyTensors

WAVE = spectrum_grid()
SIGMA_KMS = C_KMS / LRS_RESOLUTION / 2.3548  # the instrument's line width


def _line(centre_aa: float, ew_aa: float) -> np.ndarray:
    """Absorption profile of equivalent width ``ew_aa`` at the instrument's resolution."""
    sigma = centre_aa / LRS_RESOLUTION / 2.3548
    return ew_aa * np.exp(-0.5 * ((WAVE - centre_aa) / sigma) ** 2) / (np.sqrt(2 * np.pi) * sigma)


def _spectra(li_ew_ma: np.ndarray, split_kms: np.ndarray, snr: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    flux = np.ones((len(li_ew_ma), WAVE.size))
    for i in range(len(li_ew_ma)):
        flux[i] -= _line(LI_VAC_AA, li_ew_ma[i] / 1000.0)
        for centre in CCF_MASK_AA:  # each line split into two components of half the strength
            for v in (-split_kms[i] / 2, split_kms[i] / 2):
                flux[i] -= _line(centre * (1 + v / C_KMS), 0.4 / 2)
    return flux + rng.normal(0.0, 1.0 / snr, flux.shape)


def test_grid_indices_match_the_observer_functions_and_recover_the_lines() -> None:
    n = 40
    li = np.linspace(0.0, 400.0, n)
    split = np.where(np.arange(n) % 2, 120.0, 0.0)  # blended, as at R ≈ 1,800
    flux = _spectra(li, split, snr=1000.0, seed=1)
    mask = np.ones_like(flux, dtype=bool)
    mask[3, 1000:1400] = False  # a gap far from Li and from most mask lines
    ew, fwhm = grid_line_indices(flux, mask, WAVE)
    ivar = mask.astype(float)
    single = [li6708_ew_ma(WAVE, flux[i], ivar[i], 0.0)[0] for i in range(n)]
    np.testing.assert_allclose(ew, single, rtol=1e-8, atol=1e-6)
    np.testing.assert_allclose(ew, li, atol=15.0)  # mÅ, at SNR 1000
    looped = np.array([ccf_fwhm_kms(WAVE, flux[i], ivar[i], 0.0) for i in range(n)])
    np.testing.assert_allclose(fwhm, looped, rtol=0.05)
    # A double-lined spectrum's CCF is broader than the instrument's; a single-lined one is not.
    instrument = 2.3548 * SIGMA_KMS
    assert np.all(fwhm[split == 0] < 1.25 * instrument)
    assert np.all(fwhm[split > 0] > fwhm[split == 0].max() + 20.0)
    # The model measures on its own grid, which is the store's.
    spec = DesaConfig.tiny().spectrum
    np.testing.assert_array_equal(
        MeasuredIndices(spec.length, spec.log10_start, spec.log10_step).wavelength_aa, WAVE
    )


def test_measured_indices_flag_missing_regions_and_keep_their_order() -> None:
    n = 6
    flux = _spectra(np.array([0, 50, 100, 200, 300, 400.0]), np.zeros(n), snr=100.0, seed=2)
    mask = np.ones_like(flux, dtype=bool)
    mask[0, np.abs(WAVE - LI_VAC_AA) < 40] = False  # no Li region for star 0
    mask[1] = False  # nothing at all for star 1
    raw = measured_indices(flux, mask, WAVE, chunk=4)  # chunks must not reorder stars
    assert raw.shape == (n, 2)
    assert np.isnan(raw[0, 0]) and np.isfinite(raw[0, 1])
    assert np.isnan(raw[1]).all()
    assert np.all(np.diff(raw[2:, 0]) > 0)  # EW rises with the injected line


def _survey(n: int = 30) -> tuple[SurveyTensors, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    flux = _spectra(rng.uniform(0, 400, n), rng.choice([0.0, 150.0], n), snr=50.0, seed=3)
    mask = np.ones_like(flux, dtype=bool)
    mask[5] = False  # a star without a spectrum: its indices are missing, standardised to 0
    cfg = DesaConfig.tiny().lightcurve
    lc = torch.as_tensor(rng.normal(size=(n, cfg.channels, cfg.length)), dtype=torch.float32)
    split = np.array(["train", "train", "val", "test"] * n)[:n]
    data = SurveyTensors(
        lc=lc,
        lc_mask=torch.ones(n, cfg.length, dtype=torch.bool),
        spec=torch.as_tensor(flux, dtype=torch.float32),
        spec_mask=torch.as_tensor(mask),
        labels=torch.zeros(n, 1),
        label_names=("teff_k",),
        binary=torch.zeros(n),
        split=split,
    )
    return data, flux.astype(np.float32), mask


def test_flag_off_gives_todays_features_bit_for_bit() -> None:
    torch.manual_seed(0)
    model = DesaModel(DesaConfig.tiny("preserve")).eval()
    assert model.spectrum_indices is None
    assert model.config.spectrum.pooled_dim == model.config.spectrum.embed_dim
    assert not [k for k in model.state_dict() if "indices" in k], "no new tensors in old checkpoints"
    data, _, _ = _survey(12)
    lc, spec = align.encode_all(model, data, batch_size=len(data.lc), progress=False)  # one batch
    with torch.no_grad():  # what DesaModel.encode returned before the flag existed
        assert torch.equal(lc, model.lightcurve_encoder(data.lc, data.lc_mask).pooled)
        assert torch.equal(spec, model.spectrum_encoder(data.spec, data.spec_mask).pooled)
    # A config written before the field existed loads with it off, as does every shipped config.
    old = DesaConfig.tiny().to_dict()
    del old["spectrum"]["measured_indices"]
    assert DesaConfig.from_dict(old).spectrum.measured_indices is False
    assert TrainConfig(model="tiny", fusion="preserve").model_config() == DesaConfig.tiny("preserve")
    assert load_config("tiny", ["measured_indices=true"]).model_config().spectrum.measured_indices


def test_flag_on_gives_every_method_the_same_two_columns(tmp_path: Path) -> None:
    torch.manual_seed(0)
    off = DesaModel(DesaConfig.tiny("preserve")).eval()
    on = with_measured_indices(off)
    assert on.config.spectrum.pooled_dim == 66
    data, flux, mask = _survey()
    lc_off, spec_off = align.encode_all(off, data, batch_size=7, progress=False)
    lc_on, spec_on = align.encode_all(on, data, batch_size=7, progress=False)  # fits the statistics
    assert torch.equal(lc_on, lc_off) and torch.equal(spec_on[:, :64], spec_off)
    # The two columns: indices of the pixels, standardised with the training split's statistics.
    raw = measured_indices(flux, mask, WAVE)
    train = data.split == "train"
    expected = np.nan_to_num((raw - np.nanmean(raw[train], 0)) / np.nanstd(raw[train], 0))
    np.testing.assert_allclose(spec_on[:, 64:].numpy(), expected, rtol=1e-5, atol=1e-5)
    assert np.all(spec_on[5, 64:].numpy() == 0.0)
    # DESA's fusion reads them: the DualFormer is built for the wider spectrum side.
    assert on.fuse(lc_on, spec_on).embedding.shape[0] == len(data.lc)
    # The baselines read the very same spectrum side (spectrum only and concatenation).
    rows = np.arange(len(data.lc))
    vectors, _ = baseline_embeddings(
        lc_on.numpy(),
        spec_on.numpy(),
        rows[train],
        rows[data.split == "val"],
        ClipConfig(max_steps=1, batch_size=8),
    )
    assert np.array_equal(vectors["spectrum_only"], spec_on.numpy())
    assert vectors["concat"].shape[1] == 64 + 66
    # The embed path: a saved model re-measures the indices with its stored statistics.
    path = save_checkpoint(tmp_path / "model.pt", on)
    service = DesaService.load(path, device="cpu")
    assert service.model.spectrum_indices.fitted
    vectors = service.embed(data.lc.numpy(), data.lc_mask.numpy(), flux, mask, progress=False)
    with torch.no_grad():
        direct = on.fuse(lc_on, spec_on).embedding.numpy()
    np.testing.assert_allclose(vectors, direct, rtol=1e-5, atol=1e-5)


def test_the_ccf_on_the_touched_pixels_equals_the_ccf_over_every_pixel() -> None:
    """The grid CCF reads only the pixels a shifted mask line touches, as over every pixel.

    ``_ccf_columns`` keeps about 230 of the 3,840; masked pixels included, the product must not change.
    """
    from desa_core.line_indices import _ccf_columns, _ccf_matrix

    rng = np.random.default_rng(3)
    flux = _spectra(np.full(6, 150.0), np.array([0.0, 0.0, 80.0, 150.0, 250.0, 0.0]), 30.0, 7)
    good = rng.random(flux.shape) > 0.05
    full = np.where(good, 1.0 - flux, 0.0) @ _ccf_matrix(WAVE).T
    columns, weights = _ccf_columns(WAVE.tobytes())
    touched = np.where(good[:, columns], 1.0 - flux[:, columns], 0.0) @ weights
    assert len(columns) < WAVE.size / 10
    np.testing.assert_allclose(touched, full, rtol=0, atol=1e-9)
