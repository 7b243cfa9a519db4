"""Training configuration: typed dataclasses read from TOML, with dotted command-line overrides.

Precedence: dataclass defaults, then the run file (``training/configs/<name>.toml`` or a path),
then ``--set section.key=value`` overrides. The resolved config is saved in the run folder.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from desa_core.config import DesaConfig

STAGES = ("pretrain_lightcurve", "pretrain_spectrum", "align", "finetune")


@dataclass(frozen=True)
class StageConfig:
    """One stage's optimisation budget.

    ``max_steps`` > 0 sets the budget in optimiser steps instead: the stage runs as many epochs as
    that many batches need, so a small and a large survey get the same training time, and
    ``epochs`` is ignored.

    Early stopping ends a stage after ``patience`` epochs without a better validation loss, but
    never before ``min_steps`` optimiser steps: patience is counted in epochs, and the epochs of a
    small survey are short and noisy (the 2,500-star demo survey has ~28 steps per epoch at batch
    64; a spectrum encoder once stopped there at step 336 of 1,600 with validation loss 0.73,
    against 0.33 for the full budget).
    """

    epochs: int = 5
    max_steps: int = 0
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-5
    patience: int = 5
    min_steps: int = 0
    grad_clip: float = 1.0
    checkpoint_every: int = 50


@dataclass(frozen=True)
class AlignConfig(StageConfig):
    """Alignment stage: weights of the anti-collapse and information terms of the alignment loss.

    ``info_weight`` weighs the InfoNCE term between p_s and p_l (``desa_core.alignment.info_nce``).
    """

    var_weight: float = 1.0
    cross_weight: float = 0.0
    info_weight: float = 0.0


@dataclass(frozen=True)
class FinetuneConfig(StageConfig):
    """Fine-tuning: the heads and, as in the paper, the DualFormer and W (encoders stay frozen).

    ``tune_fusion`` trains the DualFormer and the projection W with the heads; the
    dual-projection loss (weight ``align_weight``, with its variance hinge) stays on so that
    supervision cannot undo the alignment. ``tune_fusion = false`` trains the heads alone on
    frozen features.
    """

    tune_fusion: bool = True
    align_weight: float = 1.0
    var_weight: float = 1.0
    info_weight: float = 0.0


@dataclass(frozen=True)
class TrainConfig:
    """A training run: model preset and its fusion (``desa_core.config.FUSIONS``), seed, stages."""

    name: str = "tiny"
    model: str = "tiny"
    fusion: str = "paper"
    #: Append two line indices measured on each spectrum to the spectrum side of every method
    #: (``desa_core.config.SpectrumEncoderConfig.measured_indices``); off by default.
    measured_indices: bool = False
    seed: int = 0
    pretrain_lightcurve: StageConfig = field(default_factory=StageConfig)
    pretrain_spectrum: StageConfig = field(default_factory=StageConfig)
    align: AlignConfig = field(default_factory=AlignConfig)
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)

    def model_config(self) -> DesaConfig:
        """The ``desa_core.config.DesaConfig`` this run builds: preset, fusion and measured indices."""
        from desa_core.config import DesaConfig

        model = DesaConfig.preset(self.model, self.fusion)
        if not self.measured_indices:
            return model
        spectrum = dataclasses.replace(model.spectrum, measured_indices=True)
        return dataclasses.replace(model, spectrum=spectrum)

    def stage(self, name: str) -> StageConfig:
        return getattr(self, name)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any], where: str = "train config") -> TrainConfig:
        """Build from ``to_dict`` output (a run's or a sidecar's); fields added since take defaults."""
        return _build(cls, raw, where)


def _build(klass: type, raw: dict[str, Any], where: str) -> Any:
    names = {f.name: f for f in dataclasses.fields(klass)}
    unknown = set(raw) - set(names)
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)}; allowed: {sorted(names)}")
    kwargs = {}
    for key, value in raw.items():
        f = names[key]
        sub = (
            {
                "pretrain_lightcurve": StageConfig,
                "pretrain_spectrum": StageConfig,
                "finetune": FinetuneConfig,
                "align": AlignConfig,
            }.get(key)
            if klass is TrainConfig
            else None
        )
        if sub is not None:
            kwargs[key] = _build(sub, value, f"{where} [{key}]")
            continue
        expected = {"int": int, "float": float, "str": str, "bool": bool}.get(str(f.type))
        if expected is float and isinstance(value, int):
            value = float(value)
        if expected is not None and not isinstance(value, expected):
            raise ValueError(f"{where}: {key} must be {f.type}, got {value!r}")
        kwargs[key] = value
    return klass(**kwargs)


def _parse_override(text: str) -> tuple[list[str], Any]:
    if "=" not in text:
        raise ValueError(f"override {text!r} must look like section.key=value")
    key, value = text.split("=", 1)
    parsed = tomllib.loads(f"v = {value}")["v"] if value else value
    return key.strip().split("."), parsed


def resolve_config_path(name_or_path: str) -> Path:
    """A shipped config name (``tiny``, ``demo``, ``paper``) or a path to a TOML file."""
    path = Path(name_or_path)
    if path.suffix == ".toml":
        if not path.is_file():
            raise FileNotFoundError(f"{path}: config file not found")
        return path
    shipped = resources.files("training") / "configs" / f"{name_or_path}.toml"
    if not shipped.is_file():
        names = sorted(
            p.name.removesuffix(".toml")
            for p in (resources.files("training") / "configs").iterdir()
            if p.name.endswith(".toml")
        )
        raise FileNotFoundError(f"{name_or_path}: no such config; shipped configs are {names}")
    return Path(str(shipped))


def load_config(name_or_path: str, overrides: list[str] | None = None) -> TrainConfig:
    """Read a run file and apply ``section.key=value`` overrides; errors name the file and key."""
    path = resolve_config_path(name_or_path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: invalid TOML ({exc})") from exc
    for override in overrides or []:
        keys, value = _parse_override(override)
        node = raw
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        node[keys[-1]] = value
    return _build(TrainConfig, raw, str(path))
