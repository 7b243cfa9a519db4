"""DualFormer: cross- plus self-attention fusion of the two modality embeddings.

Follows DESA (arXiv 2507.10666, DualFormer): every scalar of a pooled embedding becomes one token
through a shared Linear(1 -> D); rotary positions run over the feature index, separately per
modality (a query carries its own positions, a key those of its own modality). In each pre-norm
block the update of modality 1 is ``Attn(q1, k2, v2) + Attn(q1, k1, v1)`` (cross plus self) and
modality 2 is updated symmetrically from the same inputs; each modality has its own norms and
feed-forward. A final norm and a mean over tokens give e_s and e_l, each (B, D).
"""

from __future__ import annotations

from dataclasses import dataclass

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
        self.cross = Attention(w, h, dropout=p)
        self.self_attn = Attention(w, h, dropout=p)
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


class DualFormer(nn.Module):
    """(B, Es) spectrum and (B, El) light-curve embeddings -> ``FusionOutput`` (B, D) each."""

    def __init__(self, config: DualFormerConfig) -> None:
        super().__init__()
        self.config = config
        self.tokenizer = nn.Linear(1, config.width)  # shared by both modalities, as in DESA
        self.blocks = nn.ModuleList(DualFormerBlock(config) for _ in range(config.depth))
        self.norm_s, self.norm_l = nn.LayerNorm(config.width), nn.LayerNorm(config.width)

    def forward(
        self, spectrum: Tensor, lightcurve: Tensor, *, return_attention: bool = False
    ) -> FusionOutput:
        s = self.tokenizer(spectrum[..., None])  # (B, Es) -> (B, Es, D)
        l = self.tokenizer(lightcurve[..., None])  # noqa: E741  (B, El) -> (B, El, D)
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
        e_s = self.norm_s(s).mean(dim=1)  # (B, D)
        e_l = self.norm_l(l).mean(dim=1)  # (B, D)
        return FusionOutput(e_s, e_l, attention)
