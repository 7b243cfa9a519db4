"""Model configuration: one frozen dataclass per module, composed by ``DesaConfig``.

Presets: ``tiny`` trains on 2 CPU cores in minutes; ``paper`` mirrors the widths and depths of
DESA (arXiv 2507.10666, sections on the encoders and DualFormer) for a GPU.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from data import schema

#: Properties the heads predict, in order: the survey schema's (``data.schema.PROPERTIES``).
DEFAULT_PROPERTIES = schema.PROPERTY_NAMES


@dataclass(frozen=True)
class LightCurveEncoderConfig:
    """Light-curve encoder: (B, C, T) channels -> patch tokens -> transformer -> (B, E).

    ``channels`` and ``length`` are the store's light-curve grid (``data.schema``).
    """

    channels: int = len(schema.LC_CHANNELS)
    length: int = schema.LC_LENGTH
    patch: int = 16
    width: int = 64
    depth: int = 2
    heads: int = 4
    embed_dim: int = 64
    dropout: float = 0.0


@dataclass(frozen=True)
class SpectrumEncoderConfig:
    """Spectrum encoder: (B, L) flux + mask -> conv stem -> transformer -> (B, E).

    The input grid is part of the model: pixel i has log10 λ = ``log10_start`` + ``log10_step``·i
    (rest frame, vacuum Å; the store's ``grids`` record says the same, see
    :meth:`DesaConfig.input_grid`). Defaults are the LAMOST LRS sampling of ``data.schema``.
    ``patch`` pixels make one token; the stem's first convolution has stride ``stem_stride``.
    ``position_channels`` fixed sinusoids of log λ enter the stem as extra input channels.
    ``measured_indices`` appends two line indices measured on each input spectrum (Li 6708 EW,
    CCF width; ``desa_core.line_indices``), standardised, to the pooled vector, which is then
    ``embed_dim + 2`` wide (:attr:`pooled_dim`). Off by default; checkpoints written before the
    field existed load with it off.
    """

    length: int = schema.SPEC_LENGTH
    log10_start: float = schema.SPEC_LOG10_START
    log10_step: float = schema.SPEC_LOG10_STEP
    patch: int = 60
    stem_stride: int = 2
    position_channels: int = 16
    stem_channels: int = 32
    width: int = 64
    depth: int = 2
    heads: int = 4
    embed_dim: int = 64
    dropout: float = 0.0
    measured_indices: bool = False

    @property
    def pooled_dim(self) -> int:
        """Width of the spectrum side the fusion and the baselines read: encoder output (+ indices)."""
        return self.embed_dim + (2 if self.measured_indices else 0)


#: Fusion presets: the paper's DualFormer, and one that keeps what the encoders know (SCIENCE.md 1.5).
FUSIONS = ("paper", "preserve")
#: DualFormerConfig switches that ``fusion`` sets unless given explicitly (``None``).
FUSION_FLAGS = ("feature_tokens", "attention_pool", "residual", "concat_embedding")


@dataclass(frozen=True)
class DualFormerConfig:
    """DualFormer: one token per embedding dimension, cross- plus self-attention blocks.

    ``fusion = "paper"`` is DESA's design; ``"preserve"`` switches on every flag below. A flag left
    at ``None`` follows ``fusion``; set one to ablate it (``fusion="paper", residual=True``).
    Checkpoints written before these fields existed load as ``"paper"``.

    - ``feature_tokens``: a learned (E, D) embedding per input feature and modality is added to the
      shared scalar tokens, so the fusion knows which feature a token carries.
    - ``attention_pool``: a learned query pools the tokens instead of a mean.
    - ``residual``: encoder outputs are standardised (training-split statistics) and mapped to e_s,
      e_l by an orthogonally initialised Linear(E -> D); the attention branch enters through a
      zero-initialised Linear(D -> D), so training starts from a linear map that is lossless when
      D >= E.
    - ``concat_embedding``: the embedding is [e_s V, e_l V] (2D) instead of (e_s + e_l) V (D).

    ``rotary`` (``None`` follows ``fusion``: on for ``paper``, off for ``preserve``): rotary positions
    over the feature index in the blocks' attention, as in the paper. With ``feature_tokens`` every
    token already carries its feature's identity, and the rotation doubles the query and key
    projections (``desa_core.layers.Attention``). Checkpoints written before the field existed
    load with it on (``DesaConfig.from_dict``).
    """

    width: int = 32
    depth: int = 2
    heads: int = 4
    ffn_mult: int = 4
    dropout: float = 0.0
    fusion: str = "paper"
    feature_tokens: bool | None = None
    attention_pool: bool | None = None
    residual: bool | None = None
    concat_embedding: bool | None = None
    rotary: bool | None = None

    def __post_init__(self) -> None:
        if self.fusion not in FUSIONS:
            raise ValueError(f"unknown fusion {self.fusion!r}; choose one of {list(FUSIONS)}")
        for name in FUSION_FLAGS:
            if getattr(self, name) is None:  # resolved once, so to_dict stores booleans
                object.__setattr__(self, name, self.fusion == "preserve")
        if self.rotary is None:
            object.__setattr__(self, "rotary", self.fusion == "paper")


@dataclass(frozen=True)
class HeadsConfig:
    """Property heads with Gaussian uncertainty, and a binary-probability head."""

    properties: tuple[str, ...] = DEFAULT_PROPERTIES
    hidden: int = 128
    dropout: float = 0.1


@dataclass(frozen=True)
class DesaConfig:
    """The whole model. ``name`` records the preset it came from."""

    lightcurve: LightCurveEncoderConfig = field(default_factory=LightCurveEncoderConfig)
    spectrum: SpectrumEncoderConfig = field(default_factory=SpectrumEncoderConfig)
    dualformer: DualFormerConfig = field(default_factory=DualFormerConfig)
    heads: HeadsConfig = field(default_factory=HeadsConfig)
    name: str = "custom"

    @property
    def fused_dim(self) -> int:
        """Dimension of e_s, e_l and the projection W."""
        return self.dualformer.width

    @property
    def embedding_dim(self) -> int:
        """Dimension of the final embedding: D, or 2D with ``concat_embedding``."""
        return 2 * self.fused_dim if self.dualformer.concat_embedding else self.fused_dim

    @property
    def input_grid(self) -> dict[str, float]:
        """The grids this model's inputs are built for, under the store manifest's ``grids`` keys.

        Compared with a store's record by :func:`data.schema.grid_mismatch` (``load_checkpoint``).
        """
        return {
            "lc_channels": self.lightcurve.channels,
            "lc_length": self.lightcurve.length,
            "spec_length": self.spectrum.length,
            "spec_log10_start": self.spectrum.log10_start,
            "spec_log10_step": self.spectrum.log10_step,
        }

    @classmethod
    def tiny(cls, fusion: str = "paper") -> DesaConfig:
        """Seconds per epoch on 2 CPU cores for a few thousand stars.

        The ``preserve`` fusion is 64 wide, the encoders' E, so its residual path starts lossless,
        and one block deep: on two 20k-star surveys one block scored as two on every frozen probe
        (training-seed spreads in docs/evaluation/readout.md) at half the fusion's cost.
        """
        if fusion == "preserve":
            return cls(dualformer=DualFormerConfig(width=64, depth=1, fusion=fusion), name="tiny")
        return cls(dualformer=DualFormerConfig(width=32, fusion=fusion), name="tiny")

    @classmethod
    def paper(cls, fusion: str = "paper") -> DesaConfig:
        """The paper's scale (about 11.7 M light-curve, 0.5 G spectrum, 10.7 M DualFormer params)."""
        return cls(
            lightcurve=LightCurveEncoderConfig(patch=8, width=512, depth=5, heads=8, embed_dim=256),
            # 128 spectral tokens of width 2048, as in DESA's spectrum encoder (SCIENCE.md 1.3).
            spectrum=SpectrumEncoderConfig(
                patch=30, stem_channels=64, width=2048, depth=8, heads=16, embed_dim=2048
            ),
            dualformer=DualFormerConfig(width=256, depth=4, heads=8, ffn_mult=8, dropout=0.1, fusion=fusion),
            heads=HeadsConfig(hidden=256),
            name="paper",
        )

    @classmethod
    def preset(cls, name: str, fusion: str = "paper") -> DesaConfig:
        presets = {"tiny": cls.tiny, "paper": cls.paper}
        if name not in presets:
            raise ValueError(f"unknown model preset {name!r}; choose one of {sorted(presets)}")
        return presets[name](fusion)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> DesaConfig:
        """Build from ``to_dict`` output; unknown keys raise ``ValueError`` naming them."""
        parts = {
            "lightcurve": LightCurveEncoderConfig,
            "spectrum": SpectrumEncoderConfig,
            "dualformer": DualFormerConfig,
            "heads": HeadsConfig,
        }
        unknown = set(raw) - {*parts, "name"}
        if unknown:
            raise ValueError(f"unknown model config sections: {sorted(unknown)}")
        kwargs: dict[str, Any] = {"name": raw.get("name", "custom")}
        for key, klass in parts.items():
            section = dict(raw.get(key, {}))
            names = {f.name for f in dataclasses.fields(klass)}
            bad = set(section) - names
            if bad:
                raise ValueError(f"unknown keys in model config [{key}]: {sorted(bad)}")
            if "properties" in section:
                section["properties"] = tuple(section["properties"])
            if key == "dualformer" and section and "rotary" not in section:
                section["rotary"] = True  # written before the field existed: every fusion rotated
            kwargs[key] = klass(**section)
        return cls(**kwargs)
