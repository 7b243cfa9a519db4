"""Baselines and the evaluation's scoring functions on small synthetic inputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from tests.training.conftest import paired_views
from training.baselines import ClipConfig, baseline_embeddings, train_clip
from training.evaluate import embedding_scores, interval_coverage, probe_targets, render_markdown


def _figures(**extra) -> dict:
    """A report.json as render_markdown reads it: one frozen method, DESA and one fine-tuned baseline."""
    entry = {"mean": 0.5, "std": 0.1, "values": [0.4, 0.6]}
    frozen = {
        "dim": 4,
        "few_shot_r2_cmd": entry | {"convention": "dereddened (intrinsic, truth)"},
        "few_shot_r2_hr": entry,
        "is_binary_auc": entry,
        "is_binary_ap": entry,
        "sync_vs_young": {"n": 40, "knn_purity": entry, "knn_purity_umap": entry},
    }
    tuned = {"r2_cmd": 0.8, "r2_hr": 0.9, "is_binary_auc": 0.7, "is_binary_ap": None, "age_rmse_gyr": 1.0}
    tuned |= {"prot_median_rel_error": 0.2, "interval_coverage": {"teff_k": 0.75}, "steps": 12}
    figures = {
        "n_test": 4,
        "n_train": 10,
        "fraction": 0.1,
        "seeds": 2,
        "frozen": {"desa_aligned": frozen, "clip": frozen},
        "finetuned": {"desa": tuned | {"trainable_params": 100}, "clip": tuned | {"trainable_params": 101}},
    }
    return figures | extra


def _section(text: str, title: str) -> str:
    """The markdown from the heading starting with ``title`` to the next heading of its level."""
    start = text.index(title)
    end = text.find("\n## ", start + 1)
    return text[start : end if end >= 0 else len(text)]


def test_clip_baseline_learns_to_retrieve_the_partner_modality() -> None:
    _, lc, spec = paired_views()
    train, val = np.arange(0, 240), np.arange(240, 300)
    vectors, info = train_clip(lc, spec, train, val, ClipConfig(dim=8, epochs=15, batch_size=64))
    assert vectors.shape == (300, 16)
    assert info["val_retrieval"] > 5 / len(val)  # chance is 1/60
    assert info["val_infonce"][-1] < info["val_infonce"][0]


def test_four_baselines_have_the_expected_widths() -> None:
    _, lc, spec = paired_views(120)
    vectors, _ = baseline_embeddings(lc, spec, np.arange(90), np.arange(90, 120), ClipConfig(dim=4, epochs=2))
    assert {k: v.shape[1] for k, v in vectors.items()} == {
        "lightcurve_only": 12,
        "spectrum_only": 16,
        "concat": 28,
        "clip": 8,
    }


def _frame(z: np.ndarray) -> pd.DataFrame:
    n = len(z)
    young = z[:, 3] > 0
    return pd.DataFrame(
        {
            "bp_rp_mag": z[:, 0],
            "abs_g_mag": 2 * z[:, 1],
            "true_teff_k": 5000 + 500 * z[:, 0],
            "true_logl": z[:, 2],
            "true_is_binary": z[:, 3] < -0.5,
            "true_population": np.where(young, "young", np.where(z[:, 3] < 0, "sync_binary", "single")),
        },
        index=range(n),
    )


def test_an_embedding_holding_the_targets_scores_high_and_noise_scores_low() -> None:
    z, _, _ = paired_views(400)
    df = _frame(z)
    train, test = np.arange(0, 300), np.arange(300, 400)
    good = embedding_scores(z, df, train, test, fraction=0.3, seeds=3)
    noise = embedding_scores(
        np.random.default_rng(1).normal(size=(400, 4)), df, train, test, fraction=0.3, seeds=3
    )
    assert good["few_shot_r2_cmd"]["mean"] > 0.95 and noise["few_shot_r2_cmd"]["mean"] < 0.2
    assert good["binary_auc_probe"] > 0.95 and noise["binary_auc_probe"] < 0.75
    assert good["sync_vs_young"]["knn_purity"] > noise["sync_vs_young"]["knn_purity"]


def test_cmd_probe_targets_the_dereddened_cmd() -> None:
    """Intrinsic truth first, then the GSP-Phot-dereddened catalogue, observed only as a last resort."""
    z, _, _ = paired_views(400)
    df = _frame(z)
    assert probe_targets(df, "cmd") == ("observed", ("bp_rp_mag", "abs_g_mag"))
    dust = np.random.default_rng(2).uniform(0, 2, 400)  # extinction the embedding knows nothing of
    df["bp_rp0_mag"] = np.where(np.arange(400) % 5 == 0, np.nan, df["bp_rp_mag"])
    df["abs_g0_mag"] = df["abs_g_mag"]
    assert probe_targets(df, "cmd") == ("dereddened (Gaia GSP-Phot)", ("bp_rp0_mag", "abs_g0_mag"))
    df = df.assign(
        true_bp_rp_intrinsic_mag=df["bp_rp_mag"],
        true_abs_g_intrinsic_mag=df["abs_g_mag"],
        bp_rp_mag=df["bp_rp_mag"] + 0.5 * dust,
        abs_g_mag=df["abs_g_mag"] + dust,
    )
    train, test = np.arange(0, 300), np.arange(300, 400)
    cmd = embedding_scores(z, df, train, test, fraction=0.3, seeds=3)["few_shot_r2_cmd"]
    assert cmd["targets"] == ["true_bp_rp_intrinsic_mag", "true_abs_g_intrinsic_mag"]
    assert cmd["convention"] == "dereddened (intrinsic, truth)" and cmd["mean"] > 0.95
    assert "CMD = ((BP-RP)0, M_G,0), dereddened (intrinsic, truth)" in render_markdown(_figures())


def test_interval_coverage_and_markdown() -> None:
    t = pd.DataFrame(
        {
            "true_teff_k": [5000.0, 5500.0, 6000.0, 4000.0],
            "pred_teff_k": [5000.0, 5400.0, 6000.0, 4500.0],
            "pred_teff_k_lo": [4900.0, 5300.0, 5900.0, 4400.0],
            "pred_teff_k_hi": [5100.0, 5600.0, 6100.0, 4600.0],
        }
    )
    assert interval_coverage(t) == {"teff_k": 0.75}
    text = render_markdown(_figures())
    assert "CLIP-style contrastive alignment" in text and "| 0.500 ± 0.100 |" in text
    coverage = _section(text, "## (b) Fine-tuned")
    assert "| **DESA** fine-tuned (the run's model) | 0.75 |" in coverage and "| 0.700 | n/a |" in coverage
    assert "| 1.000 | 0.200 | 0.75–0.75 |" in coverage


def test_periods_longer_than_half_the_light_curve_are_not_labels() -> None:
    """A Prot the light curve cannot show (< 2 cycles) is flagged (NaN), never trained on."""
    from training.tensors import measurable

    catalog = pd.DataFrame({"lc_used_d": [90.0, 90.0, 90.0, 90.0, 30.0, np.nan]})
    prot = np.array([10.0, 45.0, 46.0, 200.0, 16.0, 50.0])
    out = measurable("prot_d", prot, catalog)
    np.testing.assert_array_equal(np.isfinite(out), [True, True, False, False, False, False])
    assert out[0] == 10.0
    np.testing.assert_array_equal(measurable("age_gyr", prot, catalog), prot)  # no cycles to show


def test_binary_detection_section_reports_the_detectable_label_bins_and_oracle() -> None:
    from data.simulate.binarity import observable_features
    from data.simulate.population import SurveyConfig, draw_population
    from training.binary_metrics import binary_detection

    truth = draw_population(SurveyConfig(n_stars=500, seed=17, workers=1), np.random.default_rng(17))
    df = truth.add_prefix("true_")
    x = np.nan_to_num(observable_features(truth, np.random.default_rng(3)).to_numpy(float), nan=90.0)
    train, test = np.arange(0, 300), np.arange(300, 500)
    head = df["true_is_detectable_binary"].to_numpy(float)[test]  # a perfect head
    b = binary_detection(x, df, train, test, head=head, seed=1)
    assert b["label"] == "is_detectable_binary"
    assert b["is_detectable_binary"]["head_auc"] == 1.0
    assert b["is_detectable_binary"]["oracle_auc"] > 0.95
    assert b["is_detectable_binary"]["oracle_auc"] > b["is_binary"]["oracle_auc"]
    assert [r["bin"] for r in b["is_binary_by_flux_ratio"]] == ["< 0.1", "0.1–0.3", "0.3–0.6", "> 0.6"]
    assert [r["bin"] for r in b["is_binary_by_period"]] == ["< 10 d", "10–1000 d", "> 1000 d"]
    assert sum(r["n_binaries"] for r in b["is_binary_by_period"]) == b["is_binary"]["n_positive"]
    short = b["is_binary_by_period"][0]
    assert short["oracle"] > 0.95 and short["oracle"] > b["is_binary_by_period"][2]["oracle"]
    figures = _figures(binary_label="is_detectable_binary", binary_detection=b)
    figures["frozen"]["clip"]["is_detectable_binary_auc"] = {"mean": 0.9, "std": 0.0}
    figures["oracle"] = {"few_shot_r2_cmd": {"mean": 0.99, "std": 0.001}}
    text = render_markdown(figures)
    assert "## Binary detection (test split)" in text
    assert "| `is_detectable_binary` AUC | `is_detectable_binary` AP | `is_binary` AUC |" in text
    assert "`is_binary` AUC by G-band flux ratio" in text and "`is_binary` AUC by orbital period" in text
    oracle = f"**{b['is_detectable_binary']['oracle_auc']:.3f}**"
    assert oracle in text, "the ORACLE ceiling sits next to the detectable figure"
    frozen = _section(text, "## (a) Frozen")
    assert f"| **ORACLE** (see below) | – | 0.990 ± 0.001 | n/a | {oracle[2:-2]} |" in frozen
    assert "| > 1000 d |" in text and "| 0.900 ± 0.000 |" in text


def test_each_label_gets_its_own_probe_and_oracle() -> None:
    """Plumbing: a label that is the complement of is_binary must be learnt as such (AUC > 0.5)."""
    from data.simulate.binarity import observable_features
    from data.simulate.population import SurveyConfig, draw_population
    from training.binary_metrics import binary_detection

    truth = draw_population(SurveyConfig(n_stars=300, seed=19, workers=1), np.random.default_rng(19))
    df = truth.add_prefix("true_").assign(true_is_detectable_binary=~truth["is_binary"].to_numpy(bool))
    x = np.nan_to_num(observable_features(truth, np.random.default_rng(4)).to_numpy(float), nan=90.0)
    b = binary_detection(x, df, np.arange(0, 200), np.arange(200, 300), seed=2)
    assert b["is_detectable_binary"]["oracle_auc"] > 0.6 and b["is_detectable_binary"]["probe_auc"] > 0.6
    assert b["is_binary"]["oracle_auc"] > 0.6 and b["is_binary"]["probe_auc"] > 0.6


def test_the_frozen_table_holds_no_fine_tuned_row_and_the_fine_tuned_table_no_frozen_one() -> None:
    text = render_markdown(_figures())
    frozen, tuned = _section(text, "## (a) Frozen"), _section(text, "## (b) Fine-tuned")
    frozen_rows = [line for line in frozen.splitlines() if line.startswith("| ")][1:]
    tuned_rows = [line for line in tuned.splitlines() if line.startswith("| ")]
    assert [r.split(" | ")[0] for r in frozen_rows] == [
        "| **DESA** aligned only (no fine-tuning)",
        "| CLIP-style contrastive alignment",
    ]
    assert not any("fine-tuned" in r for r in frozen_rows)
    assert any(r.startswith("| **DESA** fine-tuned") for r in tuned_rows)
    assert not any("aligned only" in r for r in tuned_rows)


def test_head_scores_read_the_heads_predictions() -> None:
    from training.evaluate import head_scores

    rng = np.random.default_rng(0)
    n = 200
    t = pd.DataFrame(
        {
            "true_teff_k": rng.uniform(4000, 6500, n),
            "true_logl": rng.normal(0, 0.5, n),
            "true_age_gyr": rng.uniform(1, 10, n),
            "true_prot_d": np.r_[rng.uniform(1, 40, n - 10), np.full(10, 80.0)],  # 10 not measurable
            "true_is_binary": np.arange(n) % 4 == 0,
            "true_population": "single",
        }
    )
    for col in ("teff_k", "logl", "age_gyr", "prot_d"):
        t[f"pred_{col}"] = t[f"true_{col}"]
        t[f"pred_{col}_lo"], t[f"pred_{col}_hi"] = t[f"true_{col}"] - 1, t[f"true_{col}"] + 1
    t["pred_prot_d"] *= 1.1
    t["binary_prob"] = t["true_is_binary"].astype(float)
    # Observed colours only: no dereddened label, so the CMD heads were never trained.
    t["bp_rp_mag"] = t["pred_bp_rp_mag"] = 3.5 - t["true_teff_k"] / 2500
    t["abs_g_mag"] = t["pred_abs_g_mag"] = 4.6 + 3 * (t["bp_rp_mag"] - 0.8)
    s = head_scores(t)
    assert s["r2_hr"] == 1.0 and s["r2_cmd"] is None, "no CMD label: the CMD heads learnt nothing"
    assert s["is_binary_auc"] == 1.0 and s["age_rmse_gyr"] == 0.0
    assert s["prot_median_rel_error"] == pytest.approx(0.1) and s["prot_n_unmeasurable"] == 10
    assert s["interval_coverage"]["teff_k"] == 1.0
    t["pred_teff_k"] = rng.permutation(t["pred_teff_k"].to_numpy())
    assert head_scores(t)["r2_hr"] < 0.6


@pytest.mark.slow
def test_evaluate_compares_like_for_like(tmp_path, make_store) -> None:
    """Both tables on a tiny trained survey: who is in which, and every budget in optimiser steps."""
    from training.config import load_config
    from training.embed import embed_survey
    from training.evaluate import checkpoint_embedding, evaluate_survey
    from training.run import train

    store = make_store(tmp_path / "survey", n=120)
    steps = ["align.max_steps=5", "finetune.max_steps=4", "finetune.patience=1000"]
    checkpoint = train(load_config("tiny", steps), store, progress=False).checkpoint
    embed_survey(store, checkpoint, progress=False)
    extra = {"noise": np.random.default_rng(0).normal(size=(120, 8))}
    report = evaluate_survey(store, checkpoint=checkpoint, variants=extra, figures=False, progress=False)
    f = report.figures
    baselines = {"lightcurve_only", "spectrum_only", "concat", "clip"}
    assert set(f["frozen"]) == {"desa_aligned", "noise"} | baselines, "no fine-tuned row among the frozen"
    assert set(f["finetuned"]) == {"desa"} | baselines
    for name, row in f["finetuned"].items():
        assert row["budget_steps"] == f["budgets"]["finetune"]["budget_steps"] == 4, name
        assert row["steps"] == 4, name
    assert f["clip_training"]["steps"] == f["budgets"]["clip"]["steps"] == f["budgets"]["align"]["steps"] == 5
    for stage in ("pretrain_lightcurve", "pretrain_spectrum", "align", "finetune", "clip"):
        assert f["budgets"][stage]["steps"] == f["budgets"][stage]["budget_steps"] > 0, stage
    for row in f["frozen"].values():
        assert len(row["few_shot_r2_cmd"]["values"]) == 3 and len(row["is_binary_auc"]["values"]) == 3
    text = (report.folder / "report.md").read_text()
    assert (
        text == report.markdown
        and "| CLIP baseline | CLIP projections (InfoNCE) | 64 | 0.001 | 5 | 5 |" in text
    )
    assert "| variant: noise | 8 |" in _section(text, "## (a) Frozen")
    # (c): the fine-tuned model with each modality hidden; "both" is DESA's own row of (b).
    missing = f["missing_modality"]
    assert set(missing) == {"both", "lightcurve_only", "spectrum_only"}
    for key in ("r2_hr", "age_rmse_gyr", "prot_median_rel_error"):
        assert missing["both"][key] == pytest.approx(f["finetuned"]["desa"][key], abs=1e-5), key
    for case in ("lightcurve_only", "spectrum_only"):  # hiding a modality changes the predictions
        for key in ("r2_hr", "age_rmse_gyr"):
            assert abs(missing[case][key] - missing["both"][key]) > 1e-7, (case, key)
    section = _section(text, "## (c) One modality missing")
    assert "| light curve only (spectrum missing) |" in section and "| spectrum only" in section
    with pytest.raises(ValueError, match="fine-tuned on labels"):
        checkpoint_embedding(store, checkpoint)
    assert checkpoint_embedding(store, checkpoint.with_name("aligned.pt")).shape == (120, 32)

    # Training seeds: DESA's alignment and CLIP again with seeds 1 and 2, pooled with the run's own.
    more = evaluate_survey(
        store, checkpoint=checkpoint, train_seeds=3, umap=False, figures=False, progress=False
    ).figures
    assert more["train_seeds"] == [0, 1, 2]
    assert more["budgets"]["align_seeds"]["steps"] == more["budgets"]["clip_seeds"]["steps"] == [5, 5]
    for name in ("desa_aligned", "clip"):
        entry, single = more["frozen"][name]["few_shot_r2_cmd"], f["frozen"][name]["few_shot_r2_cmd"]
        assert len(entry["values"]) == 9 and len(entry["train_seed_means"]) == 3, name
        assert entry["train_seed_means"][0] == pytest.approx(single["mean"]), name  # the run's seed first
        assert np.ptp(entry["train_seed_means"]) > 0, f"{name}: another seed trains another model"
        assert entry["mean"] == pytest.approx(np.mean(entry["values"])), name
    assert len(more["frozen"]["concat"]["few_shot_r2_cmd"]["values"]) == 3, "nothing to retrain"
    seed_rows = _section(render_markdown(more), "## (a) Frozen")
    assert "each training seed's mean" in seed_rows
    for seed in (0, 1, 2):
        assert f"| **DESA** aligned only (no fine-tuning) | {seed} |" in seed_rows
        assert f"| CLIP-style contrastive alignment | {seed} |" in seed_rows


@pytest.mark.slow
def test_retraining_the_alignment_with_the_runs_seed_reproduces_aligned_pt(tmp_path, make_store) -> None:
    """The further training seeds change only the seed: the run's seed gives back its aligned.pt."""
    from desa_core.checkpoint import load_checkpoint
    from training.config import load_config
    from training.evaluate import pooled_vectors
    from training.run import train
    from training.seed_spread import retrained_alignments
    from training.tensors import training_splits

    store = make_store(tmp_path / "survey", n=120)
    config = load_config("tiny", ["align.max_steps=6", "finetune.max_steps=2"])
    checkpoint = train(config, store, progress=False).checkpoint
    model, metadata = load_checkpoint(checkpoint)
    lc, spec = pooled_vectors(store, checkpoint, progress=False)
    aligned, _ = load_checkpoint(checkpoint.with_name("aligned.pt"))
    with torch.no_grad():
        expected = aligned.eval().fuse(torch.as_tensor(lc), torch.as_tensor(spec)).embedding.numpy()
    split = training_splits(store.read_catalog())
    again, steps = retrained_alignments(
        model, metadata["train_config"], lc, spec, split, [0, 1], progress=False
    )
    assert steps == [6, 6]
    np.testing.assert_allclose(again[0], expected, atol=1e-5)
    assert np.abs(again[1] - expected).max() > 1e-3
