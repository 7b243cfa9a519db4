"""Stage 4: property and binary heads on the frozen final features [p_s, p_l], then calibration."""

from __future__ import annotations

import torch
from torch import Tensor

from desa_core.losses import binary_cross_entropy, gaussian_nll
from desa_core.model import DesaModel
from training.config import StageConfig
from training.loop import StageResult
from training.stages import StageContext
from training.stages.align import encode_all
from training.tensors import SurveyTensors

NAME = "finetune"


@torch.no_grad()
def final_features(model: DesaModel, data: SurveyTensors, *, progress: bool = True) -> Tensor:
    """[p_s, p_l] (N, 2D) for every star with the aligned, frozen backbone."""
    lc_pooled, spec_pooled = encode_all(model, data, progress=progress)
    out = model.fuse(lc_pooled, spec_pooled)
    return torch.cat((out.p_s, out.p_l), dim=-1)


def run(model: DesaModel, data: SurveyTensors, config: StageConfig, ctx: StageContext) -> StageResult:
    features = final_features(model, data, progress=ctx.progress)
    train_rows, val_rows = data.rows("train"), data.rows("val")
    heads = model.heads
    columns = [data.label_names.index(p) for p in heads.properties]
    physical = data.labels[:, columns]  # (N, P) with NaN where unknown
    heads.fit_scaling(physical[train_rows])
    target = heads.standardise(physical)
    valid = torch.isfinite(target)
    target = torch.nan_to_num(target)
    binary_valid = torch.isfinite(data.binary)
    binary = torch.nan_to_num(data.binary)

    def step(rows: Tensor, generator: torch.Generator) -> dict[str, Tensor]:
        out = heads(features[rows])
        nll = gaussian_nll(out.mean, out.log_var, target[rows], valid[rows])
        bce = binary_cross_entropy(out.binary_logit, binary[rows], binary_valid[rows])
        return {"loss": nll + bce, "nll": nll, "bce": bce}

    result = ctx.loop(
        NAME,
        model=model,
        trainable=[heads],
        step=step,
        train_rows=train_rows,
        val_rows=val_rows,
        config=config,
    )
    if len(val_rows):
        heads.eval()
        with torch.no_grad():
            out = heads(features[val_rows])
            heads.calibrate(out, physical[val_rows])
    return result
