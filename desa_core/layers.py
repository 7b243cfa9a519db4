"""Shared building blocks: rotary positions, masked multi-head attention, transformer blocks."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def masked_mean(tokens: Tensor, mask: Tensor) -> Tensor:
    """Mean over valid tokens: (B, N, D), (B, N) -> (B, D). A row with no valid token gives 0."""
    weights = mask.to(tokens.dtype).unsqueeze(-1)  # (B, N, 1)
    return (tokens * weights).sum(1) / weights.sum(1).clamp_min(1.0)


class RotaryEmbedding(nn.Module):
    """Rotary position encoding (Su et al. 2021) applied to the first ``rot_dim`` of each head.

    DESA rotates half of each head's dimensions; the rest carry content only.
    """

    def __init__(self, head_dim: int, *, fraction: float = 0.5, base: float = 10_000.0) -> None:
        super().__init__()
        self.rot_dim = max(2, int(head_dim * fraction) // 2 * 2)
        inv_freq = 1.0 / base ** (torch.arange(0, self.rot_dim, 2).float() / self.rot_dim)
        self.register_buffer("inv_freq", inv_freq, persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        """Rotate (B, H, N, Dh) by token position."""
        n = x.shape[-2]
        angles = torch.arange(n, device=x.device, dtype=self.inv_freq.dtype)[:, None] * self.inv_freq
        cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)  # (N, rot/2)
        rot, rest = x[..., : self.rot_dim], x[..., self.rot_dim :]
        x1, x2 = rot[..., 0::2], rot[..., 1::2]
        rotated = torch.stack((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1).flatten(-2)
        return torch.cat((rotated, rest), dim=-1)


class Attention(nn.Module):
    """Multi-head attention; keys/values may come from another sequence (cross-attention).

    Queries carry their own rotary positions and keys the positions of their own sequence,
    as in DESA's DualFormer.
    """

    def __init__(self, width: int, heads: int, *, dropout: float = 0.0, rotary: bool = True) -> None:
        super().__init__()
        if width % heads:
            raise ValueError(f"width {width} is not divisible by heads {heads}")
        self.heads, self.dropout = heads, dropout
        self.q = nn.Linear(width, width)
        self.kv = nn.Linear(width, 2 * width)
        self.out = nn.Linear(width, width)
        self.rotary = RotaryEmbedding(width // heads) if rotary else None

    def _split(self, x: Tensor) -> Tensor:
        b, n, d = x.shape
        return x.view(b, n, self.heads, d // self.heads).transpose(1, 2)  # (B, H, N, Dh)

    def forward(self, x: Tensor, context: Tensor | None = None, context_mask: Tensor | None = None) -> Tensor:
        """(B, N, D) queries attend to (B, M, D) context (default: themselves) -> (B, N, D)."""
        context = x if context is None else context
        q = self._split(self.q(x))
        k, v = (self._split(t) for t in self.kv(context).chunk(2, dim=-1))
        if self.rotary is not None:
            q, k = self.rotary(q), self.rotary(k)
        attn_mask = None if context_mask is None else context_mask[:, None, None, :]  # (B,1,1,M)
        drop = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=drop)
        b, h, n, dh = y.shape
        return self.out(y.transpose(1, 2).reshape(b, n, h * dh))

    def weights(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        """Attention probabilities (B, H, N, M), for inspection only."""
        context = x if context is None else context
        q = self._split(self.q(x))
        k, _ = (self._split(t) for t in self.kv(context).chunk(2, dim=-1))
        if self.rotary is not None:
            q, k = self.rotary(q), self.rotary(k)
        return torch.softmax(q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5, dim=-1)


class FeedForward(nn.Sequential):
    """Position-wise MLP: width -> mult * width -> width."""

    def __init__(self, width: int, *, mult: int = 4, dropout: float = 0.0) -> None:
        super().__init__(
            nn.Linear(width, mult * width),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(mult * width, width),
        )


class TransformerBlock(nn.Module):
    """Pre-norm self-attention block with a feed-forward sub-layer, both residual."""

    def __init__(self, width: int, heads: int, *, dropout: float = 0.0) -> None:
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.attn = Attention(width, heads, dropout=dropout)
        self.ffn = FeedForward(width, dropout=dropout)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        x = x + self.attn(self.norm1(x), context_mask=mask)
        return x + self.ffn(self.norm2(x))


class TransformerStack(nn.Module):
    """A sequence of ``TransformerBlock`` sharing one token mask."""

    def __init__(self, width: int, heads: int, depth: int, *, dropout: float = 0.0) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(TransformerBlock(width, heads, dropout=dropout) for _ in range(depth))
        self.norm = nn.LayerNorm(width)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        for block in self.blocks:
            x = block(x, mask)
        return self.norm(x)
