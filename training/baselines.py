"""The four baselines DESA is compared with, built from the same run on the same stars.

* ``lightcurve_only``: the pooled output of this run's pretrained light-curve encoder.
* ``spectrum_only``: the pooled output of this run's pretrained spectrum encoder.
* ``concat``: both pooled outputs side by side (each standardised), no fusion.
* ``clip``: the two pooled outputs aligned CLIP-style (Radford et al. 2021): one projection per
  modality trained with the symmetric InfoNCE loss on the training split, with the same epochs,
  batch size and output width as DESA's alignment stage; the star's vector is the two unit
  projections side by side.

The encoders are shared with DESA, so the comparison isolates the fusion and alignment (the
reference code's baselines were broken; SCIENCE.md section 2). Every baseline is scored by
``training.evaluate`` with the same probes as DESA.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass(frozen=True)
class ClipConfig:
    """Budget of the CLIP baseline (taken from the run's alignment stage)."""

    dim: int = 32
    epochs: int = 25
    batch_size: int = 128
    lr: float = 1e-3
    temperature: float = 0.07
    seed: int = 0


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


def train_clip(
    lc: np.ndarray, spec: np.ndarray, train: np.ndarray, val: np.ndarray, config: ClipConfig
) -> tuple[np.ndarray, dict]:
    """Train the CLIP aligner on ``train`` rows (best epoch on ``val``); return (N, 2*dim) vectors."""
    torch.manual_seed(config.seed)
    lc_t = torch.as_tensor(_standardise(lc, train), dtype=torch.float32)
    spec_t = torch.as_tensor(_standardise(spec, train), dtype=torch.float32)
    model = ClipAligner(lc_t.shape[1], spec_t.shape[1], config.dim, config.temperature)
    optimiser = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=1e-5)
    gen = torch.Generator().manual_seed(config.seed)
    train_t, val_t = torch.as_tensor(train), torch.as_tensor(val)
    best, best_state, history = math.inf, None, []
    for _epoch in range(config.epochs):
        model.train()
        order = train_t[torch.randperm(len(train_t), generator=gen)]
        for batch in order.split(config.batch_size):
            if len(batch) < 2:
                continue
            loss = model.loss(lc_t[batch], spec_t[batch])
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
        model.eval()
        with torch.no_grad():
            val_loss = np.mean(
                [model.loss(lc_t[b], spec_t[b]).item() for b in val_t.split(config.batch_size) if len(b) > 1]
                or [math.nan]
            )
        history.append(float(val_loss))
        if val_loss < best:
            best, best_state = val_loss, {k: v.clone() for k, v in model.state_dict().items()}
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    with torch.no_grad():
        z_l, z_s = model(lc_t, spec_t)
        retrieval = (z_s[val_t] @ z_l[val_t].T).argmax(1).eq(torch.arange(len(val_t))).float().mean()
    vectors = torch.cat((z_s, z_l), dim=1).numpy()
    return vectors, {"val_infonce": history, "val_retrieval": float(retrieval)}


def baseline_embeddings(
    lc_pooled: np.ndarray,
    spec_pooled: np.ndarray,
    train: np.ndarray,
    val: np.ndarray,
    clip: ClipConfig,
) -> tuple[dict[str, np.ndarray], dict]:
    """The four baseline vectors per star, and the CLIP training record."""
    clip_vectors, clip_info = train_clip(lc_pooled, spec_pooled, train, val, clip)
    embeddings = {
        "lightcurve_only": lc_pooled,
        "spectrum_only": spec_pooled,
        "concat": np.hstack((_standardise(lc_pooled, train), _standardise(spec_pooled, train))),
        "clip": clip_vectors,
    }
    return embeddings, clip_info
