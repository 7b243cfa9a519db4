"""The fusion ablation end to end on a tiny survey: every variant gets the same budget and probes."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from benchmarks import frozen_ceiling, learned_ceiling
from data.storage import SurveyStore
from desa_core.config import DesaConfig, DualFormerConfig
from training.ablation import AblationConfig, build_variants, paper_fusion
from training.cli import main
from training.config import load_config
from training.run import train

VARIANTS = ("paper", "tokens", "residual", "wide", "info", "preserve_noinfo", "preserve", "preserve_slim")


def test_variants_switch_one_change_each() -> None:
    paper = paper_fusion(DesaConfig.tiny("preserve"))
    assert paper == DualFormerConfig()
    variants = {v.key: v for v in build_variants(paper, AblationConfig(info_weight=0.3))}
    assert tuple(variants) == VARIANTS
    assert variants["residual"].dualformer == DualFormerConfig(residual=True)
    assert variants["info"].dualformer == paper and variants["info"].info_weight == 0.3
    assert variants["preserve"].dualformer == DualFormerConfig(width=64, fusion="preserve", rotary=True)
    assert variants["preserve_slim"].dualformer == DesaConfig.tiny("preserve").dualformer  # the demo's
    assert variants["preserve_noinfo"].info_weight == 0.0
    with pytest.raises(ValueError, match="nope"):
        build_variants(paper, AblationConfig(variants=("nope",)))


@pytest.mark.slow
def test_ablate_command_trains_and_scores_every_variant(synthetic_store: SurveyStore) -> None:
    checkpoint = train(load_config("tiny"), synthetic_store, progress=False).checkpoint
    survey = ["--survey-dir", str(synthetic_store.root), "--quiet"]
    steps = ["--align-steps", "3", "--finetune-steps", "2", "--extra-fraction", "1.0", "--batch-size", "8"]
    assert main(["ablate", "--run", "tiny", *steps, *survey]) == 0
    (folder,) = (checkpoint.parent / "ablation").iterdir()
    figures = json.loads((folder / "ablation.json").read_text())
    assert tuple(figures["variants"]) == VARIANTS
    dims = {key: v["scores"]["dim"] for key, v in figures["variants"].items()}
    assert dims == {"paper": 32, "tokens": 32, "residual": 32, "wide": 128, "info": 32} | {
        "preserve_noinfo": 128,
        "preserve": 128,
        "preserve_slim": 128,
    }
    for entry in figures["variants"].values():
        assert entry["steps"] == {"align": 3, "finetune": 2}
        assert math.isfinite(entry["scores"]["few_shot_r2_cmd"]["mean"])
        assert math.isfinite(entry["scores"]["r2_at_1"]["hr"])
    assert set(figures["baselines"]) == {"lightcurve_only", "spectrum_only", "concat", "clip"}
    assert figures["baselines"]["clip"]["steps"] == {"align": 3}, "CLIP gets the variants' step budget"
    table = (folder / "ablation.md").read_text()
    rows = [line for line in table.splitlines() if line.startswith("|")]
    assert len(rows) == 2 + len(VARIANTS) + 4  # header, rule, variants, baselines
    assert "| 3 align + 2 finetune |" in table and "R² HR (100 %)" in table
    # The learned-ceiling diagnostic (benchmarks/learned_ceiling.py) runs on the same checkpoint.
    ceiling = learned_ceiling.run(synthetic_store.root, checkpoint, steps=3)
    assert ceiling["steps"] == 3 and ceiling["n_test"] > 0
    assert all(math.isfinite(ceiling[k]) for k in ("r2_cmd", "r2_hr", "detectable_auc", "detectable_ap"))
    # So does the frozen-input ceiling (benchmarks/frozen_ceiling.py): supervised models, pooled vectors.
    frozen = frozen_ceiling.run(synthetic_store.root, checkpoint, seeds=1)
    assert frozen["n_test"] > 0 and set(frozen["r2"]) == {"cmd", "hr"}
    for scores in frozen["binary"].values():
        assert set(scores) == {"logistic", "boosting", "mlp"}
        assert all(0.0 <= v["auc"] <= 1.0 for v in scores.values())
    assert all(math.isfinite(v) for task in frozen["r2"].values() for v in task.values())


def test_train_config_chooses_the_fusion(tmp_path: Path) -> None:
    from training.run import _initial_model

    model, _ = _initial_model(load_config("tiny", ['fusion="preserve"']), tmp_path / "none.pt")
    assert model.config == DesaConfig.tiny("preserve")
    with pytest.raises(ValueError, match="unknown fusion"):
        _initial_model(load_config("tiny", ['fusion="fancy"']), tmp_path / "none.pt")
