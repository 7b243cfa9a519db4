"""Shared output record of the two modality encoders."""

from __future__ import annotations

from dataclasses import dataclass

import torch.nn.functional as F
from torch import Tensor


@dataclass
class EncoderOutput:
    """Tokens (B, N, D), their validity mask (B, N) and the pooled embedding (B, E)."""

    tokens: Tensor
    token_mask: Tensor
    pooled: Tensor


def patch_mask(mask: Tensor, patch: int) -> Tensor:
    """(B, T) sample mask -> (B, T // patch) token mask: a token is valid if any sample is.

    A star with no valid token at all keeps every token, so attention never sees an empty row
    (such stars are quarantined upstream; this only keeps the arithmetic finite).
    """
    tokens = F.max_pool1d(mask[:, None].float(), patch, patch)[:, 0] > 0
    return tokens | ~tokens.any(dim=-1, keepdim=True)
