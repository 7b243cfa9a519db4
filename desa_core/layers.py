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

    DESA rotates half of each head's dimensions; the rest carry content only. Dimensions
    (2i, 2i+1) of a head at token position n turn by the angle n·θ_i:
    (x₁, x₂) -> (x₁ cos − x₂ sin, x₁ sin + x₂ cos). Written as ``x·C + x[swap]·S`` over the whole
    (B, N, H·Dh) token, with C = cos (1 off the rotated pairs) and S = (−sin, +sin) (0 off them):
    term by term the same arithmetic, but on contiguous tensors (the strided pair slices of the
    textbook form cost more than the attention itself on the CPU).
    """

    def __init__(
        self, head_dim: int, heads: int = 1, *, fraction: float = 0.5, base: float = 10_000.0
    ) -> None:
        super().__init__()
        self.head_dim, self.heads = head_dim, heads
        self.rot_dim = max(2, int(head_dim * fraction) // 2 * 2)
        inv_freq = 1.0 / base ** (torch.arange(0, self.rot_dim, 2).float() / self.rot_dim)
        self.register_buffer("inv_freq", inv_freq, persistent=False)
        swap = torch.arange(head_dim)
        swap[: self.rot_dim] = swap[: self.rot_dim].view(-1, 2).flip(-1).reshape(-1)  # 2i <-> 2i+1
        offsets = head_dim * torch.arange(heads)[:, None]
        self.register_buffer("swap", (offsets + swap).reshape(-1), persistent=False)  # (H·Dh,)
        self._tables: dict[tuple, tuple[Tensor, Tensor]] = {}

    def tables(self, n: int, device: torch.device, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
        """C and S, (N, H·Dh) each; cached per length, device and dtype (nothing in them is learned)."""
        key = (n, device, dtype)
        if key not in self._tables:
            # Built outside inference mode, so a table first made while embedding can serve training.
            with torch.inference_mode(False), torch.no_grad():
                angles = torch.arange(n, device=device, dtype=torch.float32)[:, None] * self.inv_freq.to(
                    device
                )
                cos, sin = angles.cos(), angles.sin()  # (N, rot/2)
                c = torch.ones(n, self.head_dim, device=device)
                s = torch.zeros(n, self.head_dim, device=device)
                c[:, 0 : self.rot_dim : 2] = c[:, 1 : self.rot_dim : 2] = cos
                s[:, 0 : self.rot_dim : 2], s[:, 1 : self.rot_dim : 2] = -sin, sin
                self._tables[key] = (c.repeat(1, self.heads).to(dtype), s.repeat(1, self.heads).to(dtype))
        return self._tables[key]

    def forward(self, x: Tensor, swapped: Tensor | None = None) -> Tensor:
        """Rotate (B, N, H·Dh) tokens by position; ``swapped`` is ``x[..., swap]`` if already at hand."""
        c, s = self.tables(x.shape[-2], x.device, x.dtype)
        # One fused multiply-add pass instead of two products and a sum (half the time, measured).
        return (x * c).addcmul_(x[..., self.swap] if swapped is None else swapped, s)


def _linear(x: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
    """``F.linear`` with the bias added after the product.

    addmm first copies the bias into every row of its output, which cost 10-20 % of these wide
    projections on the CPU (measured).
    """
    return F.linear(x, weight).add_(bias)


class Attention(nn.Module):
    """Multi-head attention; keys/values may come from another sequence (cross-attention).

    Queries carry their own rotary positions and keys the positions of their own sequence,
    as in DESA's DualFormer.
    """

    def __init__(self, width: int, heads: int, *, dropout: float = 0.0, rotary: bool = True) -> None:
        super().__init__()
        if width % heads:
            raise ValueError(f"width {width} is not divisible by heads {heads}")
        self.heads, self.dropout, self.width = heads, dropout, width
        self.q = nn.Linear(width, width)
        self.kv = nn.Linear(width, 2 * width)
        self.out = nn.Linear(width, width)
        self.rotary = RotaryEmbedding(width // heads, heads) if rotary else None

    def _split(self, x: Tensor) -> Tensor:
        b, n, d = x.shape
        return x.view(b, n, self.heads, d // self.heads).transpose(1, 2)  # (B, H, N, Dh)

    def _qkv(self, x: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
        """Rotated queries and keys and the values, (B, H, N or M, Dh).

        With rotary positions the pair-swapped queries and keys come out of the same matrix
        product as the plain ones (the rows of W_q and W_k permuted): no gather over the tokens.
        """
        w = self.width
        w_k, w_v = self.kv.weight[:w], self.kv.weight[w:]
        b_k, b_v = self.kv.bias[:w], self.kv.bias[w:]
        if self.rotary is None:
            q, (k, v) = self.q(x), self.kv(x if context is None else context).chunk(2, dim=-1)
            return self._split(q), self._split(k), self._split(v)
        p = self.rotary.swap
        q_weight, q_bias = (
            torch.cat((self.q.weight, self.q.weight[p])),
            torch.cat((self.q.bias, self.q.bias[p])),
        )
        kv_weight, kv_bias = torch.cat((w_k, w_k[p], w_v)), torch.cat((b_k, b_k[p], b_v))
        if context is None:  # self-attention: one product for all five
            qkv = _linear(x, torch.cat((q_weight, kv_weight)), torch.cat((q_bias, kv_bias)))
            q, q_swapped, k, k_swapped, v = qkv.split(w, dim=-1)
        else:
            q, q_swapped = _linear(x, q_weight, q_bias).split(w, dim=-1)
            k, k_swapped, v = _linear(context, kv_weight, kv_bias).split(w, dim=-1)
        q, k = self.rotary(q, q_swapped), self.rotary(k, k_swapped)
        return self._split(q), self._split(k), self._split(v)

    def forward(self, x: Tensor, context: Tensor | None = None, context_mask: Tensor | None = None) -> Tensor:
        """(B, N, D) queries attend to (B, M, D) context (default: themselves) -> (B, N, D)."""
        q, k, v = self._qkv(x, context)
        attn_mask = None if context_mask is None else context_mask[:, None, None, :]  # (B,1,1,M)
        drop = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=drop)
        b, h, n, dh = y.shape
        return self.out(y.transpose(1, 2).reshape(b, n, h * dh))

    def weights(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        """Attention probabilities (B, H, N, M), for inspection only."""
        q, k, _ = self._qkv(x, context)
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


def conv1d_channels_last(x: Tensor, conv: nn.Conv1d) -> Tensor:
    """Apply ``conv`` to channels-last tokens: (B, L, C) -> (B, L', C'), the result contiguous.

    The same convolution as ``conv(x.transpose(1, 2)).transpose(1, 2)``, computed where the CPU is
    fastest (measured on 2 cores, batches of 256): oneDNN's channels-last 2-D kernel runs a 1-D
    convolution about 2x faster than ``conv1d`` on (B, C, L), and a patch convolution (stride =
    kernel, no padding) is one matrix product over the non-overlapping windows, 3x faster.
    """
    (k,), (stride,), (pad,) = conv.kernel_size, conv.stride, conv.padding
    b, n, c = x.shape
    if k == stride and pad == 0 and n % k == 0 and conv.groups == 1 and conv.dilation == (1,):
        weight = conv.weight.permute(0, 2, 1).reshape(conv.out_channels, k * c)  # (C', k·C)
        return F.linear(x.reshape(b, n // k, k * c), weight, conv.bias)
    image = x.transpose(1, 2)[:, :, None]  # (B, C, 1, L), channels-last in memory
    weight = conv.weight[:, :, None].contiguous(memory_format=torch.channels_last)
    y = F.conv2d(
        image,
        weight,
        conv.bias,
        stride=(1, stride),
        padding=(0, pad),
        dilation=(1, conv.dilation[0]),
        groups=conv.groups,
    )
    return y[:, :, 0].transpose(1, 2).contiguous()  # a view when y is channels-last, else a copy
