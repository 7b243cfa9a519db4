"""Stage 4: property and binary heads on the final features [p_s, p_l], then calibration.

As in the paper, the encoders stay frozen (their pooled outputs are computed once) while the
heads train; with ``tune_fusion`` (the default) the DualFormer and the projection W train too,
under the dual-projection loss kept as a regulariser, and the eigenbasis is recomputed at the end.
Supervision uses training-split labels only; calibration uses the validation split.
``pooled`` lets a caller that already holds the encoder outputs skip the encoding.
"""

from __future__ import annotations

import torch
from torch import Tensor

from desa_core.alignment import dual_projection_loss
from desa_core.losses import binary_cross_entropy, gaussian_nll
from desa_core.model import DesaModel
from training.config import FinetuneConfig
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


def run(
    model: DesaModel,
    data: SurveyTensors,
    config: FinetuneConfig,
    ctx: StageContext,
    *,
    pooled: tuple[Tensor, Tensor] | None = None,
) -> StageResult:
    """Train the heads (with ``tune_fusion``, the DualFormer and W too), then calibrate them."""
    lc_pooled, spec_pooled = pooled or ctx.encoded(model, data)
    tune_fusion = config.tune_fusion
    if not tune_fusion:
        with torch.no_grad():
            frozen = model.fuse(lc_pooled, spec_pooled)
            features = torch.cat((frozen.p_s, frozen.p_l), dim=-1)
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
        terms: dict[str, Tensor] = {}
        if tune_fusion:
            fused = model.fuse(lc_pooled[rows], spec_pooled[rows])
            out = fused.heads
        else:
            out = heads(features[rows])
        nll = gaussian_nll(out.mean, out.log_var, target[rows], valid[rows])
        bce = binary_cross_entropy(out.binary_logit, binary[rows], binary_valid[rows])
        loss = nll + bce
        if tune_fusion and config.align_weight > 0:
            align = dual_projection_loss(
                fused.e_s,
                fused.e_l,
                model.projection,
                var_weight=config.var_weight,
                info_weight=config.info_weight,
            )
            loss = loss + config.align_weight * align["loss"]
            terms["align"] = align["loss"]
        return {"loss": loss, "nll": nll, "bce": bce, **terms}

    result = ctx.loop(
        NAME,
        model=model,
        trainable=[heads, model.dualformer] if tune_fusion else [heads],
        extra_params=[model.projection] if tune_fusion else [],
        step=step,
        train_rows=train_rows,
        val_rows=val_rows,
        config=config,
    )
    if tune_fusion:
        model.refresh_eigenbasis()
    if len(val_rows):
        model.eval()
        with torch.no_grad():
            out = model.fuse(lc_pooled[val_rows], spec_pooled[val_rows]).heads
            heads.calibrate(out, physical[val_rows])
    return result
