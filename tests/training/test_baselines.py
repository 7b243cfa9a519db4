"""The baselines' budgets and fine-tuning: what DESA's stages get, step for step."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from desa_core.config import HeadsConfig
from tests.training.conftest import paired_views
from training.baselines import ClipConfig, adapter_width, clip_config, finetune_baseline, train_clip
from training.budgets import budget_steps
from training.config import FinetuneConfig, load_config


def test_clip_budget_is_the_alignment_stages_steps() -> None:
    """The run configs give budgets as max_steps (demo: 800); CLIP once read the 5 default epochs."""
    align = load_config("demo").align
    clip = clip_config(vars(align), dim=32, seed=0)
    n_train = 13_986  # the 20k survey's training split: 110 batches of 128 per epoch
    assert budget_steps(vars(clip), n_train) == budget_steps(vars(align), n_train) == 800
    assert (clip.batch_size, clip.lr, clip.weight_decay, clip.grad_clip) == (
        align.batch_size,
        align.lr,
        align.weight_decay,
        align.grad_clip,
    )


def test_clip_takes_every_step_of_its_budget_and_reports_chance() -> None:
    _, lc, spec = paired_views()
    train, val = np.arange(0, 240), np.arange(240, 300)
    _, info = train_clip(lc, spec, train, val, ClipConfig(dim=8, max_steps=11, batch_size=32))
    assert info["steps"] == info["budget_steps"] == 11, "no early stop: CLIP takes its whole budget"
    assert info["chance"] == pytest.approx(1 / 30)  # validation batches of 32 and 28 stars
    assert len(info["val_infonce"]) == 2  # 8 batches per epoch: epochs end at steps 8 and 11


def test_a_baseline_is_fine_tuned_with_desas_budget_and_heads() -> None:
    z, lc, _ = paired_views(400)
    heads = HeadsConfig(properties=("teff_k", "age_gyr"), hidden=16)
    labels = torch.as_tensor(
        np.column_stack([5000 + 500 * z[:, 0], 10 ** (0.3 * z[:, 1])]), dtype=torch.float32
    )
    labels[::7, 1] = float("nan")  # unknown ages supervise nothing
    binary = torch.as_tensor((z[:, 2] > 0.5).astype(np.float32))
    train, val, test = np.arange(0, 280), np.arange(280, 340), np.arange(340, 400)
    config = FinetuneConfig(max_steps=250, batch_size=32, lr=3e-3, patience=1000)
    runs = {
        name: finetune_baseline(
            name,
            x,
            labels,
            binary,
            train,
            val,
            config=config,
            heads=heads,
            out_features=16,
            adapter_params=2_000,
            seed=0,
        )
        for name, x in (("signal", lc), ("noise", np.random.default_rng(5).normal(size=lc.shape)))
    }
    for pred, info in runs.values():
        assert info["steps"] == info["budget_steps"] == 250
        assert abs(info["trainable_params"] - sum(p.numel() for p in _heads(heads, 16)) - 2_000) < 50
        assert pred.median.shape == (400, 2) and torch.all(pred.lower <= pred.upper)

    def rmse(pred) -> float:
        return float((pred.median[test, 0] - labels[test, 0]).pow(2).mean().sqrt())

    assert rmse(runs["signal"][0]) < 0.5 * rmse(runs["noise"][0]), "the heads learn from the vectors"


def _heads(config: HeadsConfig, width: int):
    from desa_core.heads import PropertyHeads

    return PropertyHeads(config, in_features=width).parameters()


def test_adapter_width_matches_the_parameter_budget() -> None:
    for f in (64, 128):
        h = adapter_width(f, 64, 69_184)  # the demo model's DualFormer + W
        params = 2 * f + (f + 1) * h + (h + 1) * 64
        assert abs(params - 69_184) <= (f + 1 + 64) / 2, "h is rounded: off by at most half a unit of h"
