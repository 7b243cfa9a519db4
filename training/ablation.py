"""Fusion ablation on cached encoder outputs: which change to the DualFormer helps the frozen probes.

A trained run's encoders embed every star once. Each variant (the paper's fusion, the paper plus
one ``preserve`` change, every change together) then gets a fresh DualFormer and W trained by the
alignment stage's own code (``training.stages.align.run``: same loop, loss and optimiser-step
budget, early stopping off so every variant takes every step), optionally followed by the
fine-tuning stage, and its embedding is scored by the evaluation's probes
(``training.evaluate.embedding_scores``) on the test split, next to the baselines built from the
same encoder outputs (``training.baselines``). Nothing here changes the run's own checkpoint.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from data import schema
from data.storage import SurveyStore, atomic_write_text
from desa_core.checkpoint import load_checkpoint
from desa_core.config import FUSION_FLAGS, DesaConfig, DualFormerConfig
from desa_core.model import DesaModel
from training.baselines import baseline_embeddings, clip_config
from training.config import AlignConfig, FinetuneConfig
from training.evaluate import embedding_scores
from training.metrics import MetricLog
from training.stages import StageContext, align, finetune
from training.tensors import SurveyTensors, load_survey_tensors, training_splits

log = logging.getLogger(__name__)

#: Early stopping would give variants different budgets; the loop still keeps the best weights.
NO_EARLY_STOP = 1_000_000


@dataclass(frozen=True)
class Variant:
    """One fusion to train: a short key, a label, its DualFormer config and its InfoNCE weight."""

    key: str
    label: str
    dualformer: DualFormerConfig
    info_weight: float = 0.0


@dataclass(frozen=True)
class AblationConfig:
    """Budgets and probe settings shared by every variant.

    ``fraction`` is the evaluation's few-shot label fraction; ``extra_fractions`` add R² columns
    with more labels, which separate an embedding's content from its width on a small survey (a
    linear probe on 128 dimensions needs more than the 10 % of 1,200 stars that 2,000 give).
    ``measured_indices`` gives every variant and baseline the two measured line indices as extra
    spectrum features (``SpectrumEncoderConfig.measured_indices``), on the run's own encoders.
    """

    align_steps: int = 800
    finetune_steps: int = 0
    batch_size: int = 0  # 0: the run's own
    info_weight: float = 0.5
    wide: int = 64
    fraction: float = 0.1
    extra_fractions: tuple[float, ...] = ()
    seeds: int = 5
    variants: tuple[str, ...] = ()
    measured_indices: bool = False


@dataclass
class AblationReport:
    """The figures per variant and baseline, their markdown table and the folder written to."""

    figures: dict
    markdown: str
    folder: Path


def paper_fusion(model: DesaConfig) -> DualFormerConfig:
    """The paper's DualFormer for this model: its preset's, else its own with every flag off."""
    if model.name in ("tiny", "paper"):
        return DesaConfig.preset(model.name).dualformer
    kept = ("width", "depth", "heads", "ffn_mult", "dropout")
    return DualFormerConfig(**{k: getattr(model.dualformer, k) for k in kept})


def build_variants(paper: DualFormerConfig, config: AblationConfig) -> list[Variant]:
    """The paper's fusion, the paper plus each change (a)-(d), and ``preserve`` with and without (d)."""
    replace = dataclasses.replace
    w, wide = config.info_weight, max(config.wide, paper.width)
    flags = dict.fromkeys(FUSION_FLAGS, True)  # paper's flags are resolved to False, so set each
    preserve = replace(paper, width=wide, fusion="preserve", **flags)
    variants = [
        Variant("paper", "paper", paper),
        Variant(
            "tokens",
            "paper + feature tokens, attention pool (a)",
            replace(paper, feature_tokens=True, attention_pool=True),
        ),
        Variant("residual", "paper + residual path (b)", replace(paper, residual=True)),
        Variant(
            "wide",
            f"paper + D={wide}, concatenated embedding (c)",
            replace(paper, width=wide, concat_embedding=True),
        ),
        Variant("info", f"paper + InfoNCE {w:g} (d)", paper, w),
        Variant("preserve_noinfo", "preserve (a+b+c), no InfoNCE", preserve),
        Variant("preserve", f"preserve (a+b+c) + InfoNCE {w:g} (d)", preserve, w),
        Variant(
            "preserve_slim",
            f"preserve + InfoNCE {w:g}, one block without rotary positions (e; the demo's)",
            replace(preserve, depth=1, rotary=False),
            w,
        ),
    ]
    if not config.variants:
        return variants
    unknown = set(config.variants) - {v.key for v in variants}
    if unknown:
        raise ValueError(
            f"unknown ablation variants {sorted(unknown)}; choose from {[v.key for v in variants]}"
        )
    return [v for v in variants if v.key in config.variants]


def _probe_frame(store: SurveyStore) -> pd.DataFrame:
    """Catalogue joined with ``true_``-prefixed truth, as ``training.evaluate`` builds it."""
    if not store.truth_path.is_file():
        raise ValueError(f"{store.truth_path}: the ablation needs labels (a truth or label table)")
    return store.read_catalog_with_truth()


def _steps_taken(metrics: Path, stage: str) -> int:
    """Optimiser steps a stage logged (training records carry ``loss``; validation ``val_loss``)."""
    if not metrics.is_file():
        return 0
    records = (json.loads(line) for line in metrics.read_text(encoding="utf-8").splitlines())
    return sum(1 for r in records if r.get("stage") == stage and "loss" in r)


def train_variant(
    variant: Variant,
    trained: DesaModel,
    data: SurveyTensors,
    pooled: tuple[Tensor, Tensor],
    *,
    align_config: AlignConfig,
    finetune_config: FinetuneConfig | None,
    folder: Path,
    seed: int,
    progress: bool = True,
) -> tuple[DesaModel, dict[str, int]]:
    """A fresh fusion on ``trained``'s encoders, trained on cached ``pooled`` (lc, spec) vectors."""
    config = dataclasses.replace(trained.config, dualformer=variant.dualformer)
    torch.manual_seed(seed)  # parameter initialisation, as in training.run
    model = DesaModel(config)
    model.lightcurve_encoder.load_state_dict(trained.lightcurve_encoder.state_dict())
    model.spectrum_encoder.load_state_dict(trained.spectrum_encoder.state_dict())
    if trained.spectrum_indices is not None:  # the statistics the cached ``pooled`` were made with
        model.spectrum_indices.load_state_dict(trained.spectrum_indices.state_dict())
    ctx = StageContext(folder, seed, MetricLog(folder / "metrics.jsonl"), progress)
    align.run(
        model, data, dataclasses.replace(align_config, info_weight=variant.info_weight), ctx, pooled=pooled
    )
    if finetune_config is not None:
        tuned = dataclasses.replace(finetune_config, info_weight=variant.info_weight)
        finetune.run(model, data, tuned, ctx, pooled=pooled)
    for state in (folder / "state").glob("*.pt"):
        state.unlink()  # resumable state is of no use here, and holds copies of the weights
    steps = {stage: _steps_taken(folder / "metrics.jsonl", stage) for stage in ("align", "finetune")}
    return model.eval(), steps


@torch.no_grad()
def _embedding(model: DesaModel, pooled: tuple[Tensor, Tensor]) -> np.ndarray:
    lc, spec = pooled
    return model.fuse(lc, spec).embedding.numpy()


def with_measured_indices(trained: DesaModel) -> DesaModel:
    """``trained``'s encoders in a model whose spectrum side carries the measured line indices.

    The fusion, W and heads are not carried over (their input width changes); the ablation trains
    a fresh fusion per variant anyway. The index statistics are fitted by ``align.encode_all``.
    """
    if trained.spectrum_indices is not None:
        return trained
    spectrum = dataclasses.replace(trained.config.spectrum, measured_indices=True)
    model = DesaModel(dataclasses.replace(trained.config, spectrum=spectrum))
    model.lightcurve_encoder.load_state_dict(trained.lightcurve_encoder.state_dict())
    model.spectrum_encoder.load_state_dict(trained.spectrum_encoder.state_dict())
    return model.eval()


def _stage_configs(metadata: dict, config: AblationConfig) -> tuple[AlignConfig, FinetuneConfig | None]:
    """The run's own stage settings, with the ablation's budgets and early stopping off."""
    stored = metadata.get("train_config", {})
    fields = lambda klass: {f.name for f in dataclasses.fields(klass)}  # noqa: E731
    base_align = {k: v for k, v in stored.get("align", {}).items() if k in fields(AlignConfig)}
    base_tune = {k: v for k, v in stored.get("finetune", {}).items() if k in fields(FinetuneConfig)}
    budget = {"patience": NO_EARLY_STOP} | ({"batch_size": config.batch_size} if config.batch_size else {})
    align_config = AlignConfig(**{**base_align, **budget, "max_steps": config.align_steps})
    if config.finetune_steps <= 0:
        return align_config, None
    return align_config, FinetuneConfig(**{**base_tune, **budget, "max_steps": config.finetune_steps})


def run_ablation(
    store: SurveyStore,
    checkpoint: Path,
    config: AblationConfig = AblationConfig(),
    *,
    seed: int = 0,
    progress: bool = True,
) -> AblationReport:
    """Train and score every variant and baseline; write ``ablation.json`` and ``ablation.md``.

    Results go to ``<run folder>/ablation/<timestamp>/``, one sub-folder of metrics per variant.
    """
    trained, metadata = load_checkpoint(checkpoint)
    if config.measured_indices:
        trained = with_measured_indices(trained)
    df = _probe_frame(store)
    data = load_survey_tensors(store, schema.PROPERTY_NAMES)
    pooled = align.encode_all(trained, data, progress=progress)  # once, for every variant
    split = training_splits(df)
    train, val, test = (np.flatnonzero(split == s) for s in ("train", "val", "test"))

    def score(x: np.ndarray) -> dict:
        scores = embedding_scores(x, df, train, test, fraction=config.fraction, seeds=config.seeds)
        for fraction in config.extra_fractions:
            more = embedding_scores(x, df, train, test, fraction=fraction, seeds=config.seeds)
            scores[f"r2_at_{fraction:g}"] = {k: more[f"few_shot_r2_{k}"]["mean"] for k in ("cmd", "hr")}
        return scores

    align_config, finetune_config = _stage_configs(metadata, config)
    folder = Path(checkpoint).parent / "ablation" / time.strftime("%Y%m%d-%H%M%S")
    result: dict = {
        "checkpoint": str(checkpoint),
        "n_train": len(train),
        "n_test": len(test),
        "config": dataclasses.asdict(config),
        "measured_indices": trained.spectrum_indices is not None,
        "align": dataclasses.asdict(align_config),
        "finetune": dataclasses.asdict(finetune_config) if finetune_config else None,
        "variants": {},
        "baselines": {},
    }
    for variant in build_variants(paper_fusion(trained.config), config):
        log.info("ablation variant %s", variant.label)
        start = time.perf_counter()
        model, steps = train_variant(
            variant,
            trained,
            data,
            pooled,
            align_config=align_config,
            finetune_config=finetune_config,
            folder=folder / variant.key,
            seed=seed,
            progress=progress,
        )
        result["variants"][variant.key] = {
            "label": variant.label,
            "dualformer": dataclasses.asdict(variant.dualformer),
            "info_weight": variant.info_weight,
            "steps": steps,
            "seconds": time.perf_counter() - start,
            "scores": score(_embedding(model, pooled)),
        }
    lc, spec = (t.numpy() for t in pooled)
    # CLIP gets the variants' own alignment budget, in optimiser steps, as in `desa evaluate`.
    clip = clip_config(dataclasses.asdict(align_config), dim=trained.config.fused_dim, seed=seed)
    vectors, clip_info = baseline_embeddings(lc, spec, train, val, clip)
    for name, x in vectors.items():
        steps = {"align": clip_info["steps"]} if name == "clip" else {}
        result["baselines"][name] = {"steps": steps, "scores": score(x)}
    result["clip_training"] = clip_info
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(folder / "ablation.json", json.dumps(result, indent=2))
    markdown = render_ablation(result)
    atomic_write_text(folder / "ablation.md", markdown)
    return AblationReport(result, markdown, folder)


def _fmt(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.3f}"


def _row(name: str, entry: dict, extra: tuple[float, ...]) -> str:
    s, steps = entry["scores"], entry["steps"]
    budget = " + ".join(f"{steps[k]} {k}" for k in ("align", "finetune") if steps.get(k)) or "–"
    purity = s.get("sync_vs_young", {}).get("knn_purity")
    more = "".join(f" {_fmt(s[f'r2_at_{x:g}']['cmd'])} | {_fmt(s[f'r2_at_{x:g}']['hr'])} |" for x in extra)
    return (
        f"| {name} | {s['dim']} | {budget} | {_fmt(s['few_shot_r2_cmd']['mean'])} | "
        f"{_fmt(s['few_shot_r2_hr']['mean'])} |{more} {_fmt(s.get('detectable_auc_probe'))} | "
        f"{_fmt(s['binary_auc_probe'])} | {_fmt(s['binary_ap_probe'])} | {_fmt(purity)} |"
    )


def render_ablation(f: dict) -> str:
    """One markdown table: every variant, then every baseline, with its optimiser steps."""
    pct = lambda x: f"{x * 100:g} %"  # noqa: E731
    extra = tuple(f["config"]["extra_fractions"])
    more = "".join(f" R² CMD ({pct(x)}) | R² HR ({pct(x)}) |" for x in extra)
    lines = [
        f"# Fusion ablation ({f['n_test']} test stars, {f['n_train']} training stars; frozen probes "
        f"of training.evaluate, few-shot R² on {pct(f['config']['fraction'])} of training labels, "
        f"{f['config']['seeds']} seeds"
        + ("; spectrum side = encoder output + 2 measured line indices" if f.get("measured_indices") else "")
        + ")",
        "",
        f"| fusion | dim | optimiser steps | R² CMD | R² HR |{more} detectable AUC (probe) "
        "| is_binary AUC (probe) | is_binary AP (probe) | sync/young kNN purity |",
        "|---|---|---|---|---|" + "---|---|" * len(extra) + "---|---|---|---|",
    ]
    lines += [_row(entry["label"], entry, extra) for entry in f["variants"].values()]
    lines += [_row(f"baseline: {name}", entry, extra) for name, entry in f["baselines"].items()]
    return "\n".join(lines) + "\n"
