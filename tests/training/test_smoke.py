"""A CPU smoke run of every stage, resumption, embedding, and label independence of embeddings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from data.schema import PROPERTY_NAMES
from data.storage import SurveyStore
from desa_core.checkpoint import load_checkpoint
from training.config import STAGES, load_config
from training.embed import embed_survey
from training.run import GridMismatchError, RunExistsError, run_dir, train
from training.tensors import load_survey_tensors


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


def _other_labels(store: SurveyStore, rows: np.ndarray) -> None:
    """Give the stars ``rows`` other labels; the observations stay as they are.

    Numbers are moved (mean and spread change), the rest permuted among them.
    """
    truth = store.read_truth()
    new = truth.copy()
    order = np.random.default_rng(1).permutation(rows)
    for name in truth.columns.drop("row"):
        values = truth.loc[order, name].to_numpy()
        if pd.api.types.is_float_dtype(truth[name]):
            values = 1.3 * values + 1.0
        new.loc[rows, name] = values
    assert not new["teff_k"].equals(truth["teff_k"])
    store.write_truth(new)


def test_no_label_is_a_model_input(make_store, tmp_path: Path) -> None:
    """The tensors the encoders see are the observations, whatever the labels say."""
    names = PROPERTY_NAMES
    a, b = make_store(tmp_path / "a"), make_store(tmp_path / "b")
    _other_labels(b, np.arange(len(b.read_truth())))
    ta, tb = load_survey_tensors(a, names), load_survey_tensors(b, names)
    assert not torch.equal(ta.labels.nan_to_num(), tb.labels.nan_to_num()), "the labels differ"
    for name in ("lc", "lc_mask", "spec", "spec_mask"):
        assert torch.equal(getattr(ta, name), getattr(tb, name)), f"{name} depends on the labels"


@pytest.mark.slow
def test_test_split_labels_never_reach_the_model_or_the_embedding(make_store, tmp_path: Path) -> None:
    """Test labels change nothing: the same weights and embedding when the test stars get other labels.

    Training labels supervise (pretraining NLLs, heads), validation labels pick epochs and
    calibrate.
    """
    config = load_config("tiny")
    a, b = make_store(tmp_path / "a"), make_store(tmp_path / "b")
    split = b.read_catalog(columns=["row", "split"])["split"].astype(str).to_numpy()
    _other_labels(b, np.flatnonzero(split == "test"))
    threads = torch.get_num_threads()
    for store in (a, b):
        embed_survey(store, train(config, store, progress=False).checkpoint, progress=False)
        # UMAP's numba start-up sets the OpenMP thread count torch shares, which changes float
        # summation order: the second survey must run as the first did.
        torch.set_num_threads(threads)
    model_a, model_b = (load_checkpoint(run_dir(s, config) / "model.pt")[0] for s in (a, b))
    for key, value in model_a.state_dict().items():
        torch.testing.assert_close(value, model_b.state_dict()[key], rtol=0, atol=0, msg=key)
    np.testing.assert_array_equal(
        a.read_array("embedding"), b.read_array("embedding"), err_msg="the embedding depends on labels"
    )
    catalog = a.read_catalog()
    for column in ("umap_x", "umap_y", "pred_teff_k", "pred_teff_k_lo", "binary_prob"):
        assert catalog[column].notna().all(), column
    assert a.read_manifest()["embed"]["layout"]["mode"] == "fit_all"


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
