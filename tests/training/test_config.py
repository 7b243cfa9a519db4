"""Run files: shipped configs load, overrides apply, mistakes name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from training.config import load_config


@pytest.mark.parametrize("name", ["tiny", "demo", "paper"])
def test_shipped_configs_load(name: str) -> None:
    assert load_config(name).name == name


def test_dotted_override_and_types() -> None:
    cfg = load_config("tiny", ["align.epochs=7", "finetune.lr=0.5", "seed=3"])
    assert (cfg.align.epochs, cfg.finetune.lr, cfg.seed) == (7, 0.5, 3)


def test_unknown_key_is_named(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('name = "x"\n[align]\nepocs = 3\n')
    with pytest.raises(ValueError, match="epocs"):
        load_config(str(path))
    with pytest.raises(ValueError, match="epochs must be int"):
        load_config("tiny", ['align.epochs="three"'])


def test_step_budget_gives_the_same_steps_for_any_survey_size(tmp_path, make_store) -> None:
    import json

    from training.config import load_config
    from training.run import train

    steps = {}
    for n in (60, 120):
        store = make_store(tmp_path / f"s{n}", n=n)
        config = load_config(
            "tiny",
            [
                "pretrain_lightcurve.max_steps=7",
                "pretrain_lightcurve.batch_size=8",
                "pretrain_lightcurve.patience=100",
            ],
        )
        train(config, store, stages=("pretrain_lightcurve",), progress=False)
        rows = [
            json.loads(x) for x in (store.root / "models" / "tiny" / "metrics.jsonl").read_text().splitlines()
        ]
        steps[n] = max(r["step"] for r in rows if "loss" in r)
    assert steps == {60: 7, 120: 7}
