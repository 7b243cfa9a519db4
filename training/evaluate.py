"""Evaluate the embedding on the test split with the paper's tasks; write report.md and report.json.

Tasks (DESA, arXiv 2507.10666, with the protocol fixes of SCIENCE.md section 2):
few-shot linear probes for the CMD (BP-RP, M_G) and HR (Teff, log L) trained on 10 % of the
training-split labels and scored on the test split, mean and std over 5 seeds; binary detection
AUC and AP; age RMSE in Gyr; Prot error; synchronized binaries versus young stars as kNN purity
and silhouette in the embedding and in the UMAP. Probes read the embedding, never UMAP
coordinates. Baselines trained in the same run are added by later work.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.linear_model import LinearRegression
from sklearn.metrics import average_precision_score, r2_score, roc_auc_score, silhouette_score
from sklearn.neighbors import NearestNeighbors
from sklearn.preprocessing import StandardScaler

from data.storage import SurveyStore, atomic_write_text

PROBES = {"cmd": ("bp_rp_mag", "abs_g_mag"), "hr": ("teff_k", "logl")}


@dataclass
class Report:
    """The evaluation figures, their markdown rendering and the folder they were written to."""

    figures: dict
    markdown: str
    folder: Path


def few_shot_r2(
    x: np.ndarray,
    y: np.ndarray,
    train: np.ndarray,
    test: np.ndarray,
    *,
    fraction: float,
    seeds: int,
) -> tuple[float, float]:
    """Mean and std over seeds of the test R² of a linear probe fit on a fraction of train rows."""
    scores = []
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        pick = rng.choice(train, size=max(10, int(fraction * len(train))), replace=False)
        scaler = StandardScaler().fit(x[pick])
        probe = LinearRegression().fit(scaler.transform(x[pick]), y[pick])
        scores.append(r2_score(y[test], probe.predict(scaler.transform(x[test]))))
    return float(np.mean(scores)), float(np.std(scores))


def knn_purity(x: np.ndarray, labels: np.ndarray, *, k: int = 10) -> float:
    """Mean fraction of each star's k nearest neighbours that share its label."""
    k = min(k, len(x) - 1)
    _, idx = NearestNeighbors(n_neighbors=k + 1).fit(x).kneighbors(x)
    return float((labels[idx[:, 1:]] == labels[:, None]).mean())


def evaluate_survey(store: SurveyStore, *, seed: int = 0, fraction: float = 0.1, seeds: int = 5) -> Report:
    """Compute every figure on the store's test split and write the report files."""
    catalog = store.read_catalog()
    truth = store.read_truth()
    if truth is None:
        raise ValueError(f"{store.truth_path}: evaluation needs labels (a truth or label table)")
    df = catalog.merge(truth.add_prefix("true_").rename(columns={"true_row": "row"}), on="row")
    emb = np.asarray(store.read_array("embedding", mmap=False), dtype=np.float64)
    split = df["split"].astype(str).to_numpy()
    train, test = np.flatnonzero(split == "train"), np.flatnonzero(split == "test")
    figures: dict = {
        "n_train": len(train),
        "n_test": len(test),
        "fraction": fraction,
        "seeds": seeds,
    }

    for task, (a, b) in PROBES.items():
        cols = [a if a in df else f"true_{a}", b if b in df else f"true_{b}"]
        y = df[cols].to_numpy(dtype=np.float64)
        ok = np.isfinite(y).all(axis=1)
        mean, std = few_shot_r2(emb, y, train[ok[train]], test[ok[test]], fraction=fraction, seeds=seeds)
        figures[f"few_shot_r2_{task}"] = {"mean": mean, "std": std, "targets": cols}

    t = df.iloc[test]
    is_bin = t["true_is_binary"].astype(bool).to_numpy()
    figures["binary_auc"] = (
        float(roc_auc_score(is_bin, t["binary_prob"])) if is_bin.any() and (~is_bin).any() else None
    )
    figures["binary_ap"] = float(average_precision_score(is_bin, t["binary_prob"])) if is_bin.any() else None
    age_ok = np.isfinite(t["true_age_gyr"]) & np.isfinite(t["pred_age_gyr"])
    figures["age_rmse_gyr"] = float(
        np.sqrt(np.mean((t["pred_age_gyr"][age_ok] - t["true_age_gyr"][age_ok]) ** 2))
    )
    p_ok = np.isfinite(t["true_prot_d"]) & (t["true_prot_d"] > 0)
    rel = np.abs(t["pred_prot_d"][p_ok] / t["true_prot_d"][p_ok] - 1)
    figures["prot_median_rel_error"] = float(np.median(rel)) if len(rel) else None

    pair = t["true_population"].astype(str).isin(["sync_binary", "young"]).to_numpy()
    if pair.sum() > 10:
        labels = t["true_population"].astype(str).to_numpy()[pair]
        x_emb = StandardScaler().fit_transform(emb[test][pair])
        x_umap = t[["umap_x", "umap_y"]].to_numpy(dtype=np.float64)[pair]
        figures["sync_vs_young"] = {
            "n": int(pair.sum()),
            "knn_purity_embedding": knn_purity(x_emb, labels),
            "knn_purity_umap": knn_purity(x_umap, labels),
            "silhouette_embedding": float(silhouette_score(x_emb, labels)),
            "silhouette_umap": float(silhouette_score(x_umap, labels)),
        }
    folder = store.reports_dir / time.strftime("%Y%m%d-%H%M%S")
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(folder / "report.json", json.dumps(figures, indent=2))
    markdown = render_markdown(figures)
    atomic_write_text(folder / "report.md", markdown)
    return Report(figures, markdown, folder)


def render_markdown(f: dict) -> str:
    """A short table of the figures, as measured."""

    def fmt(v: float | None) -> str:
        return "n/a" if v is None else f"{v:.3f}"

    rows = [
        (
            "few-shot R² CMD (BP-RP, M_G)",
            f"{fmt(f['few_shot_r2_cmd']['mean'])} ± {fmt(f['few_shot_r2_cmd']['std'])}",
        ),
        (
            "few-shot R² HR (Teff, log L)",
            f"{fmt(f['few_shot_r2_hr']['mean'])} ± {fmt(f['few_shot_r2_hr']['std'])}",
        ),
        ("binary AUC", fmt(f["binary_auc"])),
        ("binary AP", fmt(f["binary_ap"])),
        ("age RMSE (Gyr)", fmt(f["age_rmse_gyr"])),
        ("Prot median relative error", fmt(f["prot_median_rel_error"])),
    ]
    if "sync_vs_young" in f:
        s = f["sync_vs_young"]
        rows += [
            ("sync vs young kNN purity (embedding)", fmt(s["knn_purity_embedding"])),
            ("sync vs young kNN purity (UMAP)", fmt(s["knn_purity_umap"])),
            ("sync vs young silhouette (embedding)", fmt(s["silhouette_embedding"])),
        ]
    lines = [
        f"# DESA evaluation ({f['n_test']} test stars, probes on {int(f['fraction'] * 100)} % of "
        f"{f['n_train']} training labels, {f['seeds']} seeds)",
        "",
        "| task | value |",
        "|---|---|",
    ]
    lines += [f"| {name} | {value} |" for name, value in rows]
    return "\n".join(lines) + "\n"
