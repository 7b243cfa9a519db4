"""The spectrum encoder knows the wavelength, keeps its token count, and refuses a foreign grid."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from data import preprocess
from data.schema import grid_mismatch
from desa_core.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from desa_core.config import DesaConfig, SpectrumEncoderConfig
from desa_core.model import DesaModel
from desa_core.spectrum_encoder import SpectrumEncoder

#: A shift by whole tokens (4 × 60 pixels, 0.024 dex): without wavelength features the stem maps
#: the shifted spectrum to exactly the shifted tokens.
SHIFT_PX = 240
OLD_GRID = {"spec_length": 2048, "spec_min_aa": 3841.0, "spec_max_aa": 8798.0}


def _line_spectra(config: SpectrumEncoderConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """Flat spectra with one Li-like line, at 6709.7 Å and SHIFT_PX pixels redward; all pixels valid."""
    log10_wave = config.log10_start + config.log10_step * torch.arange(config.length, dtype=torch.float64)
    centre = int(torch.argmin((log10_wave - np.log10(6709.66)).abs()))
    pixel = torch.arange(config.length, dtype=torch.float64)
    flux = torch.stack(
        [1.0 - 0.3 * torch.exp(-0.5 * ((pixel - c) / 2.4) ** 2) for c in (centre, centre + SHIFT_PX)]
    ).float()
    return flux, torch.ones_like(flux, dtype=torch.bool)


def test_tiny_grid_matches_the_store_grid_and_keeps_64_tokens() -> None:
    assert grid_mismatch(DesaConfig.tiny().input_grid, preprocess.grid_description()) is None
    config = DesaConfig.tiny().spectrum
    torch.manual_seed(0)
    encoder = SpectrumEncoder(config).eval()
    flux, mask = _line_spectra(config)
    tokens, token_mask = encoder.tokenize(flux, mask)
    assert tokens.shape == (2, 64, config.width) and token_mask.shape == (2, 64)


@torch.no_grad()
def test_a_moved_line_gives_new_tokens_not_the_old_ones_moved() -> None:
    """Convolutions are shift-equivariant: only the wavelength features make the tokens differ."""
    config = DesaConfig.tiny().spectrum
    torch.manual_seed(0)
    encoder = SpectrumEncoder(config).eval()
    flux, mask = _line_spectra(config)
    tokens, _ = encoder.tokenize(flux, mask)
    k = SHIFT_PX // config.patch
    original, moved = tokens[0, 2 : -(k + 2)], tokens[1, k + 2 : -2]  # line token and its neighbours
    change = (moved - original).norm() / original.norm()
    assert change > 0.05, f"moved line gives the same tokens, moved (relative change {change:.2e})"


@torch.no_grad()
def test_embedding_tells_where_a_line_is_when_attention_cannot() -> None:
    """With no transformer block the encoder is a shift-invariant pool, but for the wavelength."""
    config = dataclasses.replace(DesaConfig.tiny().spectrum, depth=0)
    torch.manual_seed(0)
    encoder = SpectrumEncoder(config).eval()
    flux, mask = _line_spectra(config)
    flat = torch.ones_like(flux[:1])
    pooled = encoder(torch.cat((flux, flat)), torch.cat((mask, mask[:1]))).pooled
    here, there = pooled[0] - pooled[2], pooled[1] - pooled[2]  # what the line adds, at each place
    change = (there - here).norm() / here.norm()
    assert change > 0.05, f"the line adds the same to the embedding {SHIFT_PX} px away ({change:.2e})"


def test_wavelength_features_are_fixed_and_not_saved() -> None:
    config = DesaConfig.tiny().spectrum
    torch.manual_seed(0)
    first = SpectrumEncoder(config)
    torch.manual_seed(1)
    second = SpectrumEncoder(config)
    torch.testing.assert_close(first.position, second.position, rtol=0, atol=0)
    assert first.position.shape == (1, config.position_channels, config.length)
    assert "position" not in first.state_dict()
    assert not any(p is first.position for p in first.parameters())


def test_a_spectrum_of_the_wrong_length_is_refused_clearly() -> None:
    torch.manual_seed(0)
    encoder = SpectrumEncoder(DesaConfig.tiny().spectrum)
    flux = torch.ones(1, 2048)
    with pytest.raises(ValueError, match=r"2048 pixels.*built for 3840.*desa ingest"):
        encoder(flux, torch.ones_like(flux, dtype=torch.bool))


def test_grid_mismatch_names_both_grids() -> None:
    model = DesaConfig.tiny().input_grid
    problem = grid_mismatch(model, OLD_GRID)
    assert problem is not None and "spec_length 2048 (model: 3840)" in problem and "desa ingest" in problem
    shifted = {**preprocess.grid_description(), "spec_log10_start": 3.5682}
    assert "spec_log10_start 3.5682 (model: 3.5716)" in (grid_mismatch(model, shifted) or "")


def test_checkpoint_load_refuses_a_store_on_another_grid(tmp_path: Path) -> None:
    torch.manual_seed(0)
    path = save_checkpoint(tmp_path / "model.pt", DesaModel(DesaConfig.tiny()))
    load_checkpoint(path, grids=preprocess.grid_description())
    with pytest.raises(CheckpointError, match=r"model\.pt: .*spec_length 2048 \(model: 3840\)"):
        load_checkpoint(path, grids=OLD_GRID)


def test_checkpoint_from_before_the_wavelength_grid_is_refused(tmp_path: Path) -> None:
    torch.manual_seed(0)
    path = save_checkpoint(tmp_path / "old.pt", DesaModel(DesaConfig.tiny()))
    payload = torch.load(path, weights_only=True)
    config = json.loads(payload["config"])
    for key in ("log10_start", "log10_step", "stem_stride", "position_channels"):
        del config["spectrum"][key]
    config["spectrum"].update(length=2048, patch=32)
    payload["config"] = json.dumps(config)
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match=r"old\.pt: written before .*length 2048.*retrain"):
        load_checkpoint(path)
