"""Evaluate DESA on the test split against four baselines; write report.md, report.json, figures.

Tasks (DESA, arXiv 2507.10666, with the protocol fixes of SCIENCE.md section 2):

* few-shot linear probes for the CMD and the HR diagram (Teff, log L), fitted on 10 % of the
  training-split labels and scored on the test split, mean and std over 5 seeds. The CMD targets
  are dereddened, as the paper's CMD is ((BP-RP)0, M_G,0; SCIENCE.md 3.9.1): the truth's
  intrinsic colour and M_G, else the catalogue's GSP-Phot-dereddened columns, and only for a
  catalogue without either the observed ones (the report names the columns and convention);
* binary detection AUC and AP on the physically detectable label (``is_detectable_binary``) and on
  ``is_binary`` by flux-ratio and period bins: DESA's fine-tuned binary head, and for every
  embedding (DESA's and each baseline's) a logistic-regression probe fitted on all training-split
  labels, each next to an ORACLE ceiling (``training.binary_metrics``);
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
from sklearn.linear_model import LinearRegression
from sklearn.metrics import r2_score, silhouette_score
from sklearn.neighbors import NearestNeighbors
from sklearn.preprocessing import StandardScaler
from tqdm.auto import tqdm

from data.storage import SurveyStore, atomic_write_text
from desa_core.checkpoint import load_checkpoint
from training.baselines import ClipConfig, baseline_embeddings
from training.binary_metrics import auc_ap, binary_detection, binary_probe, render_binary_markdown
from training.tensors import binary_label_name, label_values, measurable_prot

log = logging.getLogger(__name__)

#: Probe targets per task: candidate (x, y) column pairs with their convention, first present wins.
PROBES = {
    "cmd": (
        ("dereddened (intrinsic, truth)", ("true_bp_rp_intrinsic_mag", "true_abs_g_intrinsic_mag")),
        ("dereddened (Gaia GSP-Phot)", ("bp_rp0_mag", "abs_g0_mag")),
        ("observed", ("bp_rp_mag", "abs_g_mag")),
    ),
    "hr": (("catalogue", ("teff_k", "logl")), ("truth", ("true_teff_k", "true_logl"))),
}
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


def probe_targets(df: pd.DataFrame, task: str) -> tuple[str, tuple[str, str]]:
    """The convention and (x, y) target columns of a probe task: the first pair ``df`` has values in.

    Raises
    ------
    KeyError
        ``df`` has none of the task's candidate pairs.
    """
    for convention, cols in PROBES[task]:
        if all(c in df.columns and df[c].notna().any() for c in cols):
            return convention, cols
    raise KeyError(f"no {task} probe targets among {[cols for _, cols in PROBES[task]]}")


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
    for task in PROBES:
        convention, cols = probe_targets(df, task)
        y = df[list(cols)].to_numpy(dtype=np.float64)
        ok = np.isfinite(y).all(axis=1)
        mean, std = few_shot_r2(x, y, train[ok[train]], test[ok[test]], fraction=fraction, seeds=seeds)
        out[f"few_shot_r2_{task}"] = {
            "mean": mean,
            "std": std,
            "targets": list(cols),
            "convention": convention,
        }
    is_bin = df["true_is_binary"].astype(bool).to_numpy()
    out["binary_auc_probe"], out["binary_ap_probe"] = auc_ap(
        is_bin[test], binary_probe(x, is_bin, train, test)
    )
    if binary_label_name(df.columns, prefix="true_") == "is_detectable_binary":
        det = df["true_is_detectable_binary"].astype(bool).to_numpy()
        out["detectable_auc_probe"], out["detectable_ap_probe"] = auc_ap(
            det[test], binary_probe(x, det, train, test)
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
    # The head is scored on the label it was trained on (training.tensors.BINARY_LABELS).
    result["binary_label"] = binary_label_name(df.columns, prefix="true_") or "is_binary"
    is_bin = t[f"true_{result['binary_label']}"].astype(bool).to_numpy()
    result["binary_auc"], result["binary_ap"] = auc_ap(is_bin, t["binary_prob"].to_numpy())
    result["binary_detection"] = binary_detection(
        emb, df, train, test, head=t["binary_prob"].to_numpy(dtype=np.float64), seed=seed
    )
    age_ok = np.isfinite(t["true_age_gyr"]) & np.isfinite(t["pred_age_gyr"])
    result["age_rmse_gyr"] = float(
        np.sqrt(np.mean((t["pred_age_gyr"][age_ok] - t["true_age_gyr"][age_ok]) ** 2))
    )
    # Only periods the light curve can show (≥ 2 cycles on the model grid) are scored.
    measurable = measurable_prot(t["true_prot_d"].to_numpy(dtype=np.float64), t)
    p_ok = np.isfinite(measurable) & (measurable > 0)
    rel = np.abs(t["pred_prot_d"].to_numpy()[p_ok] / measurable[p_ok] - 1)
    result["prot_median_rel_error"] = float(np.median(rel)) if len(rel) else None
    result["prot_n_unmeasurable"] = int(np.isfinite(t["true_prot_d"]).sum() - p_ok.sum())
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
        # Against the label the head was trained on (training.tensors.LABEL_SOURCES).
        truth_cols = t[[c for c in t.columns if c.startswith("true_")]].rename(columns=lambda c: c[5:])
        y, _ = label_values(stem, {"truth": truth_cols, "catalog": t})
        if y is None:
            continue
        if stem == "prot_d":
            y = measurable_prot(y, t)
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
    binary_label = f.get("binary_label", "is_binary")
    convention = f["few_shot_r2_cmd"].get("convention")
    rows = [
        (
            "few-shot R² CMD (BP-RP, M_G" + (f"; {convention})" if convention else ")"),
            r2("few_shot_r2_cmd"),
            "0.92 (photometric regression)",
        ),
        ("few-shot R² HR (Teff, log L)", r2("few_shot_r2_hr"), "0.92"),
        (f"binary AUC (fine-tuned head, `{binary_label}`)", _fmt(f["binary_auc"]), "0.99 (Gaia NSS classes)"),
        (f"binary AP (fine-tuned head, `{binary_label}`)", _fmt(f["binary_ap"]), "1.00"),
        ("age RMSE (Gyr)", _fmt(f["age_rmse_gyr"]), "0.94"),
        (
            f"Prot median relative error (≥ 2 cycles in the light curve; "
            f"{f.get('prot_n_unmeasurable', 0)} longer periods not scored)",
            _fmt(f["prot_median_rel_error"]),
            "–",
        ),
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
            "| method | dim | R² CMD | R² HR | detectable AUC (probe) | detectable AP (probe) "
            "| is_binary AUC (probe) | is_binary AP (probe) | sync/young kNN purity |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for name, m in methods.items():
            purity = m.get("sync_vs_young", {}).get("knn_purity")
            lines.append(
                f"| {METHOD_LABELS.get(name, name)} | {m['dim']} | {_fmt(m['few_shot_r2_cmd']['mean'])} | "
                f"{_fmt(m['few_shot_r2_hr']['mean'])} | {_fmt(m.get('detectable_auc_probe'))} | "
                f"{_fmt(m.get('detectable_ap_probe'))} | {_fmt(m['binary_auc_probe'])} | "
                f"{_fmt(m['binary_ap_probe'])} | {_fmt(purity)} |"
            )
    if f.get("binary_detection"):
        lines += render_binary_markdown(f["binary_detection"])
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
