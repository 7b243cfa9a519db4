"""Standardised supervised targets computed from training-split stars only."""

from __future__ import annotations

import torch
from torch import Tensor


def standardise(values: Tensor, train_rows: Tensor, *, log10: bool = False) -> tuple[Tensor, Tensor]:
    """Return standardised targets (N,) and their validity (N,), with statistics from train rows."""
    x = torch.log10(values.clamp_min(1e-6)) if log10 else values.clone()
    x[~torch.isfinite(values)] = float("nan")
    train = x[train_rows]
    train = train[torch.isfinite(train)]
    mean, std = (train.mean(), train.std().clamp_min(1e-6)) if len(train) > 1 else (0.0, 1.0)
    z = (x - mean) / std
    valid = torch.isfinite(z)
    return torch.nan_to_num(z), valid
