"""Pretraining and head losses as short functions returning tensors or named terms."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from desa_core.alignment import off_diagonal_cov
from desa_core.distributed import gather_batch


def vicreg_loss(
    z1: Tensor, z2: Tensor, *, sim: float = 25.0, var: float = 25.0, cov: float = 1.0
) -> dict[str, Tensor]:
    """VICReg (Bardes et al. 2022) between two views' projections, (B, K) each."""
    invariance = F.mse_loss(z1, z2)  # per star: local rows
    z1, z2 = gather_batch(z1), gather_batch(z2)  # batch statistics: the global batch
    std1, std2 = (torch.sqrt(z.var(dim=0) + 1e-4) for z in (z1, z2))
    variance = 0.5 * (torch.relu(1 - std1).mean() + torch.relu(1 - std2).mean())
    covariance = off_diagonal_cov(z1) + off_diagonal_cov(z2)
    loss = sim * invariance + var * variance + cov * covariance
    return {"loss": loss, "invariance": invariance, "variance": variance, "covariance": covariance}


def gaussian_nll(
    mean: Tensor, log_var: Tensor, target: Tensor, valid: Tensor, *, beta: float = 1.0
) -> Tensor:
    """Gaussian negative log-likelihood over valid entries; (B, P) each, ``valid`` boolean.

    ``beta`` > 0 gives the beta-NLL of Seitzer et al. (2022, ICLR): each star's term is weighted
    by its detached variance to the power beta. Plain NLL (beta = 0) lets a network "give up" on
    rare, hard stars (giants among dwarfs) by inflating their variance instead of moving their
    mean; with beta = 1 the mean receives exactly the mean-squared-error gradient while the
    variance is still fitted by likelihood (measured on the demo survey: with beta = 0 or 0.5 the
    spectrum encoder predicted giants' log g at the dwarf mean). Entries without a label (valid
    False) contribute nothing; an all-invalid batch gives 0.
    """
    log_var = log_var.clamp(-10.0, 10.0)
    nll = 0.5 * (log_var + (target - mean).pow(2) * torch.exp(-log_var) + math.log(2 * math.pi))
    if beta:
        nll = nll * torch.exp(beta * log_var).detach()
    weights = valid.to(nll.dtype)
    return (nll * weights).sum() / weights.sum().clamp_min(1.0)


def masked_reconstruction_loss(pred: Tensor, target: Tensor, hidden: Tensor, valid: Tensor) -> Tensor:
    """MSE on pixels that were hidden from the encoder and are valid in the data, (B, L) each.

    The reference code averages over all pixels, which rewards copying the visible ones.
    """
    weights = (hidden & valid).to(pred.dtype)
    return ((pred - target).pow(2) * weights).sum() / weights.sum().clamp_min(1.0)


def binary_cross_entropy(logit: Tensor, target: Tensor, valid: Tensor) -> Tensor:
    """BCE with logits over stars that carry a binarity label, (B,) each."""
    weights = valid.to(logit.dtype)
    loss = F.binary_cross_entropy_with_logits(logit, target.to(logit.dtype), reduction="none")
    return (loss * weights).sum() / weights.sum().clamp_min(1.0)
