"""Evaluate DESA against its baselines like for like, on the test split; write report.md and .json.

Two tables that never mix (SCIENCE.md section 2 on why the old single table misled):

(a) **Frozen embeddings.** Every method's vectors, none of them trained on a label: DESA aligned
    only (``aligned.pt``, the checkpoint saved after alignment, before fine-tuning), the four
    baselines of ``training.baselines`` (light curve only, spectrum only, concatenation, CLIP) and
    any variant passed in, each with exactly the probes of ``training.probes`` on the same test
    stars, mean ± std over seeds, next to ORACLE ceilings. The two methods trained here without
    labels, DESA's fusion + W and CLIP, are trained with ``train_seeds`` seeds (the run's seed
    first: DESA's is the run's own ``aligned.pt``; the others retrain the fusion and W on the same
    frozen encoder outputs with the run's alignment settings, ``training.ablation.train_variant``);
    their figures pool every (training seed, probe seed) pair, so the spread shows what a training
    seed alone moves, and the per-seed means are listed.
(b) **Fine-tuned.** DESA's own fine-tuned model (its head predictions, the ``pred_*`` and
    ``binary_prob`` columns that ``desa embed`` wrote) and each baseline fine-tuned with the same
    ``PropertyHeads``, labels, loss, optimiser steps, batch size, lr and calibration
    (``training.baselines.finetune_baseline``). Every row is scored by :func:`head_scores` from
    its heads' predictions: R² of the predicted CMD and HR coordinates (the heads predict both, so
    no probe is needed: a probe on penultimate features would score a different predictor than the
    one the product shows), binary AUC/AP of ``binary_prob``, age RMSE, Prot error and the coverage
    of the calibrated 68 % intervals. One training run per row (the run's seed).

Every training budget (each encoder's pretraining, alignment, fine-tuning, CLIP and each baseline's
fine-tuning) is reported in optimiser steps, budgeted and taken (``training.budgets``). The binary
section (``training.binary_metrics``) adds ``is_binary`` by flux-ratio and period bins with its
ORACLE. Baselines are built from this run's own encoders, on the same stars and splits, in the
same call; probes read embeddings, never UMAP coordinates, except the UMAP purity itself.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import r2_score
from tqdm.auto import tqdm

from data import schema
from data.schema import TRUTH_PREFIX, truth_columns
from data.storage import SurveyStore, atomic_write_text
from desa_core.alignment import retrieval_accuracy
from desa_core.checkpoint import load_checkpoint
from desa_core.heads import Prediction
from desa_core.model import DesaModel
from training.baselines import baseline_embeddings, clip_config, finetune_baseline
from training.binary_metrics import auc_ap, binary_detection
from training.budgets import run_budgets
from training.config import FinetuneConfig
from training.evaluation_report import render_markdown
from training.probes import binary_labels, frozen_scores, label_column, oracle_scores, task_targets
from training.probes import embedding_scores as embedding_scores  # re-exported for training.ablation
from training.probes import probe_targets as probe_targets
from training.seed_spread import pool_training_seeds, retrained_alignments
from training.tensors import (
    INPUT_ARRAYS,
    binary_label_name,
    label_table,
    label_values,
    measurable,
    training_splits,
)

log = logging.getLogger(__name__)

#: The paper's figures on real data (SCIENCE.md section 1.9; inflated there by label leakage).
PAPER = {"few_shot_r2": 0.92, "binary_auc": 0.99, "binary_ap": 1.00, "age_rmse_gyr": 0.94}
#: The head properties that give each probe task's two coordinates (``data.schema``).
HEAD_PROPERTIES = {"cmd": schema.CMD_PROPERTIES, "hr": schema.HR_PROPERTIES}


@dataclass
class Report:
    """The evaluation figures, their markdown rendering and the folder they were written to."""

    figures: dict
    markdown: str
    folder: Path


@torch.no_grad()
def pooled_vectors(store: SurveyStore, checkpoint: Path, *, batch: int = 256, progress: bool = True):
    """The run's frozen encoder outputs for every star: light curve (N, El), spectrum (N, Es)."""
    model, _ = load_checkpoint(checkpoint, grids=store.read_manifest().get("grids"))
    arrays = [store.read_array(name) for name in INPUT_ARRAYS]
    lcs, specs = [], []
    n = len(arrays[0])
    for start in tqdm(range(0, n, batch), desc="encoding", unit="batch", disable=not progress):
        lc, lm, sp, sm = (torch.from_numpy(np.array(a[start : start + batch])) for a in arrays)
        lc_p, sp_p = model.encode(lc.float(), lm.bool(), sp.float(), sm.bool())
        lcs.append(lc_p.numpy())
        specs.append(sp_p.numpy())
    return np.concatenate(lcs), np.concatenate(specs)


@torch.no_grad()
def checkpoint_embedding(store: SurveyStore, checkpoint: Path, *, progress: bool = True) -> np.ndarray:
    """The frozen embedding (N, E) of a checkpoint, through its own encoders and fusion (a variant).

    Raises
    ------
    ValueError
        The checkpoint was fine-tuned on labels: it belongs in no frozen table.
    """
    model, metadata = load_checkpoint(checkpoint, grids=store.read_manifest().get("grids"))
    if "finetune" in metadata.get("stages_done", []):
        raise ValueError(
            f"{checkpoint}: fine-tuned on labels, so not a frozen embedding; pass the run's aligned.pt"
        )
    lc, spec = pooled_vectors(store, checkpoint, progress=progress)
    return model.eval().fuse(torch.as_tensor(lc), torch.as_tensor(spec)).embedding.numpy()


@torch.no_grad()
def _aligned(
    checkpoint: Path, lc: np.ndarray, spec: np.ndarray, val: np.ndarray, batch_size: int
) -> tuple[np.ndarray | None, float | None]:
    """DESA's embedding from ``aligned.pt`` (before fine-tuning), if kept, and its validation retrieval.

    The retrieval is scored within batches of ``batch_size`` (the alignment stage's own score).
    """
    aligned = Path(checkpoint).with_name("aligned.pt")
    if not aligned.is_file():
        return None, None
    model, _ = load_checkpoint(aligned)
    out = model.eval().fuse(torch.as_tensor(lc), torch.as_tensor(spec))
    batches = [b for b in torch.as_tensor(val).split(batch_size) if len(b) > 1]
    hits = sum(retrieval_accuracy(out.e_s[b], out.e_l[b]) * len(b) for b in batches)
    n = sum(len(b) for b in batches)
    return out.embedding.numpy(), (hits / n if n else None)


def evaluation_frame(store: SurveyStore) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray]:
    """Catalogue joined with ``true_``-prefixed truth, and the train, val and test rows."""
    if not store.truth_path.is_file():
        raise ValueError(f"{store.truth_path}: evaluation needs labels (a truth or label table)")
    df = store.read_catalog_with_truth()
    if "binary_prob" not in df:
        raise ValueError(f"{store.catalog_path}: no predictions in the catalogue; run `desa embed` first")
    split = training_splits(df)
    train, val, test = (np.flatnonzero(split == s) for s in ("train", "val", "test"))
    return df, train, val, test


def interval_coverage(t: pd.DataFrame) -> dict[str, float]:
    """Fraction of test stars whose true value lies inside the predicted 68 % interval."""
    out = {}
    truth_cols = truth_columns(t)
    for col in t.columns:
        if not (col.startswith("pred_") and col.endswith("_lo")):
            continue
        stem = col.removeprefix("pred_").removesuffix("_lo")
        # Against the label the head was trained on (data.schema.Property.sources), where measurable.
        y, _ = label_values(stem, {"truth": truth_cols, "catalog": t})
        if y is None:
            continue
        y = measurable(stem, y, t)
        lo, hi = t[col].to_numpy(dtype=np.float64), t[f"pred_{stem}_hi"].to_numpy(dtype=np.float64)
        ok = np.isfinite(y) & np.isfinite(lo) & np.isfinite(hi)
        if ok.sum():
            out[stem] = float(((y[ok] >= lo[ok]) & (y[ok] <= hi[ok])).mean())
    return out


def head_scores(t: pd.DataFrame) -> dict:
    """The fine-tuned figures of one model's head predictions (``pred_*``, ``binary_prob``) on ``t``."""
    out: dict = {}
    for task, props in HEAD_PROPERTIES.items():
        cols = [f"pred_{p}" for p in props]
        if not all(c in t and label_column(t, p) is not None for c, p in zip(cols, props, strict=True)):
            out[f"r2_{task}"] = None  # the heads do not predict this task, or had no label for it
            continue
        y, ok, _ = task_targets(t, task)
        pred = t[cols].to_numpy(np.float64)
        ok &= np.isfinite(pred).all(axis=1)
        out[f"r2_{task}"] = float(r2_score(y[ok], pred[ok])) if ok.sum() > 1 else None
    prob = t["binary_prob"].to_numpy(np.float64)
    for name, y in binary_labels(t).items():
        out[f"{name}_auc"], out[f"{name}_ap"] = auc_ap(y, prob)
    age = label_column(t, schema.AGE_GYR)
    if age is not None and "pred_age_gyr" in t:
        ok = np.isfinite(age) & np.isfinite(t["pred_age_gyr"].to_numpy(np.float64))
        out["age_rmse_gyr"] = float(np.sqrt(np.mean((t["pred_age_gyr"].to_numpy()[ok] - age[ok]) ** 2)))
    prot = label_column(t, schema.PROT_D)
    if prot is not None and "pred_prot_d" in t:
        # Only periods the light curve can show (≥ 2 cycles on the model grid) are scored.
        ok = np.isfinite(prot) & (prot > 0)
        rel = np.abs(t["pred_prot_d"].to_numpy()[ok] / prot[ok] - 1)
        out["prot_median_rel_error"] = float(np.median(rel)) if len(rel) else None
        out["prot_n_unmeasurable"] = int(np.isfinite(t[TRUTH_PREFIX + schema.PROT_D]).sum() - ok.sum())
    out["interval_coverage"] = interval_coverage(t)
    return out


#: The ways of scoring the fine-tuned model on the test stars: with both modalities, and with one
#: hidden as a one-modality star's is (fill values under an all-False mask).
MODALITY_CASES = ("both", "lightcurve_only", "spectrum_only")


def missing_modality_scores(
    store: SurveyStore, checkpoint: Path, df: pd.DataFrame, test: np.ndarray, *, progress: bool = True
) -> dict[str, dict]:
    """:func:`head_scores` of the fine-tuned model on the test stars, with each modality hidden.

    What a star observed in one modality only loses: the same stars and labels, the other
    modality's arrays replaced exactly as ingest writes them for a star without it, through the
    model's missing-modality path (``desa_core.serving``).
    """
    from data import preprocess
    from desa_core.serving import DesaService

    service = DesaService.load(checkpoint, grids=store.read_manifest().get("grids"))
    lc, lc_mask, spec, spec_mask = (np.asarray(store.read_array(name)[test]) for name in INPUT_ARRAYS)
    no_lc = (np.full_like(lc, preprocess.LC_FILL_VALUE), np.zeros_like(lc_mask))
    no_spec = (np.full_like(spec, preprocess.SPEC_FILL_VALUE), np.zeros_like(spec_mask))
    inputs = {
        "both": (lc, lc_mask, spec, spec_mask),
        "lightcurve_only": (lc, lc_mask, *no_spec),
        "spectrum_only": (*no_lc, spec, spec_mask),
    }
    out = {}
    for case in MODALITY_CASES:
        _, table = service.embed_and_predict(*inputs[case], progress=progress)
        predicted = {c: table[c].to_numpy(np.float64) for c in table.columns if c != "missing_modality"}
        out[case] = head_scores(df.iloc[test].assign(**predicted))
    return out


def prediction_columns(pred: Prediction, rows: np.ndarray) -> dict[str, np.ndarray]:
    """A ``Prediction`` of every star as the catalogue's ``pred_*`` and ``binary_prob`` columns."""
    cols = {}
    for i, name in enumerate(pred.properties):
        for suffix, values in (("", pred.median), ("_lo", pred.lower), ("_hi", pred.upper)):
            cols[f"pred_{name}{suffix}"] = values[rows, i].numpy().astype(np.float64)
    cols["binary_prob"] = pred.binary_prob[rows].numpy().astype(np.float64)
    return cols


def _finetune_config(train_config: dict) -> FinetuneConfig:
    fields = {f.name for f in dataclasses.fields(FinetuneConfig)}
    return FinetuneConfig(**{k: v for k, v in train_config.get("finetune", {}).items() if k in fields})


def finetune_baselines(
    store: SurveyStore,
    vectors: dict[str, np.ndarray],
    df: pd.DataFrame,
    splits: tuple[np.ndarray, np.ndarray, np.ndarray],
    *,
    model: DesaModel,
    metadata: dict,
    progress: bool = True,
) -> dict[str, dict]:
    """Each baseline fine-tuned as DESA's fine-tuning stage was; its :func:`head_scores` and budget."""
    train, val, test = splits
    train_config = metadata.get("train_config", {})
    config = _finetune_config(train_config)
    heads = model.config.heads
    labels, binary = label_table(store, heads.properties)
    labels_t = torch.as_tensor(labels.to_numpy(np.float32))
    binary_t = torch.as_tensor(binary.astype(np.float32))
    # What DESA's stage trains besides the heads: the DualFormer and W, unless tune_fusion is off.
    fusion = model.parameter_count()["dualformer"] + model.projection.numel() if config.tune_fusion else 0
    out = {}
    for name, x in vectors.items():
        log.info("fine-tuning baseline %s", name)
        pred, info = finetune_baseline(
            name,
            x,
            labels_t,
            binary_t,
            train,
            val,
            config=config,
            heads=heads,
            out_features=2 * model.config.fused_dim,
            adapter_params=fusion,
            seed=int(train_config.get("seed", 0)),
            progress=progress,
        )
        t = df.iloc[test].assign(**prediction_columns(pred, test))
        out[name] = head_scores(t) | info
    return out


@contextmanager
def _timed(seconds: dict[str, float], name: str) -> Iterator[None]:
    """Record the wall time of a block in ``seconds[name]``, for the report's timing line."""
    start = time.perf_counter()
    yield
    seconds[name] = round(time.perf_counter() - start, 1)


def _budget(record: dict) -> dict:
    return {k: record[k] for k in ("batch_size", "lr", "budget_steps", "steps")}


def _desa_record(model: DesaModel, train_config: dict, budgets: dict) -> dict:
    """DESA's fine-tuning budget and trainable parameters: heads, and DualFormer + W if tuned."""
    counts = model.parameter_count()
    fusion = (
        counts["dualformer"] + model.projection.numel() if _finetune_config(train_config).tune_fusion else 0
    )
    stage = budgets.get("finetune", {})
    return {
        "budget_steps": stage.get("budget_steps"),
        "steps": stage.get("steps"),
        "trainable_params": counts["heads"] + fusion,
    }


def evaluate_survey(
    store: SurveyStore,
    *,
    checkpoint: Path | None = None,
    seed: int = 0,
    fraction: float = 0.1,
    seeds: int = 3,
    train_seeds: int = 1,
    baselines: bool = True,
    variants: dict[str, np.ndarray] | None = None,
    umap: bool = True,
    figures: bool = True,
    progress: bool = True,
) -> Report:
    """Compute both tables on the store's test split and write the report files.

    ``checkpoint`` (the model that embedded the catalogue) is needed for the frozen table and the
    baselines, which are built from its encoders; without it only DESA's fine-tuned row is
    computed. ``variants`` adds frozen embeddings (N, E) by name, catalogue order. ``seed`` seeds
    the binary section's ORACLE; ``seeds`` is the number of probe seeds; ``train_seeds`` the number
    of training seeds of DESA's alignment and of CLIP (the run's seed, then the next ones).
    """
    df, train, val, test = evaluation_frame(store)
    result: dict = {
        "n_train": len(train),
        "n_val": len(val),
        "n_test": len(test),
        "fraction": fraction,
        "seeds": seeds,
        "train_seeds": [],
        "checkpoint": str(checkpoint) if checkpoint else None,
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "paper": PAPER,
        # The head is scored on the label it was trained on (training.tensors.BINARY_LABELS).
        "binary_label": binary_label_name(df.columns, prefix=TRUTH_PREFIX) or "is_binary",
    }
    finetuned = {"desa": head_scores(df.iloc[test])}
    frozen: dict[str, np.ndarray] = {}
    repeats: dict[str, dict[int, np.ndarray]] = {}  # method -> its embedding with each further seed
    budgets: dict = {}
    seconds: dict[str, float] = {}
    aligned = None
    if checkpoint is not None:
        model, metadata = load_checkpoint(checkpoint)
        train_config = metadata.get("train_config", {})
        budgets = run_budgets(train_config, Path(checkpoint).with_name("metrics.jsonl"), len(train))
        finetuned["desa"] |= _desa_record(model, train_config, budgets)
        with _timed(seconds, "encoding"):
            lc, spec = pooled_vectors(store, checkpoint, progress=progress)
        align = train_config.get("align", {})
        run_seed = int(train_config.get("seed", 0))
        more_seeds = [run_seed + i for i in range(1, max(1, train_seeds))]
        result["train_seeds"] = [run_seed, *more_seeds]
        aligned, retrieval = _aligned(checkpoint, lc, spec, val, int(align.get("batch_size", 128)))
        if aligned is not None:
            frozen["desa_aligned"] = aligned
            if more_seeds:
                with _timed(seconds, "DESA alignment, more seeds"):
                    repeats["desa_aligned"], steps = retrained_alignments(
                        model, train_config, lc, spec, training_splits(df), more_seeds, progress=progress
                    )
                budgets["align_seeds"] = {
                    "trains": f"DualFormer + W again, seeds {', '.join(map(str, more_seeds))}",
                    "batch_size": int(align.get("batch_size", 128)),
                    "lr": float(align.get("lr", 1e-3)),
                    "budget_steps": budgets.get("align", {}).get("budget_steps"),
                    "steps": steps,
                }
        if baselines:
            clip = clip_config(align, dim=model.config.fused_dim, seed=run_seed)
            with _timed(seconds, "CLIP"):
                vectors, clip_info = baseline_embeddings(lc, spec, train, val, clip, progress=progress)
            result["clip_training"] = clip_info | {"desa_aligned_val_retrieval": retrieval}
            budgets["clip"] = {"trains": "CLIP projections (InfoNCE)"} | _budget(clip_info)
            frozen |= vectors
            if more_seeds:
                repeats["clip"], infos = {}, []
                with _timed(seconds, "CLIP, more seeds"):
                    for s in more_seeds:
                        config = clip_config(align, dim=model.config.fused_dim, seed=s)
                        more, info = baseline_embeddings(lc, spec, train, val, config, progress=False)
                        repeats["clip"][s] = more["clip"]
                        infos.append(info)
                budgets["clip_seeds"] = (
                    {"trains": f"CLIP projections again, seeds {', '.join(map(str, more_seeds))}"}
                    | _budget(infos[0])
                    | {"steps": [i["steps"] for i in infos]}
                )
            with _timed(seconds, "baseline fine-tuning"):
                tuned = finetune_baselines(
                    store, vectors, df, (train, val, test), model=model, metadata=metadata, progress=progress
                )
            finetuned |= tuned
            budgets |= {f"finetune_{name}": {"trains": s["trains"]} | _budget(s) for name, s in tuned.items()}
        with _timed(seconds, "one modality missing"):
            missing = missing_modality_scores(store, checkpoint, df, test, progress=progress)
            result["missing_modality"] = missing
    frozen |= variants or {}
    result["budgets"] = budgets
    with _timed(seconds, "frozen probes"):
        result["frozen"] = {}
        for name, x in frozen.items():
            log.info("frozen probes: %s", name)
            runs = [x, *repeats.get(name, {}).values()]
            scores = [
                frozen_scores(v, df, train, test, fraction=fraction, seeds=seeds, umap=umap) for v in runs
            ]
            if len(scores) > 1:
                scores = [pool_training_seeds(scores) | {"train_seeds": result["train_seeds"][: len(runs)]}]
            result["frozen"][name] = scores[0]
    result["finetuned"] = finetuned
    with _timed(seconds, "ORACLE and binary detection"):
        result["oracle"] = oracle_scores(df, train, test, fraction=fraction, seeds=seeds)
        result["binary_detection"] = binary_detection(
            aligned,
            df,
            train,
            test,
            head=df["binary_prob"].to_numpy(np.float64)[test],
            probe_on="DESA's aligned-only embedding",
            seed=seed,
        )
    result["seconds"] = seconds
    folder = store.reports_dir / time.strftime("%Y%m%d-%H%M%S")
    folder.mkdir(parents=True, exist_ok=True)
    if figures:
        from training.figures import write_figures

        result["figures"] = write_figures(folder, df, test)
    atomic_write_text(folder / "report.json", json.dumps(result, indent=2))
    markdown = render_markdown(result)
    atomic_write_text(folder / "report.md", markdown)
    return Report(result, markdown, folder)
