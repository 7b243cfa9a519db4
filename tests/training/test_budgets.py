"""Budgets in optimiser steps: the evaluation's count must be the one the training loop runs."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from torch import nn

from training.budgets import budget_steps, run_budgets, steps_taken
from training.config import StageConfig
from training.loop import run_loop
from training.metrics import MetricLog


@pytest.mark.parametrize(
    ("n_train", "config"),
    [
        (57, StageConfig(epochs=1, batch_size=32)),  # a last batch of 25
        (65, StageConfig(epochs=3, batch_size=32)),  # a last batch of one star, which the loop drops
        (40, StageConfig(epochs=9, max_steps=7, batch_size=16)),  # max_steps wins over epochs
    ],
)
def test_budget_is_the_number_of_steps_the_loop_takes(
    tmp_path: Path, n_train: int, config: StageConfig
) -> None:
    model = nn.Linear(2, 1)
    x = torch.randn(n_train + 10, 2)
    metrics = tmp_path / "metrics.jsonl"
    run_loop(
        name="toy",
        model=model,
        trainable=[model],
        step=lambda rows, gen: {"loss": model(x[rows]).pow(2).mean()},
        train_rows=torch.arange(n_train),
        val_rows=torch.arange(n_train, n_train + 10),
        config=config,
        state_path=tmp_path / "state.pt",
        metrics=MetricLog(metrics),
        seed=0,
        progress=False,
    )
    assert steps_taken(metrics, "toy") == budget_steps(vars(config), n_train)


def test_steps_taken_reads_the_global_step_not_the_record_count(tmp_path: Path) -> None:
    """A resumed stage logs some steps twice; the budget table must not count them twice."""
    records = [{"stage": "align", "step": s, "loss": 1.0} for s in (1, 2, 3, 2, 3, 4)]
    records += [{"stage": "align", "step": 4, "val_loss": 0.5}, {"stage": "finetune", "step": 9, "loss": 1}]
    metrics = tmp_path / "metrics.jsonl"
    metrics.write_text("\n".join(json.dumps(r) for r in records))
    assert steps_taken(metrics, "align") == 4 and steps_taken(metrics, "finetune") == 9
    assert steps_taken(metrics, "clip") is None and steps_taken(tmp_path / "none.jsonl", "align") is None
    train_config = {"align": {"max_steps": 800, "batch_size": 128, "lr": 1e-3}, "finetune": {"epochs": 2}}
    budgets = run_budgets(train_config, metrics, n_train=1000)
    assert budgets["align"] == {
        "trains": "DualFormer + W",
        "batch_size": 128,
        "lr": 1e-3,
        "budget_steps": 800,
        "steps": 4,
    }
    assert budgets["finetune"]["budget_steps"] == 2 * 16 and set(budgets) == {"align", "finetune"}


def _flat_loop(tmp_path: Path, config: StageConfig) -> int:
    """A stage whose validation loss never improves after its first epoch; returns the steps taken."""
    model = nn.Linear(2, 1)
    x = torch.randn(50, 2)
    metrics = tmp_path / f"metrics-{config.min_steps}.jsonl"
    result = run_loop(
        name="flat",
        model=model,
        trainable=[model],
        step=lambda rows, gen: {"loss": (model(x[rows]) * 0).sum() + 1.0},  # constant: no improvement
        train_rows=torch.arange(40),
        val_rows=torch.arange(40, 50),
        config=config,
        state_path=tmp_path / f"state-{config.min_steps}.pt",
        metrics=MetricLog(metrics),
        seed=0,
        progress=False,
    )
    assert result.stopped_early == (steps_taken(metrics, "flat") < config.max_steps)
    return steps_taken(metrics, "flat")


def test_early_stopping_waits_for_min_steps(tmp_path: Path) -> None:
    """Patience counts short epochs (4 steps here); ``min_steps`` keeps the stage going until then."""
    base = StageConfig(max_steps=60, batch_size=10, patience=2)
    assert _flat_loop(tmp_path, base) == 12  # epoch 1 sets the best, epochs 2 and 3 do not: stop
    assert _flat_loop(tmp_path, replace(base, min_steps=30)) == 32  # the first epoch end past 30
    assert _flat_loop(tmp_path, replace(base, min_steps=100)) == 60  # never before the budget ends


def test_each_process_draws_its_own_masks_and_rank_0_keeps_the_single_process_stream() -> None:
    """Each process of a data-parallel run has its own random stream.

    Rows i and i + b of a global batch sit in different processes; one shared stream would give
    them the same hidden pixels and augmentations (the spectrum encoder then trained slower).
    """
    from training.distributed import DistInfo
    from training.loop import _process_seed

    assert _process_seed(7, DistInfo(0, 1)) == _process_seed(7, DistInfo(0, 2)) == 7
    seeds = {_process_seed(7, DistInfo(rank, 4)) for rank in range(4)}
    assert len(seeds) == 4 and not seeds & {_process_seed(8, DistInfo(rank, 4)) for rank in range(4)}
