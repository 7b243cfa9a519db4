"""DualFormer: cross- plus self-attention fusion of the two modality embeddings.

Follows DESA (arXiv 2507.10666, DualFormer): every scalar of a pooled embedding becomes one token
through a shared Linear(1 -> D); rotary positions run over the feature index, separately per
modality (a query carries its own positions, a key those of its own modality). In each pre-norm
block the update of modality 1 is ``Attn(q1, k2, v2) + Attn(q1, k1, v1)`` (cross plus self) and
modality 2 is updated symmetrically from the same inputs; each modality has its own norms and
feed-forward. A final norm and a mean over tokens give e_s and e_l, each (B, D).

That design throws information away: a shared scalar tokenizer with relative positions only and a
mean over layer-normed tokens make e_s nearly invariant to permuting the input features (about 1 %
change at init, against 130 % for another star), and every e_s sums to zero over D. The
``preserve`` fusion (``DualFormerConfig``; SCIENCE.md 1.5) keeps the cross- plus self-attention
blocks and adds, per modality, feature-identity embeddings, attention pooling with a learned query
(Lee et al. 2019, Set Transformer's PMA) and a residual linear path from the standardised encoder
output, with the attention branch entering through a zero-initialised map (as in ReZero,
Bachlechner et al. 2020), so that training starts from a lossless linear map. Its blocks attend
without rotary positions (``DualFormerConfig.rotary``): the feature-identity embeddings already
tell the tokens apart, and the rotation doubles the query and key projections.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from desa_core.config import DualFormerConfig
from desa_core.layers import Attention, FeedForward


@dataclass
class FusionOutput:
    """Fused spectrum and light-curve vectors (B, D); attention maps only when asked for."""

    e_s: Tensor
    e_l: Tensor
    attention: dict[str, Tensor] | None = None


class _Branch(nn.Module):
    """One modality's half of a DualFormer block."""

    def __init__(self, config: DualFormerConfig) -> None:
        super().__init__()
        w, h, p = config.width, config.heads, config.dropout
        self.norm_q, self.norm_kv, self.norm_ffn = nn.LayerNorm(w), nn.LayerNorm(w), nn.LayerNorm(w)
        self.cross = Attention(w, h, dropout=p, rotary=config.rotary)
        self.self_attn = Attention(w, h, dropout=p, rotary=config.rotary)
        self.ffn = FeedForward(w, mult=config.ffn_mult, dropout=p)
        self.drop = nn.Dropout(p)

    def forward(self, x: Tensor, other: Tensor) -> Tensor:
        q, kv = self.norm_q(x), self.norm_kv(other)
        x = x + self.drop(self.cross(q, kv) + self.self_attn(q))
        return x + self.drop(self.ffn(self.norm_ffn(x)))


class DualFormerBlock(nn.Module):
    """Symmetric update of both token sets: (B, Ns, D), (B, Nl, D) -> same shapes."""

    def __init__(self, config: DualFormerConfig) -> None:
        super().__init__()
        self.spectrum = _Branch(config)
        self.lightcurve = _Branch(config)

    def forward(self, s: Tensor, l: Tensor) -> tuple[Tensor, Tensor]:  # noqa: E741 (paper's l)
        return self.spectrum(s, l), self.lightcurve(l, s)


class _AttentionPool(nn.Module):
    """(B, N, D) tokens -> (B, D): one learned query attends to every token."""

    def __init__(self, config: DualFormerConfig) -> None:
        super().__init__()
        self.query = nn.Parameter(0.02 * torch.randn(1, 1, config.width))
        self.attn = Attention(config.width, config.heads, rotary=False)  # positions live in tokens

    def forward(self, tokens: Tensor) -> Tensor:
        return self.attn(self.query.expand(len(tokens), -1, -1), tokens)[:, 0]


class _ModalityIO(nn.Module):
    """One modality's input and read-out around the blocks; the paper's when every flag is off.

    Holds no parameters or buffers for flags that are off, so a ``paper`` fusion has the same
    state-dict keys (and the same seeded initialisation) as before these flags existed.
    """

    def __init__(self, config: DualFormerConfig, dim: int | None) -> None:
        super().__init__()
        w = config.width
        if (config.feature_tokens or config.residual) and dim is None:
            raise ValueError("feature_tokens and residual need the encoder embedding dimension E")
        self.features = nn.Parameter(torch.randn(dim, w)) if config.feature_tokens else None  # (E, D)
        self.pool = _AttentionPool(config) if config.attention_pool else None
        self.skip = self.gate = None
        if config.residual:
            self.register_buffer("input_mean", torch.zeros(dim))
            self.register_buffer("input_std", torch.ones(dim))
            self.skip = nn.Linear(dim, w, bias=False)
            nn.init.orthogonal_(self.skip.weight)  # orthonormal columns when D >= E: lossless
            self.gate = nn.Linear(w, w)
            nn.init.zeros_(self.gate.weight)  # the attention branch starts at zero
            nn.init.zeros_(self.gate.bias)

    def standardise(self, x: Tensor) -> Tensor:
        """(B, E) encoder output -> standardised with training-split statistics (residual only)."""
        if self.skip is None:
            return x
        return (x - self.input_mean) / self.input_std

    @torch.no_grad()
    def fit(self, x: Tensor) -> None:
        """Set the standardisation from training-split encoder outputs (B, E)."""
        if self.skip is not None:
            self.input_mean.copy_(x.mean(dim=0))
            self.input_std.copy_(x.std(dim=0).clamp_min(1e-6))

    def identify(self, tokens: Tensor) -> Tensor:
        """(B, E, D) scalar tokens + the feature-identity embedding of each position."""
        return tokens if self.features is None else tokens + self.features

    def read_out(self, tokens: Tensor, x: Tensor) -> Tensor:
        """Normed tokens (B, E, D) and standardised input (B, E) -> e (B, D)."""
        pooled = tokens.mean(dim=1) if self.pool is None else self.pool(tokens)  # (B, D)
        if self.skip is None:
            return pooled
        return self.skip(x) + self.gate(pooled)


class DualFormer(nn.Module):
    """(B, Es) spectrum and (B, El) light-curve embeddings -> ``FusionOutput`` (B, D) each.

    ``spectrum_dim`` and ``lightcurve_dim`` (the encoders' E) are needed by the ``preserve`` flags
    ``feature_tokens`` and ``residual`` only.
    """

    def __init__(
        self,
        config: DualFormerConfig,
        *,
        spectrum_dim: int | None = None,
        lightcurve_dim: int | None = None,
    ) -> None:
        super().__init__()
        self.config = config
        self.tokenizer = nn.Linear(1, config.width)  # shared by both modalities, as in DESA
        self.blocks = nn.ModuleList(DualFormerBlock(config) for _ in range(config.depth))
        self.norm_s, self.norm_l = nn.LayerNorm(config.width), nn.LayerNorm(config.width)
        # Built last, so that a seeded paper fusion draws the same initial weights as before.
        self.spectrum_io = _ModalityIO(config, spectrum_dim)
        self.lightcurve_io = _ModalityIO(config, lightcurve_dim)

    def fit_input_scaling(self, spectrum: Tensor, lightcurve: Tensor) -> None:
        """Standardise inputs with these training-split encoder outputs (``residual`` only)."""
        self.spectrum_io.fit(spectrum)
        self.lightcurve_io.fit(lightcurve)

    def forward(
        self, spectrum: Tensor, lightcurve: Tensor, *, return_attention: bool = False
    ) -> FusionOutput:
        x_s, x_l = self.spectrum_io.standardise(spectrum), self.lightcurve_io.standardise(lightcurve)
        s = self.spectrum_io.identify(self.tokenizer(x_s[..., None]))  # (B, Es) -> (B, Es, D)
        l = self.lightcurve_io.identify(self.tokenizer(x_l[..., None]))  # noqa: E741  (B, El, D)
        attention = None
        if return_attention:
            first = self.blocks[0]
            attention = {
                "spectrum_to_lightcurve": first.spectrum.cross.weights(
                    first.spectrum.norm_q(s), first.spectrum.norm_kv(l)
                ),  # (B, H, Es, El)
                "lightcurve_to_spectrum": first.lightcurve.cross.weights(
                    first.lightcurve.norm_q(l), first.lightcurve.norm_kv(s)
                ),  # (B, H, El, Es)
            }
        for block in self.blocks:
            s, l = block(s, l)  # noqa: E741
        e_s = self.spectrum_io.read_out(self.norm_s(s), x_s)  # (B, D)
        e_l = self.lightcurve_io.read_out(self.norm_l(l), x_l)  # (B, D)
        return FusionOutput(e_s, e_l, attention)
