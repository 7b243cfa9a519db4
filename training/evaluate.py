"""Evaluate DESA on the test split against four baselines; write report.md, report.json, figures.

Tasks (DESA, arXiv 2507.10666, with the protocol fixes of SCIENCE.md section 2):

* few-shot linear probes for the CMD (BP-RP, M_G) and the HR diagram (Teff, log L), fitted on
  10 % of the training-split labels and scored on the test split, mean and std over 5 seeds;
* binary detection AUC and AP: DESA's fine-tuned binary head, and for every embedding (DESA's
  and each baseline's) a logistic-regression probe fitted on all training-split labels;
* age RMSE in Gyr and the median relative Prot error of DESA's heads, with the coverage of their
  calibrated 68 % intervals;
* synchronized binaries versus young stars: kNN purity and silhouette in each embedding, and in
  DESA's UMAP.

Probes read embeddings, never UMAP coordinates. Baselines (``training.baselines``) are built from
this run's own encoders, on the same stars and splits, in the same call.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.metrics import average_precision_score, r2_score, roc_auc_score, silhouette_score
from sklearn.neighbors import NearestNeighbors
from sklearn.preprocessing import StandardScaler
from tqdm.auto import tqdm

from data.storage import SurveyStore, atomic_write_text
from desa_core.checkpoint import load_checkpoint
from training.baselines import ClipConfig, baseline_embeddings

log = logging.getLogger(__name__)

PROBES = {"cmd": ("bp_rp_mag", "abs_g_mag"), "hr": ("teff_k", "logl")}
PAIR = ("sync_binary", "young")
#: The paper's figures on real data (SCIENCE.md section 1.9; inflated there by label leakage).
PAPER = {"few_shot_r2": 0.92, "binary_auc": 0.99, "binary_ap": 1.00, "age_rmse_gyr": 0.94}
#: Nominal coverage of the heads' intervals (median +- 1 sigma).
NOMINAL_COVERAGE = 0.6827


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


def binary_probe(x: np.ndarray, is_binary: np.ndarray, train: np.ndarray, test: np.ndarray) -> np.ndarray:
    """P(binary) on ``test`` from a logistic probe fitted on every labelled training star."""
    scaler = StandardScaler().fit(x[train])
    probe = LogisticRegression(max_iter=2000, C=1.0).fit(scaler.transform(x[train]), is_binary[train])
    return probe.predict_proba(scaler.transform(x[test]))[:, 1]


def _auc_ap(labels: np.ndarray, scores: np.ndarray) -> tuple[float | None, float | None]:
    if not (labels.any() and (~labels).any()):
        return None, None
    return float(roc_auc_score(labels, scores)), float(average_precision_score(labels, scores))


def embedding_scores(
    x: np.ndarray,
    df: pd.DataFrame,
    train: np.ndarray,
    test: np.ndarray,
    *,
    fraction: float,
    seeds: int,
) -> dict:
    """The embedding-level tasks for one set of vectors (DESA's or a baseline's)."""
    x = np.asarray(x, dtype=np.float64)
    out: dict = {"dim": int(x.shape[1])}
    for task, (a, b) in PROBES.items():
        cols = [a if a in df else f"true_{a}", b if b in df else f"true_{b}"]
        y = df[cols].to_numpy(dtype=np.float64)
        ok = np.isfinite(y).all(axis=1)
        mean, std = few_shot_r2(x, y, train[ok[train]], test[ok[test]], fraction=fraction, seeds=seeds)
        out[f"few_shot_r2_{task}"] = {"mean": mean, "std": std, "targets": cols}
    is_bin = df["true_is_binary"].astype(bool).to_numpy()
    out["binary_auc_probe"], out["binary_ap_probe"] = _auc_ap(
        is_bin[test], binary_probe(x, is_bin, train, test)
    )
    pop = df["true_population"].astype(str).to_numpy()
    pair = test[np.isin(pop[test], PAIR)]
    if len(pair) > 10 and len(set(pop[pair])) == 2:
        z = StandardScaler().fit_transform(x[pair])
        out["sync_vs_young"] = {
            "n": len(pair),
            "knn_purity": knn_purity(z, pop[pair]),
            "silhouette": float(silhouette_score(z, pop[pair])),
        }
    return out


@torch.no_grad()
def pooled_vectors(store: SurveyStore, checkpoint: Path, *, batch: int = 256, progress: bool = True):
    """The run's frozen encoder outputs for every star: light curve (N, El), spectrum (N, Es)."""
    model, _ = load_checkpoint(checkpoint, grids=store.read_manifest().get("grids"))
    arrays = [store.read_array(n) for n in ("lc_channels", "lc_mask", "spec_flux", "spec_mask")]
    lcs, specs = [], []
    n = len(arrays[0])
    for start in tqdm(range(0, n, batch), desc="baseline inputs", unit="batch", disable=not progress):
        lc, lm, sp, sm = (torch.from_numpy(np.array(a[start : start + batch])) for a in arrays)
        lc_p, sp_p = model.encode(lc.float(), lm.bool(), sp.float(), sm.bool())
        lcs.append(lc_p.numpy())
        specs.append(sp_p.numpy())
    return np.concatenate(lcs), np.concatenate(specs)


def _aligned_embedding(checkpoint: Path, lc: np.ndarray, spec: np.ndarray) -> np.ndarray | None:
    """DESA's embedding from the checkpoint saved after alignment (before fine-tuning), if kept."""
    aligned = Path(checkpoint).with_name("aligned.pt")
    if not aligned.is_file():
        return None
    model, _ = load_checkpoint(aligned)
    with torch.no_grad():
        out = model.fuse(torch.as_tensor(lc), torch.as_tensor(spec))
    return out.embedding.numpy()


def _clip_budget(checkpoint: Path, dim: int) -> ClipConfig:
    _, metadata = load_checkpoint(checkpoint)
    align = metadata.get("train_config", {}).get("align", {})
    return ClipConfig(
        dim=dim,
        epochs=int(align.get("epochs", 25)),
        batch_size=int(align.get("batch_size", 128)),
        lr=float(align.get("lr", 1e-3)),
        seed=int(metadata.get("train_config", {}).get("seed", 0)),
    )


def evaluate_survey(
    store: SurveyStore,
    *,
    checkpoint: Path | None = None,
    seed: int = 0,
    fraction: float = 0.1,
    seeds: int = 5,
    baselines: bool = True,
    figures: bool = True,
    progress: bool = True,
) -> Report:
    """Compute every figure on the store's test split and write the report files.

    ``checkpoint`` (the model that embedded the catalogue) is needed for the baselines, which are
    built from its encoders; without it only DESA's own figures are computed.
    """
    catalog = store.read_catalog()
    truth = store.read_truth()
    if truth is None:
        raise ValueError(f"{store.truth_path}: evaluation needs labels (a truth or label table)")
    if "binary_prob" not in catalog:
        raise ValueError(f"{store.catalog_path}: no predictions in the catalogue; run `desa embed` first")
    df = catalog.merge(truth.add_prefix("true_").rename(columns={"true_row": "row"}), on="row")
    emb = np.asarray(store.read_array("embedding", mmap=False), dtype=np.float64)
    split = df["split"].astype(str).to_numpy()
    train, val, test = (np.flatnonzero(split == s) for s in ("train", "val", "test"))
    result: dict = {
        "n_train": len(train),
        "n_test": len(test),
        "fraction": fraction,
        "seeds": seeds,
        "checkpoint": str(checkpoint) if checkpoint else None,
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "paper": PAPER,
    }
    desa = embedding_scores(emb, df, train, test, fraction=fraction, seeds=seeds)
    result["few_shot_r2_cmd"], result["few_shot_r2_hr"] = desa["few_shot_r2_cmd"], desa["few_shot_r2_hr"]
    t = df.iloc[test]
    is_bin = t["true_is_binary"].astype(bool).to_numpy()
    result["binary_auc"], result["binary_ap"] = _auc_ap(is_bin, t["binary_prob"].to_numpy())
    age_ok = np.isfinite(t["true_age_gyr"]) & np.isfinite(t["pred_age_gyr"])
    result["age_rmse_gyr"] = float(
        np.sqrt(np.mean((t["pred_age_gyr"][age_ok] - t["true_age_gyr"][age_ok]) ** 2))
    )
    p_ok = np.isfinite(t["true_prot_d"]) & (t["true_prot_d"] > 0)
    rel = np.abs(t["pred_prot_d"][p_ok] / t["true_prot_d"][p_ok] - 1)
    result["prot_median_rel_error"] = float(np.median(rel)) if len(rel) else None
    result["interval_coverage"] = interval_coverage(t)
    if "sync_vs_young" in desa:
        pop = t["true_population"].astype(str).to_numpy()
        pair = np.isin(pop, PAIR)
        x_umap = t[["umap_x", "umap_y"]].to_numpy(dtype=np.float64)[pair]
        result["sync_vs_young"] = {
            "n": desa["sync_vs_young"]["n"],
            "knn_purity_embedding": desa["sync_vs_young"]["knn_purity"],
            "silhouette_embedding": desa["sync_vs_young"]["silhouette"],
            "knn_purity_umap": knn_purity(x_umap, pop[pair]),
            "silhouette_umap": float(silhouette_score(x_umap, pop[pair])),
        }
    methods = {"desa": desa}
    if baselines and checkpoint is not None:
        lc, spec = pooled_vectors(store, checkpoint, progress=progress)
        aligned = _aligned_embedding(checkpoint, lc, spec)
        if aligned is not None:
            methods["desa_aligned"] = embedding_scores(
                aligned, df, train, test, fraction=fraction, seeds=seeds
            )
        vectors, clip_info = baseline_embeddings(lc, spec, train, val, _clip_budget(checkpoint, emb.shape[1]))
        result["clip_training"] = clip_info
        for name, x in vectors.items():
            log.info("scoring baseline %s", name)
            methods[name] = embedding_scores(x, df, train, test, fraction=fraction, seeds=seeds)
    result["methods"] = methods
    folder = store.reports_dir / time.strftime("%Y%m%d-%H%M%S")
    folder.mkdir(parents=True, exist_ok=True)
    if figures:
        from training.figures import write_figures

        result["figures"] = write_figures(folder, df, test)
    atomic_write_text(folder / "report.json", json.dumps(result, indent=2))
    markdown = render_markdown(result)
    atomic_write_text(folder / "report.md", markdown)
    return Report(result, markdown, folder)


def interval_coverage(t: pd.DataFrame) -> dict[str, float]:
    """Fraction of test stars whose true value lies inside the predicted 68 % interval."""
    out = {}
    for col in t.columns:
        if not (col.startswith("pred_") and col.endswith("_lo")):
            continue
        stem = col.removeprefix("pred_").removesuffix("_lo")
        truth = t.get(f"true_{stem}", t.get(stem))
        if truth is None:
            continue
        y = truth.to_numpy(dtype=np.float64)
        lo, hi = t[col].to_numpy(dtype=np.float64), t[f"pred_{stem}_hi"].to_numpy(dtype=np.float64)
        ok = np.isfinite(y) & np.isfinite(lo) & np.isfinite(hi)
        if ok.sum():
            out[stem] = float(((y[ok] >= lo[ok]) & (y[ok] <= hi[ok])).mean())
    return out


METHOD_LABELS = {
    "desa": "**DESA** (fine-tuned)",
    "desa_aligned": "DESA, aligned only (before fine-tuning)",
    "lightcurve_only": "light-curve encoder only",
    "spectrum_only": "spectrum encoder only",
    "concat": "concatenated encoders",
    "clip": "CLIP-style contrastive alignment",
}


def _fmt(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.3f}"


def render_markdown(f: dict) -> str:
    """The figures as measured: DESA's tasks, the comparison with baselines, coverage."""
    r2 = lambda key: f"{_fmt(f[key]['mean'])} ± {_fmt(f[key]['std'])}"  # noqa: E731
    rows = [
        ("few-shot R² CMD (BP-RP, M_G)", r2("few_shot_r2_cmd"), "0.92 (photometric regression)"),
        ("few-shot R² HR (Teff, log L)", r2("few_shot_r2_hr"), "0.92"),
        ("binary AUC (fine-tuned head)", _fmt(f["binary_auc"]), "0.99"),
        ("binary AP (fine-tuned head)", _fmt(f["binary_ap"]), "1.00"),
        ("age RMSE (Gyr)", _fmt(f["age_rmse_gyr"]), "0.94"),
        ("Prot median relative error", _fmt(f["prot_median_rel_error"]), "–"),
    ]
    if "sync_vs_young" in f:
        s = f["sync_vs_young"]
        rows += [
            ("sync vs young kNN purity (embedding)", _fmt(s["knn_purity_embedding"]), "separated (UMAP)"),
            ("sync vs young kNN purity (UMAP)", _fmt(s["knn_purity_umap"]), "–"),
            ("sync vs young silhouette (embedding)", _fmt(s["silhouette_embedding"]), "–"),
        ]
    lines = [
        f"# DESA evaluation ({f['n_test']} test stars; probes on {int(f['fraction'] * 100)} % of "
        f"{f['n_train']} training labels, {f['seeds']} seeds)",
        "",
        "Simulated survey; the paper's figures are on real data with label leakage (SCIENCE.md §2) "
        "and are not directly comparable.",
        "",
        "| task | DESA (this run) | paper |",
        "|---|---|---|",
    ]
    lines += [f"| {name} | {value} | {paper} |" for name, value, paper in rows]
    methods = f.get("methods", {})
    if len(methods) > 1:
        lines += [
            "",
            "## DESA against baselines (same encoders, stars, splits and probes)",
            "",
            "| method | dim | R² CMD | R² HR | binary AUC (probe) | binary AP (probe) "
            "| sync/young kNN purity |",
            "|---|---|---|---|---|---|---|",
        ]
        for name, m in methods.items():
            purity = m.get("sync_vs_young", {}).get("knn_purity")
            lines.append(
                f"| {METHOD_LABELS.get(name, name)} | {m['dim']} | {_fmt(m['few_shot_r2_cmd']['mean'])} | "
                f"{_fmt(m['few_shot_r2_hr']['mean'])} | {_fmt(m['binary_auc_probe'])} | "
                f"{_fmt(m['binary_ap_probe'])} | {_fmt(purity)} |"
            )
    coverage = f.get("interval_coverage", {})
    if coverage:
        lines += [
            "",
            f"## Interval coverage (nominal {NOMINAL_COVERAGE:.2f})",
            "",
            "| property | " + " | ".join(coverage) + " |",
            "|---|" + "---|" * len(coverage),
            "| coverage | " + " | ".join(f"{v:.2f}" for v in coverage.values()) + " |",
        ]
    if f.get("figures"):
        lines += ["", "## Figures", ""] + [f"- `{name}`" for name in f["figures"]]
    return "\n".join(lines) + "\n"
