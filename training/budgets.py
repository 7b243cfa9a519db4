"""Training budgets in optimiser steps: what a stage's config allows and what its metrics log shows.

A stage config gives its budget either as ``max_steps`` or, with ``max_steps = 0``, as ``epochs``
over the training split (``training.config.StageConfig``). The evaluation prints every budget in
optimiser steps, so both are converted with the rule of ``training.loop.run_loop``: an epoch is
the training rows in batches of ``batch_size``, a last batch of one star dropped (batch statistics
need two). What a stage took is read from its ``metrics.jsonl`` (one record with ``loss`` per
optimiser step, carrying the global step), since early stopping may end a stage before its budget.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

#: The run's stages with what each trains (training/stages/*.py).
STAGE_TRAINS = {
    "pretrain_lightcurve": "light-curve encoder",
    "pretrain_spectrum": "spectrum encoder",
    "align": "DualFormer + W",
    "finetune": "heads + DualFormer + W",
}


def batches_per_epoch(n_rows: int, batch_size: int) -> int:
    """Optimiser steps in one epoch of ``n_rows`` (``training.loop``: a batch needs two stars)."""
    full, rest = divmod(n_rows, batch_size)
    return max(1, full + (1 if rest > 1 else 0))


def budget_steps(config: Mapping[str, Any], n_train: int) -> int:
    """The optimiser-step budget of a stage config (``max_steps``, else ``epochs`` × batches)."""
    max_steps = int(config.get("max_steps", 0))
    if max_steps > 0:
        return max_steps
    epochs, batch_size = int(config.get("epochs", 5)), int(config.get("batch_size", 64))
    return max(1, epochs * batches_per_epoch(n_train, batch_size))


def steps_taken(metrics: Path, stage: str) -> int | None:
    """The last global step a stage logged, or None without a log.

    A resumed stage logs its steps again, so the count of records can exceed the steps; the global
    step cannot.
    """
    if not Path(metrics).is_file():
        return None
    last = None
    for line in Path(metrics).read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if record.get("stage") == stage and "loss" in record:
            last = max(last or 0, int(record["step"]))
    return last


def run_budgets(train_config: Mapping[str, Any], metrics: Path, n_train: int) -> dict[str, dict]:
    """Per stage of a run: what trains, batch size, lr, budget and steps taken (optimiser steps)."""
    out = {}
    for stage, trains in STAGE_TRAINS.items():
        config = train_config.get(stage)
        if config is None:
            continue
        out[stage] = {
            "trains": trains,
            "batch_size": int(config.get("batch_size", 64)),
            "lr": float(config.get("lr", 1e-3)),
            "budget_steps": budget_steps(config, n_train),
            "steps": steps_taken(metrics, stage),
        }
    return out
