"""A learned ceiling: the encoders unfrozen and trained end to end on the labels.

The frozen probes of ``desa evaluate`` score an embedding that no label touched; the ORACLE
scores the true quantities a light curve and a spectrum carry, which no model sees. Between the
two, this diagnostic asks what the *inputs* give to these encoder sizes when labels are allowed:
a run's pretrained light-curve and spectrum encoders, unfrozen, plus an MLP head on their
concatenated pooled vectors, trained on every training-split star for ``--steps`` optimiser steps
(batch 64, AdamW, one-cycle lr) to the dereddened CMD and HR coordinates (MSE on standardised
values) and ``is_detectable_binary`` (binary cross-entropy). Scored on the test split: R² of the
CMD and HR coordinates and the detectable-binary AUC/AP.

It is not a method of the comparison (it uses every label and trains the encoders, which no row
of the frozen table does); it bounds from below what supervised fine-tuning of the encoders
could reach, and so says whether a frozen target is limited by the inputs or by what the
encoders keep without labels. Results in docs/evaluation/readout.md.

    python -m benchmarks.learned_ceiling desa_data/eval20k-7919 desa_data/eval20k-7919/models/demo/aligned.pt
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import average_precision_score, r2_score, roc_auc_score
from torch import nn


def run(survey: Path, checkpoint: Path, *, steps: int = 1500, seed: int = 0) -> dict:
    """Train end to end and score the test split; returns the figures as a dict."""
    from data import schema
    from data.storage import SurveyStore
    from desa_core.checkpoint import load_checkpoint
    from training.ablation import _probe_frame
    from training.probes import binary_labels, task_targets
    from training.tensors import load_survey_tensors, training_splits

    torch.manual_seed(seed)
    store = SurveyStore(survey)
    model, _ = load_checkpoint(checkpoint)
    df = _probe_frame(store)
    data = load_survey_tensors(store, schema.PROPERTY_NAMES)
    split = training_splits(df)
    train, test = (np.flatnonzero(split == s) for s in ("train", "test"))
    targets, valid = [], []
    for task in ("cmd", "hr"):
        y, ok, _ = task_targets(df, task)
        targets.append(y)
        valid.append(np.repeat(ok[:, None], 2, axis=1) & np.isfinite(y))
    y, ok = np.concatenate(targets, axis=1).astype(np.float32), np.concatenate(valid, axis=1)
    mu, sd = np.nanmean(y[train], axis=0), np.nanstd(y[train], axis=0)
    y_z = torch.as_tensor(np.nan_to_num((y - mu) / sd))
    ok_t = torch.as_tensor(ok)
    labels = binary_labels(df)  # a survey without the detectable label falls back to is_binary
    label = "is_detectable_binary" if "is_detectable_binary" in labels else "is_binary"
    detectable = labels[label].astype(np.float32)
    det_t = torch.as_tensor(detectable)
    width = model.config.lightcurve.embed_dim + model.config.spectrum.pooled_dim
    head = nn.Sequential(nn.Linear(width, 256), nn.GELU(), nn.Linear(256, 5))
    params = [
        *model.lightcurve_encoder.parameters(),
        *model.spectrum_encoder.parameters(),
        *head.parameters(),
    ]
    opt = torch.optim.AdamW(params, lr=3e-4, weight_decay=1e-5)
    schedule = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-4, total_steps=steps, pct_start=0.1)
    generator = torch.Generator().manual_seed(seed)
    rows_train = torch.as_tensor(train)

    def forward(rows: torch.Tensor) -> torch.Tensor:
        lc, spec = model.encode(data.lc[rows], data.lc_mask[rows], data.spec[rows], data.spec_mask[rows])
        return head(torch.cat((lc, spec), dim=1))

    model.train()
    start = time.perf_counter()
    for _ in range(steps):
        rows = rows_train[torch.randint(len(rows_train), (64,), generator=generator)]
        out = forward(rows)
        w = ok_t[rows].float()
        mse = (((out[:, :4] - y_z[rows]) ** 2) * w).sum() / w.sum().clamp_min(1.0)
        bce = nn.functional.binary_cross_entropy_with_logits(out[:, 4], det_t[rows])
        opt.zero_grad()
        (mse + bce).backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        schedule.step()
    seconds = time.perf_counter() - start
    model.eval()
    with torch.no_grad():
        parts = [forward(torch.as_tensor(test[i : i + 256])) for i in range(0, len(test), 256)]
        out = torch.cat(parts).numpy()
    pred = out[:, :4] * sd + mu
    result: dict = {
        "steps": steps,
        "seconds": round(seconds, 1),
        "n_train": len(train),
        "n_test": len(test),
        "binary_label": label,
    }
    for name, cols in (("cmd", [0, 1]), ("hr", [2, 3])):
        good = ok[test][:, cols].all(axis=1)
        result[f"r2_{name}"] = float(r2_score(y[test][good][:, cols], pred[good][:, cols]))
    result["detectable_auc"] = float(roc_auc_score(detectable[test], out[:, 4]))
    result["detectable_ap"] = float(average_precision_score(detectable[test], out[:, 4]))
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("survey", type=Path, help="survey folder (with truth), e.g. desa_data/eval20k-7919")
    parser.add_argument("checkpoint", type=Path, help="a run's checkpoint (its pretrained encoders)")
    parser.add_argument("--steps", type=int, default=1500, help="optimiser steps (default 1500)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print(json.dumps(run(args.survey, args.checkpoint, steps=args.steps, seed=args.seed), indent=2))


if __name__ == "__main__":
    main()
