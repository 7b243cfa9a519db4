"""Stage 1: light-curve encoder, VICReg between augmented views + NLL on log10 Prot."""

from __future__ import annotations

import torch
from torch import Tensor

from data import schema
from desa_core.model import DesaModel
from desa_core.pretraining import LIGHTCURVE_LABELS
from training.config import StageConfig
from training.loop import StageResult
from training.stages import StageContext
from training.stages._targets import standardise
from training.tensors import SurveyTensors

NAME = "pretrain_lightcurve"


def run(model: DesaModel, data: SurveyTensors, config: StageConfig, ctx: StageContext) -> StageResult:
    """Train the light-curve encoder and its pretraining head."""
    train_rows, val_rows = data.rows("train"), data.rows("val")
    (name,) = LIGHTCURVE_LABELS  # the pretrainer's one NLL head: log10 Prot
    target, valid = standardise(data.label(name), train_rows, log10=schema.PROPERTY[name].log10)

    def step(rows: Tensor, generator: torch.Generator) -> dict[str, Tensor]:
        return model.lightcurve_pretrainer(
            model.lightcurve_encoder,
            data.lc[rows],
            data.lc_mask[rows],
            target[rows, None],
            valid[rows, None],
            generator=generator,
        )

    return ctx.loop(
        NAME,
        model=model,
        trainable=[model.lightcurve_encoder, model.lightcurve_pretrainer],
        step=step,
        train_rows=train_rows,
        val_rows=val_rows,
        config=config,
    )
