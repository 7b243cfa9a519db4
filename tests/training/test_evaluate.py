"""Baselines and the evaluation's scoring functions on small synthetic inputs."""

from __future__ import annotations

import numpy as np
import pandas as pd

from training.baselines import ClipConfig, baseline_embeddings, train_clip
from training.evaluate import embedding_scores, interval_coverage, probe_targets, render_markdown


def _paired(n: int = 300, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, 4))  # the star's physical state, seen by both modalities
    lc = z @ rng.normal(size=(4, 12)) + 0.05 * rng.normal(size=(n, 12))
    spec = z @ rng.normal(size=(4, 16)) + 0.05 * rng.normal(size=(n, 16))
    return z, lc, spec


def _method_scores() -> tuple[dict, dict]:
    """A few-shot R² entry and one method's scores, as render_markdown reads them."""
    r2 = {"mean": 0.5, "std": 0.1}
    return r2, {
        "dim": 4,
        "few_shot_r2_cmd": r2,
        "few_shot_r2_hr": r2,
        "binary_auc_probe": 0.7,
        "binary_ap_probe": 0.4,
    }


def test_clip_baseline_learns_to_retrieve_the_partner_modality() -> None:
    _, lc, spec = _paired()
    train, val = np.arange(0, 240), np.arange(240, 300)
    vectors, info = train_clip(lc, spec, train, val, ClipConfig(dim=8, epochs=15, batch_size=64))
    assert vectors.shape == (300, 16)
    assert info["val_retrieval"] > 5 / len(val)  # chance is 1/60
    assert info["val_infonce"][-1] < info["val_infonce"][0]


def test_four_baselines_have_the_expected_widths() -> None:
    _, lc, spec = _paired(120)
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
    z, _, _ = _paired(400)
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
    z, _, _ = _paired(400)
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
    figures = {"n_test": 100, "n_train": 300, "fraction": 0.3, "seeds": 3, "few_shot_r2_cmd": cmd}
    figures |= {"few_shot_r2_hr": cmd, "binary_auc": None, "binary_ap": None}
    figures |= {"age_rmse_gyr": None, "prot_median_rel_error": None}
    assert "CMD (BP-RP, M_G; dereddened (intrinsic, truth))" in render_markdown(figures)


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
    r2, method = _method_scores()
    text = render_markdown(
        {
            "n_test": 4,
            "n_train": 10,
            "fraction": 0.1,
            "seeds": 5,
            "few_shot_r2_cmd": r2,
            "few_shot_r2_hr": r2,
            "binary_auc": 0.8,
            "binary_ap": None,
            "age_rmse_gyr": 1.0,
            "prot_median_rel_error": 0.2,
            "methods": {"desa": method, "clip": method},
            "interval_coverage": {"teff_k": 0.75},
        }
    )
    assert "CLIP-style contrastive alignment" in text and "| coverage | 0.75 |" in text and "n/a" in text


def test_periods_longer_than_half_the_light_curve_are_not_labels() -> None:
    """A Prot the light curve cannot show (< 2 cycles) is flagged (NaN), never trained on."""
    from training.tensors import measurable_prot

    catalog = pd.DataFrame({"lc_used_d": [90.0, 90.0, 90.0, 90.0, 30.0, np.nan]})
    prot = np.array([10.0, 45.0, 46.0, 200.0, 16.0, 50.0])
    out = measurable_prot(prot, catalog)
    np.testing.assert_array_equal(np.isfinite(out), [True, True, False, False, False, False])
    assert out[0] == 10.0


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
    r2, method = _method_scores()
    text = render_markdown(
        {
            "n_test": 200,
            "n_train": 300,
            "fraction": 0.1,
            "seeds": 5,
            "few_shot_r2_cmd": r2,
            "few_shot_r2_hr": r2,
            "binary_label": "is_detectable_binary",
            "binary_auc": 1.0,
            "binary_ap": 1.0,
            "age_rmse_gyr": 1.0,
            "prot_median_rel_error": 0.2,
            "methods": {"desa": {**method, "detectable_auc_probe": 0.9}, "clip": method},
            "binary_detection": b,
        }
    )
    assert "## Binary detection (test split)" in text
    assert "binary AUC (fine-tuned head, `is_detectable_binary`)" in text
    assert "`is_binary` AUC by G-band flux ratio" in text and "`is_binary` AUC by orbital period" in text
    oracle = f"**{b['is_detectable_binary']['oracle_auc']:.3f}**"
    assert oracle in text, "the ORACLE ceiling sits next to the detectable figure"
    assert "| > 1000 d |" in text and "| 0.900 |" in text


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
