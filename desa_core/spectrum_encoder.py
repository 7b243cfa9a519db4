"""Spectrum encoder: continuum-normalised flux on the log-wavelength grid -> one embedding.

Bad pixels are zeroed *and* flagged by a mask channel, so the network can tell a masked pixel
from a deep line; tokens whose pixels are all bad are excluded from attention and pooling.

Convolutions are translation-equivariant and the transformer's rotary positions are relative, so
without help a line would look the same wherever it sits: Li 6708 and a Ca I line at 6718 Å would
differ only by their neighbours. Fixed sinusoids of log10 λ therefore enter the stem as extra input
channels (the sinusoidal encoding of Vaswani et al. 2017, over wavelength instead of token index),
and one pixel always means one rest wavelength. The stem's first convolution has a stride, so the
LAMOST-sampled grid (2.4 pixels per resolution element) costs no more tokens than a coarser one.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from desa_core.config import SpectrumEncoderConfig
from desa_core.encoders import EncoderOutput, patch_mask
from desa_core.layers import TransformerStack, conv1d_channels_last, masked_mean

#: Shortest and longest period of the wavelength sinusoids, in dex of λ: 16 pixels of 10⁻⁴ dex
#: (about 7 resolution elements at R ≈ 1800) up to twice the 3700–9100 Å LAMOST range.
POSITION_PERIOD_DEX = (16e-4, 0.8)


def log_wavelength_features(log10_wavelength: Tensor, channels: int) -> Tensor:
    """Fixed sinusoids of log10 λ: (L,) -> (channels, L), sines then cosines.

    Phases are taken from log10 λ itself (λ in Å), not from the pixel index, so a given rest
    wavelength gets the same features whatever the grid's first pixel.
    """
    n = channels // 2
    lo, hi = (math.log10(p) for p in POSITION_PERIOD_DEX)
    periods = torch.logspace(lo, hi, n, dtype=torch.float64)
    phase = 2 * math.pi * log10_wavelength.double()[None, :] / periods[:, None]  # (n, L)
    return torch.cat((phase.sin(), phase.cos())).float()


class SpectrumEncoder(nn.Module):
    """(B, L) flux + (B, L) mask -> ``EncoderOutput`` with pooled (B, E)."""

    def __init__(self, config: SpectrumEncoderConfig) -> None:
        super().__init__()
        if config.length % config.patch:
            raise ValueError(f"spectrum length {config.length} not divisible by patch {config.patch}")
        if config.patch % config.stem_stride:
            raise ValueError(f"spectrum patch {config.patch} not divisible by stride {config.stem_stride}")
        if config.position_channels % 2:
            raise ValueError(f"position_channels {config.position_channels} must be even (sin, cos)")
        self.config = config
        c, stride = config.stem_channels, config.stem_stride
        self.stem_flux = nn.Conv1d(2, c, kernel_size=7, stride=stride, padding=3)
        # Same kernel and stride as stem_flux: together they are one convolution over the
        # 2 + position_channels input channels. The features do not depend on the star, so this
        # half runs once per batch, not once per star.
        self.stem_position = nn.Conv1d(
            config.position_channels, c, kernel_size=7, stride=stride, padding=3, bias=False
        )
        log10_wavelength = config.log10_start + config.log10_step * torch.arange(config.length)
        features = log_wavelength_features(log10_wavelength, config.position_channels)
        # Not learned and not saved: rebuilt from the config's grid.
        self.register_buffer("position", features[None], persistent=False)  # (1, K, L)
        self.stem = nn.Sequential(
            nn.GELU(),
            nn.Conv1d(c, c, kernel_size=5, padding=2),
            nn.GELU(),
            nn.Conv1d(c, config.width, kernel_size=config.patch // stride, stride=config.patch // stride),
        )
        self.blocks = TransformerStack(config.width, config.heads, config.depth, dropout=config.dropout)
        self.head = nn.Linear(config.width, config.embed_dim)

    def tokenize(self, flux: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """(B, L) -> tokens (B, N, D) and token mask (B, N), before the transformer."""
        if flux.shape[-1] != self.config.length:
            cfg = self.config
            raise ValueError(
                f"spectrum of {flux.shape[-1]} pixels, but the encoder was built for {cfg.length} "
                f"(log10 λ = {cfg.log10_start} + {cfg.log10_step}·i): the store's grid and the model's "
                "differ; re-run `desa ingest` with this code, or use a model trained on that grid"
            )
        m = mask.to(flux.dtype)
        # Channels last, (B, L, 2): the stem's convolutions run 2-3x faster so (layers.py).
        x = torch.stack(((flux - 1.0) * m, m), dim=-1)  # continuum at 0; masked pixels at 0
        h = conv1d_channels_last(x, self.stem_flux)  # (B, L / stride, c)
        h += self.position_term(flux.dtype)  # in place: a new (B, L/2, c) costs 7x the add
        for layer in self.stem:
            h = conv1d_channels_last(h, layer) if isinstance(layer, nn.Conv1d) else layer(h)
        return h, patch_mask(mask, self.config.patch)  # (B, N, D), (B, N)

    def position_term(self, dtype: torch.dtype) -> Tensor:
        """The stem's wavelength half, (1, L / stride, c); the same for every star of a batch."""
        return conv1d_channels_last(self.position.to(dtype).transpose(1, 2), self.stem_position)

    def forward(self, flux: Tensor, mask: Tensor) -> EncoderOutput:
        tokens, token_mask = self.tokenize(flux, mask)  # (B, N, D), (B, N)
        tokens = self.blocks(tokens, token_mask)  # (B, N, D)
        pooled = self.head(masked_mean(tokens, token_mask))  # (B, E)
        return EncoderOutput(tokens, token_mask, pooled)
