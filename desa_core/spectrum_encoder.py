"""Spectrum encoder: continuum-normalised flux on the log-wavelength grid -> one embedding.

Bad pixels are zeroed *and* flagged by a mask channel, so the network can tell a masked pixel
from a deep line; tokens whose pixels are all bad are excluded from attention and pooling.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from desa_core.config import SpectrumEncoderConfig
from desa_core.encoders import EncoderOutput, patch_mask
from desa_core.layers import TransformerStack, masked_mean


class SpectrumEncoder(nn.Module):
    """(B, L) flux + (B, L) mask -> ``EncoderOutput`` with pooled (B, E)."""

    def __init__(self, config: SpectrumEncoderConfig) -> None:
        super().__init__()
        if config.length % config.patch:
            raise ValueError(f"spectrum length {config.length} not divisible by patch {config.patch}")
        self.config = config
        c = config.stem_channels
        self.stem = nn.Sequential(
            nn.Conv1d(2, c, kernel_size=7, padding=3),
            nn.GELU(),
            nn.Conv1d(c, c, kernel_size=5, padding=2),
            nn.GELU(),
            nn.Conv1d(c, config.width, kernel_size=config.patch, stride=config.patch),
        )
        self.blocks = TransformerStack(config.width, config.heads, config.depth, dropout=config.dropout)
        self.head = nn.Linear(config.width, config.embed_dim)

    def tokenize(self, flux: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """(B, L) -> tokens (B, N, D) and token mask (B, N), before the transformer."""
        m = mask.to(flux.dtype)
        x = torch.stack(((flux - 1.0) * m, m), dim=1)  # continuum at 0; masked pixels at 0
        return self.stem(x).transpose(1, 2), patch_mask(mask, self.config.patch)

    def forward(self, flux: Tensor, mask: Tensor) -> EncoderOutput:
        tokens, token_mask = self.tokenize(flux, mask)  # (B, N, D), (B, N)
        tokens = self.blocks(tokens, token_mask)  # (B, N, D)
        pooled = self.head(masked_mean(tokens, token_mask))  # (B, E)
        return EncoderOutput(tokens, token_mask, pooled)
