"""A CPU smoke run of every stage, resumption, embedding, and label independence of embeddings."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from data.storage import SurveyStore
from desa_core.checkpoint import load_checkpoint
from training.config import STAGES, load_config
from training.embed import embed_survey
from training.run import GridMismatchError, RunExistsError, train


def test_all_stages_run_and_resume_skips_them(synthetic_store: SurveyStore) -> None:
    config = load_config("tiny")
    summary = train(config, synthetic_store, progress=False)
    assert [r.name for r in summary.stages] == list(STAGES)
    assert all(np.isfinite(r.best_val) for r in summary.stages)
    model, meta = load_checkpoint(summary.checkpoint)
    assert meta["stages_done"] == list(STAGES)
    assert (summary.checkpoint.parent / "metrics.jsonl").stat().st_size > 0
    with pytest.raises(RunExistsError, match="--resume"):
        train(config, synthetic_store, progress=False)
    again = train(config, synthetic_store, resume=True, progress=False)
    assert again.stages == [] and again.skipped == list(STAGES)
    torch.testing.assert_close(
        model.eigen_vectors.T @ model.eigen_vectors,
        torch.eye(model.config.fused_dim),
        atol=1e-5,
        rtol=0,
    )


def test_a_store_on_another_spectrum_grid_is_refused_before_training(synthetic_store: SurveyStore) -> None:
    config = load_config("tiny")
    grids = synthetic_store.read_manifest()["grids"]
    synthetic_store.update_manifest(grids={**grids, "spec_length": 2048})
    with pytest.raises(GridMismatchError, match=r"manifest.*spec_length 2048 \(model: 3840\).*desa ingest"):
        train(config, synthetic_store, progress=False)
    assert not (synthetic_store.models_dir / config.name).exists(), "no run state for a refused store"


@pytest.mark.slow
def test_embed_writes_layout_and_ignores_labels(synthetic_store: SurveyStore) -> None:
    config = load_config("tiny")
    checkpoint = train(config, synthetic_store, progress=False).checkpoint
    embed_survey(synthetic_store, checkpoint, progress=False)
    catalog = synthetic_store.read_catalog()
    for column in ("umap_x", "umap_y", "pred_teff_k", "pred_teff_k_lo", "binary_prob"):
        assert catalog[column].notna().all(), column
    first = np.asarray(synthetic_store.read_array("embedding", mmap=False))
    truth = synthetic_store.read_truth()
    shuffled = truth.sample(frac=1.0, random_state=1).reset_index(drop=True)
    shuffled["row"] = truth["row"]
    synthetic_store.write_truth(shuffled)
    embed_survey(synthetic_store, checkpoint, progress=False)
    second = np.asarray(synthetic_store.read_array("embedding", mmap=False))
    np.testing.assert_array_equal(first, second)
    assert synthetic_store.read_manifest()["embed"]["layout"]["mode"] == "fit_all"


def test_restart_keeps_the_old_run_until_the_new_one_has_finished(
    synthetic_store: SurveyStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from training import run as run_module

    config = load_config("tiny")
    final = run_module.run_dir(synthetic_store, config)
    old = train(config, synthetic_store, stages=("pretrain_lightcurve",), progress=False).checkpoint
    old_bytes = old.read_bytes()
    seen = []

    class Killed:
        @staticmethod
        def run(model, data, stage_config, ctx) -> None:
            seen.append((ctx.run_dir.name, old.read_bytes() == old_bytes))
            raise RuntimeError("killed")

    monkeypatch.setitem(run_module.STAGE_MODULES, "pretrain_spectrum", Killed)
    with pytest.raises(RuntimeError, match="killed"):
        train(config, synthetic_store, restart=True, stages=("pretrain_spectrum",), progress=False)
    assert seen == [(f".{config.name}.restart", True)], "the new run trains beside the intact old one"
    assert old.read_bytes() == old_bytes, "a failed --restart changed the old run"
    monkeypatch.undo()
    new = train(config, synthetic_store, restart=True, stages=("pretrain_spectrum",), progress=False)
    assert new.checkpoint == final / "model.pt"
    assert load_checkpoint(new.checkpoint)[1]["stages_done"] == ["pretrain_spectrum"]
    assert sorted(p.name for p in final.parent.iterdir()) == [f".{config.name}.lock", config.name]
    # A kill between the swap's two renames: the next train puts the previous run back.
    final.rename(final.with_name(f".{config.name}.old"))
    train(config, synthetic_store, resume=True, stages=(), progress=False)
    assert load_checkpoint(final / "model.pt")[1]["stages_done"] == ["pretrain_spectrum"]
