"""Model configuration: one frozen dataclass per module, composed by ``DesaConfig``.

Presets: ``tiny`` trains on 2 CPU cores in minutes; ``paper`` mirrors the widths and depths of
DESA (arXiv 2507.10666, sections on the encoders and DualFormer) for a GPU.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: Properties the heads predict, in order; names match the catalogue's ``pred_<stem>`` columns.
DEFAULT_PROPERTIES = (
    "teff_k",
    "logg",
    "feh",
    "logl",
    "abs_g_mag",
    "bp_rp_mag",
    "prot_d",
    "age_gyr",
)


@dataclass(frozen=True)
class LightCurveEncoderConfig:
    """Light-curve encoder: (B, C, T) channels -> patch tokens -> transformer -> (B, E)."""

    channels: int = 3
    length: int = 1024
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
    :func:`spectrum_grid_mismatch`). Defaults are the LAMOST LRS sampling of ``data.preprocess``.
    ``patch`` pixels make one token; the stem's first convolution has stride ``stem_stride``.
    ``position_channels`` fixed sinusoids of log λ enter the stem as extra input channels.
    """

    length: int = 3840
    log10_start: float = 3.5716
    log10_step: float = 1e-4
    patch: int = 60
    stem_stride: int = 2
    position_channels: int = 16
    stem_channels: int = 32
    width: int = 64
    depth: int = 2
    heads: int = 4
    embed_dim: int = 64
    dropout: float = 0.0


@dataclass(frozen=True)
class DualFormerConfig:
    """DualFormer: one token per embedding dimension, cross- plus self-attention blocks."""

    width: int = 32
    depth: int = 2
    heads: int = 4
    ffn_mult: int = 4
    dropout: float = 0.0


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
        """Dimension of e_s, e_l, the projection W and the final embedding."""
        return self.dualformer.width

    @classmethod
    def tiny(cls) -> DesaConfig:
        """Seconds per epoch on 2 CPU cores for a few thousand stars."""
        return cls(name="tiny")

    @classmethod
    def paper(cls) -> DesaConfig:
        """The paper's scale (about 11.7 M light-curve, 0.5 G spectrum, 10.7 M DualFormer params)."""
        return cls(
            lightcurve=LightCurveEncoderConfig(patch=8, width=512, depth=5, heads=8, embed_dim=256),
            # 128 spectral tokens of width 2048, as in DESA's spectrum encoder (SCIENCE.md 1.3).
            spectrum=SpectrumEncoderConfig(
                patch=30, stem_channels=64, width=2048, depth=8, heads=16, embed_dim=2048
            ),
            dualformer=DualFormerConfig(width=256, depth=4, heads=8, ffn_mult=8, dropout=0.1),
            heads=HeadsConfig(hidden=256),
            name="paper",
        )

    @classmethod
    def preset(cls, name: str) -> DesaConfig:
        presets = {"tiny": cls.tiny, "paper": cls.paper}
        if name not in presets:
            raise ValueError(f"unknown model preset {name!r}; choose one of {sorted(presets)}")
        return presets[name]()

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
            kwargs[key] = klass(**section)
        return cls(**kwargs)


def spectrum_grid_mismatch(config: SpectrumEncoderConfig, grids: Mapping[str, Any]) -> str | None:
    """Why spectra on the grid described by ``grids`` cannot go into this encoder, or None.

    ``grids`` is a survey store's manifest record (``spec_length``, ``spec_log10_start``,
    ``spec_log10_step``); keys it lacks are not compared (older manifests record the length only).
    """
    wanted = {
        "spec_length": config.length,
        "spec_log10_start": config.log10_start,
        "spec_log10_step": config.log10_step,
    }
    differs = [
        f"{key} {grids[key]} (model: {value})"
        for key, value in wanted.items()
        if key in grids and not math.isclose(float(grids[key]), value, rel_tol=1e-9, abs_tol=0.0)
    ]
    if not differs:
        return None
    return (
        "the spectra are not on the grid the spectrum encoder was built for: "
        + ", ".join(differs)
        + "; re-run `desa ingest` with this code, or use a model trained on that grid"
    )
