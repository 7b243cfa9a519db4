"""The frozen probes and their ORACLE ceilings on a drawn population (no training, no files)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.probes import frozen_scores, knn_purity, oracle_scores, umap_purity

N = 600


@pytest.fixture(scope="module")
def population() -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """A drawn population as the evaluation's merged frame, with train and test rows."""
    from data.simulate.population import SurveyConfig, draw_population

    truth = draw_population(SurveyConfig(n_stars=N, seed=23, workers=1), np.random.default_rng(23))
    rows = np.random.default_rng(0).permutation(N)
    return truth.add_prefix("true_"), np.sort(rows[:400]), np.sort(rows[400:])


def _embeddings(df: pd.DataFrame) -> dict[str, np.ndarray]:
    """An embedding that holds the physics (with noise) and one that holds nothing."""
    from data.schema import truth_columns
    from data.simulate.binarity import observable_features

    truth = truth_columns(df)
    features = np.nan_to_num(observable_features(truth, np.random.default_rng(1)).to_numpy(float), nan=60.0)
    cols = ["bp_rp_intrinsic_mag", "abs_g_intrinsic_mag", "logl", "is_detectable_binary", "is_binary"]
    good = np.column_stack([features, truth[cols].to_numpy(float), np.log10(truth[["age_gyr", "prot_d"]])])
    return {"good": good, "noise": np.random.default_rng(2).normal(size=good.shape)}


def test_every_frozen_probe_is_a_mean_and_std_over_the_seeds(population) -> None:
    df, train, test = population
    scores = {
        name: frozen_scores(x, df, train, test, fraction=0.3, seeds=3, umap=False)
        for name, x in _embeddings(df).items()
    }
    good, noise = scores["good"], scores["noise"]
    keys = ("few_shot_r2_cmd", "few_shot_r2_hr", "is_detectable_binary_auc", "is_detectable_binary_ap")
    keys += ("is_binary_auc", "is_binary_ap", "age_rmse_gyr", "prot_median_rel_error")
    for key in keys:
        assert len(good[key]["values"]) == 3 and good[key]["std"] >= 0, key
        assert good[key]["mean"] == pytest.approx(np.mean(good[key]["values"]))
    assert len(set(good["few_shot_r2_hr"]["values"])) == 3, (
        "each seed draws its own 30 % of the training stars"
    )
    assert len(set(noise["is_binary_auc"]["values"])) == 3, "each seed draws its own bootstrap resample"
    assert len(set(noise["sync_vs_young"]["knn_purity"]["values"])) > 1, "each seed draws its own 80 %"
    assert good["few_shot_r2_cmd"]["mean"] > 0.95 > 0.2 > noise["few_shot_r2_cmd"]["mean"]
    assert good["is_detectable_binary_auc"]["mean"] > 0.95 and noise["is_detectable_binary_auc"]["mean"] < 0.7
    assert good["age_rmse_gyr"]["mean"] < 0.5 * noise["age_rmse_gyr"]["mean"]
    assert good["prot_median_rel_error"]["mean"] < 0.1 < noise["prot_median_rel_error"]["mean"]
    pair = good["sync_vs_young"]
    assert pair["n"] == int(df["true_population"].iloc[test].isin(["sync_binary", "young"]).sum())
    assert len(pair["knn_purity"]["values"]) == 3 and "knn_purity_umap" not in pair
    assert pair["knn_purity"]["mean"] > noise["sync_vs_young"]["knn_purity"]["mean"]


def test_oracle_ceilings_sit_above_an_embedding_of_noise(population) -> None:
    df, train, test = population
    oracle = oracle_scores(df, train, test, fraction=0.3, seeds=3)
    noise = frozen_scores(_embeddings(df)["noise"], df, train, test, fraction=0.3, seeds=3, umap=False)
    assert oracle["few_shot_r2_hr"]["mean"] > 0.8 and len(oracle["few_shot_r2_hr"]["values"]) == 3
    assert oracle["few_shot_r2_cmd"]["targets"] == ["true_bp_rp_intrinsic_mag", "true_abs_g_intrinsic_mag"]
    assert oracle["few_shot_r2_cmd"]["mean"] > 0.8
    age = oracle["age_rmse_gyr"]
    assert len(age["values"]) == 3 and age["mean"] < 0.8 * noise["age_rmse_gyr"]["mean"], (age, noise)
    purity = oracle["sync_vs_young_knn_purity"]["mean"]
    assert purity > 0.7 and purity > noise["sync_vs_young"]["knn_purity"]["mean"] + 0.15
    in_umap = oracle["sync_vs_young_knn_purity_umap"]
    assert len(in_umap["values"]) == 3 and in_umap["mean"] > 0.6, in_umap
    assert oracle_scores(df.drop(columns="true_li_ew_ma"), train, test, fraction=0.3, seeds=1) == {}


def test_knn_purity_separates_clusters_from_noise() -> None:
    rng = np.random.default_rng(0)
    labels = np.repeat(["a", "b"], 50)
    clusters = rng.normal(size=(100, 3)) + 10 * (labels == "a")[:, None]
    assert knn_purity(clusters, labels) == 1.0
    assert knn_purity(rng.normal(size=(100, 3)), labels) < 0.7


@pytest.mark.slow
def test_umap_purity_is_measured_in_a_layout_of_the_test_stars() -> None:
    rng = np.random.default_rng(0)
    n = 300
    pop = np.where(np.arange(n) < 60, "young", np.where(np.arange(n) < 120, "sync_binary", "single"))
    df = pd.DataFrame({"true_population": pop})
    separated = rng.normal(size=(n, 8)) + 6 * (pop == "young")[:, None]
    test, pair = np.arange(n), np.arange(120)
    assert umap_purity(separated, df, test, pair, seed=0) > 0.95
    assert umap_purity(rng.normal(size=(n, 8)), df, test, pair, seed=0) < 0.75
