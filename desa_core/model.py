"""DesaModel: the two encoders, the DualFormer, the shared projection W, the eigenbasis and heads.

light curve (B, C, T) --LightCurveEncoder--> (B, El) --+
                                                       +--DualFormer--> e_s, e_l (B, D)
spectrum    (B, L)    --SpectrumEncoder----> (B, Es) --+
  [ ⊕ 2 standardised measured line indices (B, 2), with SpectrumEncoderConfig.measured_indices ]
p_s = W e_s, p_l = W^T e_l                       (alignment space, desa_core.alignment)
embedding = (e_s + e_l) V, V = eigh((W + W^T)/2) (desa_core.eigen)
          or [e_s V, e_l V] (B, 2D) with DualFormerConfig.concat_embedding
heads([p_s, p_l]) -> properties with uncertainty and P(binary)  (desa_core.heads)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from desa_core.alignment import project
from desa_core.config import DesaConfig
from desa_core.dualformer import DualFormer
from desa_core.eigen import EigenBasis, eigenbasis
from desa_core.heads import HeadOutput, PropertyHeads
from desa_core.lightcurve_encoder import LightCurveEncoder
from desa_core.line_indices import MeasuredIndices
from desa_core.pretraining import LightCurvePretrainer, SpectrumPretrainer
from desa_core.spectrum_encoder import SpectrumEncoder


@dataclass
class DesaOutput:
    """Everything one forward pass gives, (B, ...) each."""

    e_s: Tensor
    e_l: Tensor
    p_s: Tensor
    p_l: Tensor
    embedding: Tensor
    heads: HeadOutput


class DesaModel(nn.Module):
    """The DESA model. Build it from a ``DesaConfig``; load it with ``desa_core.checkpoint``."""

    def __init__(self, config: DesaConfig) -> None:
        super().__init__()
        self.config = config
        d = config.fused_dim
        self.lightcurve_encoder = LightCurveEncoder(config.lightcurve)
        self.spectrum_encoder = SpectrumEncoder(config.spectrum)
        spec = config.spectrum
        self.spectrum_indices = (
            MeasuredIndices(spec.length, spec.log10_start, spec.log10_step) if spec.measured_indices else None
        )
        self.dualformer = DualFormer(
            config.dualformer,
            spectrum_dim=config.spectrum.pooled_dim,
            lightcurve_dim=config.lightcurve.embed_dim,
        )
        self.projection = nn.Parameter(torch.eye(d) + 0.01 * torch.randn(d, d))
        self.heads = PropertyHeads(config.heads, in_features=2 * d)
        self.lightcurve_pretrainer = LightCurvePretrainer(config.lightcurve)
        self.spectrum_pretrainer = SpectrumPretrainer(config.spectrum)
        self.register_buffer("eigen_values", torch.ones(d))
        self.register_buffer("eigen_vectors", torch.eye(d))

    # --- stages ----------------------------------------------------------------------------
    def encode(self, lc: Tensor, lc_mask: Tensor, spec: Tensor, spec_mask: Tensor) -> tuple[Tensor, Tensor]:
        """Pooled light-curve (B, El) and spectrum (B, Es) embeddings.

        With ``measured_indices`` the spectrum side is (B, Es + 2): the encoder's output followed by
        the standardised line indices measured on ``spec`` (``desa_core.line_indices``). Every
        consumer of the spectrum side (fusion, baselines, embed path) goes through here.
        """
        lc_pooled = self.lightcurve_encoder(lc, lc_mask).pooled
        spec_pooled = self.spectrum_encoder(spec, spec_mask).pooled
        if self.spectrum_indices is not None:
            spec_pooled = torch.cat((spec_pooled, self.spectrum_indices(spec, spec_mask)), dim=-1)
        return lc_pooled, spec_pooled

    def fuse(self, lc_pooled: Tensor, spec_pooled: Tensor) -> DesaOutput:
        """From pooled encoder outputs (possibly cached) to the embedding and head outputs."""
        fused = self.dualformer(spec_pooled, lc_pooled)
        p_s, p_l = project(fused.e_s, fused.e_l, self.projection)  # (B, D) each
        embedding = self.embed(fused.e_s, fused.e_l)  # (B, D) or (B, 2D)
        heads = self.heads(torch.cat((p_s, p_l), dim=-1))  # final features (B, 2D)
        return DesaOutput(fused.e_s, fused.e_l, p_s, p_l, embedding, heads)

    def embed(self, e_s: Tensor, e_l: Tensor) -> Tensor:
        """The eigen-embedding: (e_s + e_l) V (B, D), or [e_s V, e_l V] (B, 2D) when concatenating.

        The sum mixes the modalities into D numbers; the concatenation keeps both (SCIENCE.md 1.7).
        """
        v = self.eigen_vectors
        if self.config.dualformer.concat_embedding:
            return torch.cat((e_s @ v, e_l @ v), dim=-1)
        return (e_s + e_l) @ v

    def forward(self, lc: Tensor, lc_mask: Tensor, spec: Tensor, spec_mask: Tensor) -> DesaOutput:
        return self.fuse(*self.encode(lc, lc_mask, spec, spec_mask))

    @torch.no_grad()
    def refresh_eigenbasis(self) -> EigenBasis:
        """Recompute the stored eigenbasis from the current projection W."""
        basis = eigenbasis(self.projection.detach())
        self.eigen_values.copy_(basis.values)
        self.eigen_vectors.copy_(basis.vectors)
        return basis

    def parameter_count(self) -> dict[str, int]:
        """Parameters per component, for logs and the README."""
        parts = {
            "lightcurve_encoder": self.lightcurve_encoder,
            "spectrum_encoder": self.spectrum_encoder,
            "dualformer": self.dualformer,
            "heads": self.heads,
        }
        return {name: sum(p.numel() for p in m.parameters()) for name, m in parts.items()}
