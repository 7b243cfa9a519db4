"""Stage 1: light-curve encoder, VICReg between augmented views + NLL on log10 Prot."""

from __future__ import annotations

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

    return ctx.pretrain(
        NAME,
        model=model,
        encoder=model.lightcurve_encoder,
        pretrainer=model.lightcurve_pretrainer,
        inputs=data.lc,
        mask=data.lc_mask,
        target=target[:, None],
        valid=valid[:, None],
        train_rows=train_rows,
        val_rows=val_rows,
        config=config,
    )
