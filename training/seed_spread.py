"""Training-seed spreads for ``desa evaluate``: DESA's alignment retrained once per seed, pooled scores.

One training seed moved DESA's sync/young purity by 0.07 on a 20k survey (docs/evaluation/readout.md),
more than most differences between methods, so the evaluation trains the two methods it trains
without labels (DESA's fusion + W, CLIP) with several seeds. :func:`retrained_alignments` retrains
DESA's DualFormer + W on the run's cached frozen encoder outputs with the run's own alignment
settings (the run's own seed gives back its ``aligned.pt``); :func:`pool_training_seeds` merges the
frozen-probe summaries of the seeds into one, over every (training seed, probe seed) pair.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from desa_core.model import DesaModel
from training.config import TrainConfig
from training.probes import summary


@dataclass(frozen=True)
class _Splits:
    """The one part of ``SurveyTensors`` the alignment stage reads when given cached encoder outputs."""

    split: np.ndarray

    def rows(self, name: str) -> torch.Tensor:
        return torch.as_tensor(np.flatnonzero(self.split == name))


def retrained_alignments(
    model: DesaModel,
    train_config: dict,
    lc: np.ndarray,
    spec: np.ndarray,
    split: np.ndarray,
    seeds: list[int],
    *,
    progress: bool = True,
) -> tuple[dict[int, np.ndarray], list[int]]:
    """DESA's frozen embedding retrained once per seed: a fresh fusion + W on ``model``'s encoders.

    Each run is the alignment stage as the run trained it (its ``[align]`` settings, early stopping
    included) on the cached encoder outputs ``lc``, ``spec``; only the seed (initialisation and
    batch order) differs. Returns the embeddings by seed and the optimiser steps each took.
    """
    from training.ablation import Variant, train_variant  # ablation -> evaluate -> this module

    config = TrainConfig.from_dict(train_config).align  # the run's own [align], as it trained
    variant = Variant("desa", "DESA", model.config.dualformer, config.info_weight)
    pooled = (torch.as_tensor(lc), torch.as_tensor(spec))
    out, steps = {}, []
    with tempfile.TemporaryDirectory(prefix="desa-evaluate-") as tmp:
        for seed in seeds:
            folder = Path(tmp) / f"seed{seed}"
            trained, taken = train_variant(
                variant,
                model,
                _Splits(split),  # type: ignore[arg-type]  (only .rows is read with pooled given)
                pooled,
                align_config=config,
                finetune_config=None,
                folder=folder,
                seed=seed,
                progress=progress,
            )
            with torch.no_grad():
                out[seed] = trained.fuse(*pooled).embedding.numpy()
            steps.append(taken["align"])
    return out, steps


def pool_training_seeds(scores: list[dict]) -> dict:
    """Frozen-probe summaries of one method trained with several seeds, merged into one.

    Every ``summary`` entry (mean, std, values) becomes the summary of all (training seed, probe
    seed) pairs, plus ``train_seed_means``: the mean over probe seeds for each training seed.
    """
    first = scores[0]
    if isinstance(first, dict) and "values" in first and "mean" in first:
        if any(s is None for s in scores):
            return None  # type: ignore[return-value]
        values = [v for s in scores for v in s["values"]]
        extra = {k: v for k, v in first.items() if k not in ("mean", "std", "values")}
        return summary(values) | extra | {"train_seed_means": [s["mean"] for s in scores]}
    if isinstance(first, dict):
        return {k: pool_training_seeds([s.get(k) for s in scores]) for k in first}
    return first
