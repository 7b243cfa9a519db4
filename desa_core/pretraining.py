"""Modality pretraining objectives the training package calls.

Light curves: VICReg invariance between two augmented views plus a Gaussian NLL head on
log10 Prot. Spectra: masked reconstruction of hidden pixels plus Gaussian NLL heads on Teff,
logg and [Fe/H]. Supervised terms see only the labels the caller passes (training-split stars).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from data import schema
from desa_core.config import LightCurveEncoderConfig, SpectrumEncoderConfig
from desa_core.lightcurve_encoder import LightCurveEncoder
from desa_core.losses import gaussian_nll, masked_reconstruction_loss, vicreg_loss
from desa_core.spectrum_encoder import SpectrumEncoder

#: The labels of each encoder's NLL head, in the survey schema's order (``Property.pretrain``).
SPECTRUM_LABELS = schema.pretraining_labels("spectrum")
LIGHTCURVE_LABELS = schema.pretraining_labels("lightcurve")


def augment_lightcurve(
    channels: Tensor, mask: Tensor, *, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor]:
    """Random view of (B, C, T) channels: a hidden contiguous stretch, jitter and flux scaling."""
    b, _, t = channels.shape
    dev = channels.device
    width = (torch.rand(b, generator=generator) * 0.3 * t).long().to(dev)
    start = (torch.rand(b, generator=generator) * t).long().to(dev)
    idx = torch.arange(t, device=dev)[None]
    keep = ~((idx >= start[:, None]) & (idx < (start + width)[:, None]))
    noise = torch.randn(channels.shape, generator=generator).to(dev) * 0.05
    scale = (1.0 + 0.1 * torch.randn(b, 1, generator=generator)).to(dev)
    out = channels + noise
    out[:, 0] = out[:, 0] * scale
    return out, mask & keep


def hide_pixels(mask: Tensor, *, fraction: float = 0.15, generator: torch.Generator | None = None) -> Tensor:
    """Choose pixels to hide from the encoder: (B, L) boolean, True = hidden."""
    draws = torch.rand(mask.shape, generator=generator).to(mask.device)
    return (draws < fraction) & mask


class _GaussianHead(nn.Module):
    """(B, E) -> standardised mean and log-variance (B, P)."""

    def __init__(self, in_dim: int, n: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_dim, in_dim), nn.GELU(), nn.Linear(in_dim, 2 * n))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        mean, log_var = self.net(x).chunk(2, dim=-1)
        return mean, log_var


class LightCurvePretrainer(nn.Module):
    """Objective for ``LightCurveEncoder``: VICReg on two views + NLL on standardised log Prot."""

    def __init__(self, config: LightCurveEncoderConfig) -> None:
        super().__init__()
        e = config.embed_dim
        self.projector = nn.Sequential(
            nn.Linear(e, 2 * e), nn.BatchNorm1d(2 * e), nn.GELU(), nn.Linear(2 * e, 2 * e)
        )
        self.prot = _GaussianHead(e, 1)

    def forward(
        self,
        encoder: LightCurveEncoder,
        channels: Tensor,
        mask: Tensor,
        target: Tensor,
        valid: Tensor,
        *,
        generator: torch.Generator | None = None,
    ) -> dict[str, Tensor]:
        """Loss terms; ``target`` (B, 1) is standardised log10 Prot, ``valid`` (B, 1)."""
        v1 = encoder(*augment_lightcurve(channels, mask, generator=generator)).pooled
        v2 = encoder(*augment_lightcurve(channels, mask, generator=generator)).pooled
        ssl = vicreg_loss(self.projector(v1), self.projector(v2))
        mean, log_var = self.prot(0.5 * (v1 + v2))
        nll = gaussian_nll(mean, log_var, torch.nan_to_num(target), valid)
        loss = 0.5 * ssl["loss"] / 25.0 + 0.5 * nll
        return {"loss": loss, "vicreg": ssl["loss"], "nll_prot": nll}


class SpectrumPretrainer(nn.Module):
    """Objective for ``SpectrumEncoder``: masked reconstruction + NLL on Teff, logg, [Fe/H]."""

    def __init__(self, config: SpectrumEncoderConfig) -> None:
        super().__init__()
        self.patch = config.patch
        self.decoder = nn.Linear(config.width, config.patch)  # each token rebuilds its pixels
        self.labels = _GaussianHead(config.embed_dim, len(SPECTRUM_LABELS))

    def forward(
        self,
        encoder: SpectrumEncoder,
        flux: Tensor,
        mask: Tensor,
        target: Tensor,
        valid: Tensor,
        *,
        generator: torch.Generator | None = None,
    ) -> dict[str, Tensor]:
        """Loss terms; ``target`` (B, 3) standardised labels, ``valid`` (B, 3)."""
        hidden = hide_pixels(mask, generator=generator)  # (B, L)
        out = encoder(flux, mask & ~hidden)
        recon = 1.0 + self.decoder(out.tokens).flatten(1)  # (B, N, patch) -> (B, L)
        rec = masked_reconstruction_loss(recon, flux, hidden, mask)
        mean, log_var = self.labels(out.pooled)
        nll = gaussian_nll(mean, log_var, torch.nan_to_num(target), valid)
        return {"loss": 0.5 * rec * 100.0 + 0.5 * nll, "reconstruction": rec, "nll_labels": nll}
