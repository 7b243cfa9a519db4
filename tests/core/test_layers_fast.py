"""The CPU-fast forms of rotary attention and of the stems' convolutions equal the textbook ones.

``desa_core.layers`` computes rotary positions as ``x·C + x[swap]·S`` with the swapped queries and
keys taken from the same matrix product, and runs 1-D convolutions channels-last; trained weights
keep their meaning only if both give what the plain forms give (to float rounding).
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from desa_core.layers import Attention, conv1d_channels_last


def _textbook_rotary(x: torch.Tensor, rot_dim: int) -> torch.Tensor:
    """Su et al. 2021 on (B, H, N, Dh): pairs (2i, 2i+1) of the first rot_dim turn by n·θ_i."""
    n, dh = x.shape[-2], x.shape[-1]
    inv_freq = 1.0 / 10_000.0 ** (torch.arange(0, rot_dim, 2).float() / rot_dim)
    angles = torch.arange(n).float()[:, None] * inv_freq
    cos, sin = angles.cos(), angles.sin()
    x1, x2 = x[..., 0:rot_dim:2], x[..., 1:rot_dim:2]
    rotated = torch.stack((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1).flatten(-2)
    assert rotated.shape[-1] + (dh - rot_dim) == dh
    return torch.cat((rotated, x[..., rot_dim:]), dim=-1)


def _textbook_attention(
    attn: Attention, x: torch.Tensor, ctx: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    b, n, w = x.shape
    h = attn.heads
    split = lambda t: t.view(b, t.shape[1], h, w // h).transpose(1, 2)  # noqa: E731
    q = split(attn.q(x))
    k, v = (split(t) for t in attn.kv(ctx).chunk(2, dim=-1))
    q, k = _textbook_rotary(q, attn.rotary.rot_dim), _textbook_rotary(k, attn.rotary.rot_dim)
    scores = (q @ k.transpose(-1, -2)) / (w // h) ** 0.5
    weights = torch.softmax(scores.masked_fill(~mask[:, None, None, :], float("-inf")), dim=-1)
    return attn.out((weights @ v).transpose(1, 2).reshape(b, n, w))


@pytest.mark.parametrize(("width", "heads"), [(64, 4), (32, 4), (16, 2)])
def test_rotary_attention_equals_the_textbook_form(width: int, heads: int) -> None:
    torch.manual_seed(0)
    attn = Attention(width, heads).eval()
    x, ctx = torch.randn(3, 11, width), torch.randn(3, 7, width)
    mask = torch.rand(3, 7) > 0.3
    mask[:, 0] = True
    with torch.no_grad():
        torch.testing.assert_close(attn(x, ctx, mask), _textbook_attention(attn, x, ctx, mask))
        everything = torch.ones(3, 11, dtype=torch.bool)
        torch.testing.assert_close(attn(x), _textbook_attention(attn, x, x, everything))


def test_rotary_check_sees_a_wrong_rotation() -> None:
    """The comparison above can fail: turning the other way is not the same attention."""
    torch.manual_seed(0)
    attn = Attention(32, 4).eval()
    x = torch.randn(2, 9, 32)
    with torch.no_grad():
        reference = _textbook_attention(attn, x, x, torch.ones(2, 9, dtype=torch.bool))
        _, s = attn.rotary.tables(9, x.device, x.dtype)
        s.neg_()  # the cached table, turned the other way
        try:
            assert not torch.allclose(attn(x), reference, atol=1e-4)
        finally:
            s.neg_()
        torch.testing.assert_close(attn(x), reference)


@pytest.mark.parametrize(
    ("cin", "cout", "kernel", "stride", "padding", "length"),
    [(2, 8, 7, 2, 3, 120), (8, 8, 5, 1, 2, 60), (8, 16, 30, 30, 0, 60), (4, 8, 16, 16, 0, 64)],
)
def test_channels_last_convolution_equals_conv1d(
    cin: int, cout: int, kernel: int, stride: int, padding: int, length: int
) -> None:
    torch.manual_seed(0)
    conv = nn.Conv1d(cin, cout, kernel, stride=stride, padding=padding)
    x = torch.randn(3, length, cin, requires_grad=True)
    fast = conv1d_channels_last(x, conv)
    plain = conv(x.transpose(1, 2)).transpose(1, 2)
    assert fast.is_contiguous()
    torch.testing.assert_close(fast, plain)
    (grad_fast,) = torch.autograd.grad(fast.square().sum(), x)
    (grad_plain,) = torch.autograd.grad(plain.square().sum(), x)
    torch.testing.assert_close(grad_fast, grad_plain)
