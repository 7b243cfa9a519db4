"""Helpers of the model tests."""

from __future__ import annotations

import torch

from desa_core.config import DesaConfig


def model_inputs(b: int = 6, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """Seeded random model inputs for ``b`` stars on the tiny grids: lc, lc_mask, spec, spec_mask."""
    gen = torch.Generator().manual_seed(seed)
    cfg = DesaConfig.tiny()
    lc = torch.randn(b, cfg.lightcurve.channels, cfg.lightcurve.length, generator=gen)
    lc_mask = torch.rand(b, cfg.lightcurve.length, generator=gen) > 0.2
    spec = 1 + 0.1 * torch.randn(b, cfg.spectrum.length, generator=gen)
    spec_mask = torch.rand(b, cfg.spectrum.length, generator=gen) > 0.1
    return lc, lc_mask, spec, spec_mask
