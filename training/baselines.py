"""The four baselines DESA is compared with, and their fine-tuning with DESA's heads.

They are built from the same run on the same stars.

* ``lightcurve_only``: the pooled output of this run's pretrained light-curve encoder.
* ``spectrum_only``: the pooled output of this run's pretrained spectrum encoder.
* ``concat``: both pooled outputs side by side (each standardised), no fusion.
* ``clip``: the two pooled outputs aligned CLIP-style (Radford et al. 2021): one projection per
  modality trained with the symmetric InfoNCE loss on the training split by ``training.loop``
  (AdamW, cosine schedule, clipping), with the optimiser steps, batch size and lr of DESA's
  alignment stage and early stopping off, keeping the weights of the best validation epoch; the
  star's vector is the two unit projections side by side.

The encoders are shared with DESA, so the comparison isolates the fusion and alignment (the
reference code's baselines were broken; SCIENCE.md section 2). Frozen, every baseline is scored
by ``training.probes`` with the same probes as DESA's aligned embedding.

Fine-tuned (:func:`finetune_baseline`), a baseline gets what DESA's fine-tuning stage
(``training.stages.finetune``) gets: DESA's ``PropertyHeads``, the same labels (training split;
``data.schema.Property.sources``, ``training.tensors.BINARY_LABELS``), the same loss (Gaussian NLL + BCE), the
stage's optimiser steps, batch size, lr and patience through the same loop, and the same
calibration on the validation split. DESA's stage also trains its DualFormer and W, so the
baseline trains an adapter in front of the heads, an MLP from its vectors to the heads' input
width with about as many parameters as the DualFormer and W (:func:`adapter_width`). DESA keeps
its alignment loss as a regulariser while fine-tuning; a baseline has none.
"""

from __future__ import annotations

import dataclasses
import json
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from desa_core.config import HeadsConfig
from desa_core.heads import HeadOutput, Prediction, PropertyHeads
from desa_core.losses import binary_cross_entropy, gaussian_nll
from training.budgets import budget_steps, steps_taken
from training.config import FinetuneConfig, StageConfig
from training.loop import Step, run_loop
from training.metrics import MetricLog

#: Early stopping would cut CLIP's budget short; the loop still keeps the best validation weights.
NO_EARLY_STOP = 1_000_000


@dataclass(frozen=True)
class ClipConfig(StageConfig):
    """Budget of the CLIP baseline: the run's alignment stage's (:func:`clip_config`), no early stop."""

    dim: int = 32
    temperature: float = 0.07
    seed: int = 0
    patience: int = NO_EARLY_STOP


def clip_config(align: dict, *, dim: int, seed: int) -> ClipConfig:
    """CLIP's budget from a run's ``align`` config: its steps (or epochs), batch size, lr, clipping."""
    kept = ("epochs", "max_steps", "batch_size", "lr", "weight_decay", "grad_clip")
    return ClipConfig(dim=dim, seed=seed, **{k: align[k] for k in kept if k in align})


class ClipAligner(nn.Module):
    """One MLP projection per modality and a learnable temperature."""

    def __init__(self, lc_dim: int, spec_dim: int, dim: int, temperature: float) -> None:
        super().__init__()
        self.lc = nn.Sequential(nn.Linear(lc_dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))
        self.spec = nn.Sequential(nn.Linear(spec_dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))
        self.log_scale = nn.Parameter(torch.tensor(math.log(1.0 / temperature)))

    def forward(self, lc: Tensor, spec: Tensor) -> tuple[Tensor, Tensor]:
        return F.normalize(self.lc(lc), dim=-1), F.normalize(self.spec(spec), dim=-1)

    def loss(self, lc: Tensor, spec: Tensor) -> Tensor:
        """Symmetric InfoNCE: each star's spectrum must pick its own light curve, and back."""
        z_l, z_s = self(lc, spec)
        logits = self.log_scale.clamp(max=math.log(100.0)).exp() * z_s @ z_l.T
        target = torch.arange(len(lc), device=lc.device)
        return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


def _standardise(x: np.ndarray, train: np.ndarray) -> np.ndarray:
    mean, std = x[train].mean(axis=0), x[train].std(axis=0) + 1e-6
    return (x - mean) / std


def _train(
    name: str,
    model: nn.Module,
    step: Step,
    train: np.ndarray,
    val: np.ndarray,
    config: StageConfig,
    *,
    seed: int,
    progress: bool,
) -> tuple[int, list[float]]:
    """``training.loop.run_loop`` in a scratch folder; returns (steps taken, validation losses)."""
    with tempfile.TemporaryDirectory(prefix=f"desa-{name}-") as tmp:
        metrics = Path(tmp) / "metrics.jsonl"
        run_loop(
            name=name,
            model=model,
            trainable=[model],
            step=step,
            train_rows=torch.as_tensor(train),
            val_rows=torch.as_tensor(val),
            config=config,
            state_path=Path(tmp) / "state.pt",
            metrics=MetricLog(metrics),
            seed=seed,
            progress=progress,
        )
        records = [json.loads(line) for line in metrics.read_text(encoding="utf-8").splitlines()]
        history = [math.nan if r["val_loss"] is None else r["val_loss"] for r in records if "val_loss" in r]
        return steps_taken(metrics, name) or 0, history


def train_clip(
    lc: np.ndarray,
    spec: np.ndarray,
    train: np.ndarray,
    val: np.ndarray,
    config: ClipConfig,
    *,
    progress: bool = False,
) -> tuple[np.ndarray, dict]:
    """Train the CLIP aligner on ``train`` rows (best epoch on ``val``); return (N, 2*dim) vectors.

    The record holds the steps taken, the validation InfoNCE per epoch and the validation
    retrieval: the fraction of stars whose spectrum projection finds its own light curve among
    the ``batch_size`` stars of its validation batch, next to chance (1 / batch).
    """
    torch.manual_seed(config.seed)  # parameter initialisation, as in training.run
    lc_t = torch.as_tensor(_standardise(lc, train), dtype=torch.float32)
    spec_t = torch.as_tensor(_standardise(spec, train), dtype=torch.float32)
    model = ClipAligner(lc_t.shape[1], spec_t.shape[1], config.dim, config.temperature)

    def step(rows: Tensor, generator: torch.Generator) -> dict[str, Tensor]:
        return {"loss": model.loss(lc_t[rows], spec_t[rows])}

    steps, history = _train("clip", model, step, train, val, config, seed=config.seed, progress=progress)
    model.eval()
    with torch.no_grad():
        z_l, z_s = model(lc_t, spec_t)
        batches = [b for b in torch.as_tensor(val).split(config.batch_size) if len(b) > 1]
        hits = [(z_s[b] @ z_l[b].T).argmax(1).eq(torch.arange(len(b))).float().sum().item() for b in batches]
    n_val = sum(len(b) for b in batches)
    return torch.cat((z_s, z_l), dim=1).numpy(), {
        "budget_steps": budget_steps(dataclasses.asdict(config), len(train)),
        "steps": steps,
        "batch_size": config.batch_size,
        "lr": config.lr,
        "val_infonce": history,
        "val_retrieval": sum(hits) / n_val if n_val else None,
        "chance": len(batches) / n_val if n_val else None,  # 1 / batch size, averaged over stars
    }


def baseline_embeddings(
    lc_pooled: np.ndarray,
    spec_pooled: np.ndarray,
    train: np.ndarray,
    val: np.ndarray,
    clip: ClipConfig,
    *,
    progress: bool = False,
) -> tuple[dict[str, np.ndarray], dict]:
    """The four baseline vectors per star, and the CLIP training record."""
    clip_vectors, clip_info = train_clip(lc_pooled, spec_pooled, train, val, clip, progress=progress)
    embeddings = {
        "lightcurve_only": lc_pooled,
        "spectrum_only": spec_pooled,
        "concat": np.hstack((_standardise(lc_pooled, train), _standardise(spec_pooled, train))),
        "clip": clip_vectors,
    }
    return embeddings, clip_info


def adapter_width(in_features: int, out_features: int, params: int) -> int:
    """Hidden width h (at least O) of LayerNorm(F) → Linear(F, h) → GELU → Linear(h, O).

    The adapter then has about ``params`` parameters: 2F + (F + 1) h + (h + 1) O.
    """
    hidden = (params - 2 * in_features - out_features) / (in_features + 1 + out_features)
    return max(out_features, round(hidden))


class TunedBaseline(nn.Module):
    """(B, F) frozen baseline vectors -> trainable adapter (B, O) -> DESA's ``PropertyHeads``.

    ``hidden = 0``: no adapter, the heads read the vectors (DESA with ``tune_fusion = false``).
    """

    def __init__(self, in_features: int, out_features: int, hidden: int, heads: HeadsConfig) -> None:
        super().__init__()
        self.adapter: nn.Module = nn.Identity()
        if hidden > 0:
            self.adapter = nn.Sequential(
                nn.LayerNorm(in_features),
                nn.Linear(in_features, hidden),
                nn.GELU(),
                nn.Linear(hidden, out_features),
            )
        self.heads = PropertyHeads(heads, in_features=out_features if hidden > 0 else in_features)

    def forward(self, x: Tensor) -> HeadOutput:
        return self.heads(self.adapter(x))


def finetune_baseline(
    name: str,
    vectors: np.ndarray,
    labels: Tensor,
    binary: Tensor,
    train: np.ndarray,
    val: np.ndarray,
    *,
    config: FinetuneConfig,
    heads: HeadsConfig,
    out_features: int,
    adapter_params: int,
    seed: int,
    progress: bool = False,
) -> tuple[Prediction, dict]:
    """Fine-tune an adapter and DESA's heads on one baseline's vectors; predict every star.

    ``labels`` (N, P) are the physical labels of ``heads.properties`` with NaN where unknown,
    ``binary`` (N,) the binary label (NaN if unknown); only ``train`` rows supervise, ``val`` rows
    choose the best epoch and calibrate the intervals, as in ``training.stages.finetune``.
    ``adapter_params``: the adapter's parameter budget (DESA's DualFormer + W); 0 for none.
    """
    torch.manual_seed(seed)  # parameter initialisation, as in training.run
    x = torch.as_tensor(_standardise(vectors, train), dtype=torch.float32)
    hidden = adapter_width(x.shape[1], out_features, adapter_params) if adapter_params > 0 else 0
    model = TunedBaseline(x.shape[1], out_features, hidden, heads)
    model.heads.fit_scaling(labels[train])
    target = model.heads.standardise(labels)
    valid, target = torch.isfinite(target), torch.nan_to_num(target)
    binary_valid, binary_target = torch.isfinite(binary), torch.nan_to_num(binary)

    def step(rows: Tensor, generator: torch.Generator) -> dict[str, Tensor]:
        out = model(x[rows])
        nll = gaussian_nll(out.mean, out.log_var, target[rows], valid[rows])
        bce = binary_cross_entropy(out.binary_logit, binary_target[rows], binary_valid[rows])
        return {"loss": nll + bce, "nll": nll, "bce": bce}

    steps, _ = _train(f"finetune_{name}", model, step, train, val, config, seed=seed, progress=progress)
    model.eval()
    with torch.no_grad():
        if len(val):
            model.heads.calibrate(model(x[val]), labels[val])
        prediction = model.heads.to_physical(model(x))
    return prediction, {
        "trains": f"adapter ({hidden} hidden) + heads" if hidden else "heads",
        "batch_size": config.batch_size,
        "lr": config.lr,
        "budget_steps": budget_steps(dataclasses.asdict(config), len(train)),
        "steps": steps,
        "adapter_hidden": hidden,
        "trainable_params": sum(p.numel() for p in model.parameters()),
    }
