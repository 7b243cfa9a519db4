"""Stage 2: spectrum encoder, masked reconstruction + NLL on Teff, logg and [Fe/H]."""

from __future__ import annotations

import torch

from desa_core.model import DesaModel
from desa_core.pretraining import SPECTRUM_LABELS
from training.config import StageConfig
from training.loop import StageResult
from training.stages import StageContext
from training.stages._targets import standardise
from training.tensors import SurveyTensors

NAME = "pretrain_spectrum"


def run(model: DesaModel, data: SurveyTensors, config: StageConfig, ctx: StageContext) -> StageResult:
    """Train the spectrum encoder and its pretraining decoder and head."""
    train_rows, val_rows = data.rows("train"), data.rows("val")
    pairs = [standardise(data.label(name), train_rows) for name in SPECTRUM_LABELS]
    target = torch.stack([t for t, _ in pairs], dim=1)  # (N, 3)
    valid = torch.stack([v for _, v in pairs], dim=1)

    return ctx.pretrain(
        NAME,
        model=model,
        encoder=model.spectrum_encoder,
        pretrainer=model.spectrum_pretrainer,
        inputs=data.spec,
        mask=data.spec_mask,
        target=target,
        valid=valid,
        train_rows=train_rows,
        val_rows=val_rows,
        config=config,
    )
