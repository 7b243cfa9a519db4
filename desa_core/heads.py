"""Property heads with Gaussian uncertainty, a binary-probability head, post-hoc calibration.

Targets are standardised with training-split statistics stored as buffers, so a checkpoint
predicts in physical units on its own. Positive, multiplicative quantities (rotation period, age)
are modelled in log10, so intervals stay positive and asymmetric in linear units.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from data import schema
from desa_core.config import HeadsConfig

#: Fraction of stars a ±1 σ interval holds for Gaussian errors (the calibration's target).
NOMINAL_COVERAGE = 0.6827
#: Properties modelled in log10 space (``data.schema.Property.log10``).
LOG_PROPERTIES = frozenset(p.name for p in schema.PROPERTIES if p.log10)


@dataclass
class HeadOutput:
    """Standardised means and log-variances (B, P), and binary logits (B,)."""

    mean: Tensor
    log_var: Tensor
    binary_logit: Tensor


@dataclass
class Prediction:
    """Physical-unit median and 68 % interval (B, P) per property, and P(binary) (B,)."""

    properties: tuple[str, ...]
    median: Tensor
    lower: Tensor
    upper: Tensor
    binary_prob: Tensor


class PropertyHeads(nn.Module):
    """(B, F) final features -> ``HeadOutput``."""

    def __init__(self, config: HeadsConfig, in_features: int) -> None:
        super().__init__()
        self.properties = tuple(config.properties)
        p = len(self.properties)
        self.body = nn.Sequential(
            nn.LayerNorm(in_features),
            nn.Linear(in_features, config.hidden),
            nn.GELU(),
            nn.Dropout(config.dropout),
            nn.Linear(config.hidden, config.hidden),
            nn.GELU(),
        )
        self.regression = nn.Linear(config.hidden, 2 * p)
        self.binary = nn.Linear(config.hidden, 1)
        self.register_buffer("target_mean", torch.zeros(p))
        self.register_buffer("target_std", torch.ones(p))
        self.register_buffer("sigma_scale", torch.ones(p))  # post-hoc calibration
        self.register_buffer("binary_temperature", torch.ones(()))

    def forward(self, features: Tensor) -> HeadOutput:
        h = self.body(features)  # (B, hidden)
        mean, log_var = self.regression(h).chunk(2, dim=-1)  # (B, P) each
        return HeadOutput(mean, log_var, self.binary(h)[:, 0])

    # --- target scaling ------------------------------------------------------------------
    def _log_columns(self) -> Tensor:
        return torch.tensor([name in LOG_PROPERTIES for name in self.properties])

    def to_model_space(self, targets: Tensor) -> Tensor:
        """Physical targets (B, P) -> log10 where needed (NaN stays NaN)."""
        logs = self._log_columns().to(targets.device)
        return torch.where(logs, torch.log10(targets.clamp_min(1e-6)), targets)

    def standardise(self, targets: Tensor) -> Tensor:
        """Physical targets (B, P) -> standardised model-space targets."""
        return (self.to_model_space(targets) - self.target_mean) / self.target_std

    def fit_scaling(self, targets: Tensor) -> None:
        """Set the standardisation from training targets (B, P) with NaN for missing labels."""
        model_space = self.to_model_space(targets)
        mean = torch.nanmean(model_space, dim=0)
        std = torch.sqrt(torch.nanmean((model_space - mean).pow(2), dim=0)).clamp_min(1e-6)
        self.target_mean.copy_(torch.nan_to_num(mean, nan=0.0))
        self.target_std.copy_(torch.nan_to_num(std, nan=1.0))

    @torch.no_grad()
    def calibrate(self, output: HeadOutput, targets: Tensor) -> Tensor:
        """Scale each property's sigma so that ±1 σ holds 68.27 % of the validation stars.

        The scale is the 68.27th percentile of |z| over the labelled validation stars (z: the
        error in units of the predicted sigma); returns it. What the product shows and the
        evaluation scores is the interval's coverage, and errors are heavy-tailed (a binary's
        composite light moves its log g): a scale that gave z unit RMS made the intervals too wide
        for the core of the distribution (test coverage 0.78 for log g on a 20k survey, 0.85 on
        the demo survey).
        """
        z = (self.standardise(targets) - output.mean) * torch.exp(-0.5 * output.log_var)
        scale = torch.nanquantile(z.abs().float(), NOMINAL_COVERAGE, dim=0)
        self.sigma_scale.copy_(torch.nan_to_num(scale, nan=1.0).clamp(0.1, 10.0))
        return self.sigma_scale.clone()

    def to_physical(self, output: HeadOutput) -> Prediction:
        """Convert standardised outputs into physical medians and 68 % intervals."""
        mu = output.mean * self.target_std + self.target_mean  # (B, P) model space
        sigma = torch.exp(0.5 * output.log_var) * self.target_std * self.sigma_scale
        lo, hi = mu - sigma, mu + sigma
        logs = self._log_columns().to(mu.device)
        unlog = lambda x: torch.where(logs, 10.0**x, x)  # noqa: E731
        prob = torch.sigmoid(output.binary_logit / self.binary_temperature)
        return Prediction(self.properties, unlog(mu), unlog(lo), unlog(hi), prob)
