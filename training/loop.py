"""One generic training loop for every stage: batches by star index, resumable, early stopping.

A stage supplies a ``step(rows, generator) -> dict`` returning ``loss`` and named terms for a batch
of catalogue rows. The loop owns everything else: the optimiser and cosine schedule, gradient
clipping, a NaN guard, validation each epoch, early stopping on the validation loss with the best
weights deep-copied, periodic atomic state files and exact resumption (the batch order of an
epoch is derived from the seed and the epoch, so a resumed epoch skips the batches it has done).
"""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from desa_core import allocator
from training import distributed
from training.config import StageConfig
from training.metrics import MetricLog
from training.run_state import load_state, save_state

log = logging.getLogger(__name__)

Step = Callable[[Tensor, torch.Generator], dict[str, Tensor]]


@dataclass
class StageResult:
    """What a stage did: epochs run, best validation loss, whether it stopped early, wall time."""

    name: str
    epochs: int
    best_val: float
    stopped_early: bool
    seconds: float


def _usable(batch: Tensor, world: int) -> bool:
    # Batch statistics (VICReg, covariances) need two stars or more in the global batch, and
    # every process needs the same number of rows.
    return len(batch) // world >= 1 and (len(batch) // world) * world > 1


def _batches(rows: Tensor, batch_size: int, seed: int, epoch: int, world: int = 1) -> list[Tensor]:
    """The global batches of an epoch, in an order fixed by the seed and the epoch."""
    order = torch.randperm(len(rows), generator=torch.Generator().manual_seed(seed * 100_003 + epoch))
    shuffled = rows[order]
    return [b for b in shuffled.split(batch_size) if _usable(b, world)]


def _process_seed(seed: int, info: distributed.DistInfo) -> int:
    """The seed of a process's random draws: the run's seed on rank 0 (and alone), another per rank."""
    return seed + 1_000_003 * info.rank


@torch.no_grad()
def _validate(step: Step, rows: Tensor, batch_size: int, seed: int) -> float:
    info = distributed.current()
    if len(rows) < 2:
        return math.nan
    gen = torch.Generator().manual_seed(_process_seed(seed, info))
    losses = [
        (step(distributed.local_rows(b, info), gen)["loss"].item(), len(b))
        for b in rows.split(batch_size)
        if _usable(b, info.world)
    ]
    if not losses:
        return math.nan
    local = sum(loss * n for loss, n in losses) / sum(n for _, n in losses)
    return distributed.mean_over_processes(local)


def run_loop(
    *,
    name: str,
    model: nn.Module,
    trainable: Iterable[nn.Module],
    extra_params: Iterable[nn.Parameter] = (),
    step: Step,
    train_rows: Tensor,
    val_rows: Tensor,
    config: StageConfig,
    state_path: Path,
    metrics: MetricLog,
    seed: int,
    progress: bool = True,
) -> StageResult:
    """Train ``trainable`` modules of ``model`` with ``step`` and return a ``StageResult``.

    Under torchrun every process runs this loop on its share of each global batch; gradients and
    validation losses are averaged across processes and only rank 0 writes state and metrics.
    """
    info = distributed.current()
    allocator.tune()  # every training path (stages, baselines, ablations): desa_core/allocator.py
    trainable = list(trainable)
    params = [p for m in trainable for p in m.parameters()] + list(extra_params)
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    batches_per_epoch = max(1, len(_batches(train_rows, config.batch_size, seed, 0, info.world)))
    max_steps = config.max_steps
    epochs = math.ceil(max_steps / batches_per_epoch) if max_steps > 0 else config.epochs
    total = max(1, max_steps if max_steps > 0 else epochs * batches_per_epoch)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(s, total) / total))
    )
    # Random masks and augmentations: each process draws its own for its own rows (rank 0 the
    # single-process stream), or rows i and i + b of a global batch would share one draw.
    generator = torch.Generator().manual_seed(_process_seed(seed, info))

    # Phase 1: resume from the last state file when there is one.
    epoch, done_in_epoch, global_step = 0, 0, 0
    best_val, best_state, bad_epochs, stopped = math.inf, None, 0, False
    saved = load_state(state_path)
    if saved is not None:
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        schedule.load_state_dict(saved["schedule"])
        generator.set_state(saved["generator"])
        epoch, done_in_epoch = saved["epoch"], saved["done_in_epoch"]
        global_step, best_val, bad_epochs = (
            saved["global_step"],
            saved["best_val"],
            saved["bad_epochs"],
        )
        best_state, stopped = saved.get("best_state"), saved.get("stopped", False)
        log.info("%s: resumed at epoch %d, batch %d", name, epoch, done_in_epoch)

    distributed.broadcast_module(model)  # identical starting weights in every process

    def checkpoint() -> None:
        if not info.is_main:
            return
        save_state(
            state_path,
            {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "schedule": schedule.state_dict(),
                "generator": generator.get_state(),
                "epoch": epoch,
                "done_in_epoch": done_in_epoch,
                "global_step": global_step,
                "best_val": best_val,
                "bad_epochs": bad_epochs,
                "best_state": best_state,
                "stopped": stopped,
            },
        )

    start = time.perf_counter()
    bar = tqdm(
        total=total,
        initial=min(global_step, total),
        desc=name,
        unit="step",
        disable=not (progress and info.is_main),
    )
    # Phase 2: epochs of training, validation, early stopping.
    while epoch < epochs and not stopped:
        model.eval()
        for module in trainable:
            module.train()
        for batch in _batches(train_rows, config.batch_size, seed, epoch, info.world)[done_in_epoch:]:
            if global_step >= total:
                break
            terms = step(distributed.local_rows(batch, info), generator)
            loss = terms["loss"]
            if not torch.isfinite(loss):
                raise FloatingPointError(f"{name}: non-finite loss at step {global_step}: {loss.item()}")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            distributed.average_gradients(params)
            torch.nn.utils.clip_grad_norm_(params, config.grad_clip)
            optimizer.step()
            schedule.step()
            done_in_epoch, global_step = done_in_epoch + 1, global_step + 1
            logged = distributed.mean_terms({k: float(v.detach()) for k, v in terms.items()})
            bar.update(1)
            bar.set_postfix(loss=f"{logged['loss']:.3f}")
            if info.is_main:
                metrics.write(stage=name, epoch=epoch, step=global_step, **logged)
            if global_step % config.checkpoint_every == 0:
                checkpoint()
        model.eval()
        val = _validate(step, val_rows, config.batch_size, seed)
        if info.is_main:
            metrics.write(stage=name, epoch=epoch, step=global_step, val_loss=val)
        if not math.isnan(val) and val < best_val - 1e-6:
            best_val, bad_epochs = val, 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            bad_epochs += 1
            stopped = bad_epochs >= config.patience and global_step >= config.min_steps
        epoch, done_in_epoch = epoch + 1, 0
        checkpoint()
    bar.close()

    # Phase 3: keep the best weights, not the last ones.
    if best_state is not None:
        model.load_state_dict(best_state)
    return StageResult(name, epoch, best_val, stopped, time.perf_counter() - start)
