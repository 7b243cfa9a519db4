"""Data-parallel training under ``torchrun`` (gloo on CPU, nccl on GPU).

``desa train --nproc-per-node N`` re-launches itself through ``torch.distributed.run``; each
process then calls ``setup()``, which joins the process group from the environment torchrun sets
(RANK, WORLD_SIZE, MASTER_ADDR, ...). The loop splits every global batch evenly across processes
(``local_rows``), averages gradients with one flat all-reduce after each backward pass
(``average_gradients``: what ``DistributedDataParallel`` does, done explicitly because a stage
trains a chosen subset of the model's modules), averages validation losses so that every process
takes the same early-stopping decision, and lets only rank 0 write files. Batch statistics inside
the losses are gathered across processes by ``desa_core.distributed.gather_batch``.
"""

from __future__ import annotations

import datetime
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import Tensor, nn

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistInfo:
    """The process's rank, the world size and the device it computes on."""

    rank: int = 0
    world: int = 1
    device: str = "cpu"

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup(device: str | None = None) -> DistInfo:
    """Join the torchrun process group when launched by torchrun; a single process otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    cuda = torch.cuda.is_available() if device is None else device.startswith("cuda")
    if world <= 1:
        return DistInfo(0, 1, device or ("cuda" if cuda else "cpu"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if cuda:
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if cuda else "gloo", timeout=datetime.timedelta(minutes=30))
    info = DistInfo(dist.get_rank(), dist.get_world_size(), f"cuda:{local_rank}" if cuda else "cpu")
    log.info("process %d of %d on %s", info.rank, info.world, info.device)
    return info


def current() -> DistInfo:
    """The running process's rank and world size (device as the process group implies)."""
    if not (dist.is_available() and dist.is_initialized()):
        return DistInfo()
    device = "cpu"
    if dist.get_backend() == "nccl":
        device = f"cuda:{torch.cuda.current_device()}"
    return DistInfo(dist.get_rank(), dist.get_world_size(), device)


def local_rows(batch: Tensor, info: DistInfo) -> Tensor:
    """The process's equal share of a global batch (up to world-1 trailing rows are left out)."""
    if info.world == 1:
        return batch
    per = len(batch) // info.world
    return batch[info.rank * per : (info.rank + 1) * per]


def broadcast_module(module: nn.Module) -> None:
    """Give every process rank 0's parameters and buffers."""
    if current().world == 1:
        return
    for tensor in list(module.parameters()) + list(module.buffers()):
        dist.broadcast(tensor.data, src=0)


def average_gradients(params: Iterable[nn.Parameter]) -> None:
    """Average the gradients of ``params`` over processes with one flat all-reduce."""
    info = current()
    if info.world == 1:
        return
    params = [p for p in params if p.requires_grad]
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    flat /= info.world
    offset = 0
    for p, g in zip(params, grads, strict=True):
        n = g.numel()
        p.grad = flat[offset : offset + n].view_as(g).clone()
        offset += n


def gather_rows(local: Tensor | None, n: int, per: int) -> Tensor:
    """All n rows, in order, on every process, from each process's contiguous share of ``per`` rows.

    The last shares may be shorter or empty (``local`` None). ``local`` carries no grad and neither
    does the result; at least one process must hold rows (their shape names the columns).
    """
    info = current()
    shape = torch.tensor(list(local.shape[1:]) if local is not None else [-1], device=info.device)
    shapes = [torch.empty_like(shape) for _ in range(info.world)]
    dist.all_gather(shapes, shape)
    cols = next(s.tolist() for s in shapes if s.tolist() != [-1])
    dtype = local.dtype if local is not None else torch.float32
    padded = torch.zeros((per, *cols), dtype=dtype, device=info.device)
    if local is not None:
        padded[: len(local)] = local
    parts = [torch.empty_like(padded) for _ in range(info.world)]
    dist.all_gather(parts, padded)
    return torch.cat(parts)[:n]


def mean_over_processes(value: float) -> float:
    """The mean of a float over processes (the value itself in a single process)."""
    info = current()
    if info.world == 1:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=info.device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return float(t.item() / info.world)


def mean_terms(terms: dict[str, float]) -> dict[str, float]:
    """Each named float averaged over processes, with one all-reduce."""
    info = current()
    if info.world == 1:
        return dict(terms)
    t = torch.tensor(list(terms.values()), dtype=torch.float64, device=info.device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return dict(zip(terms, (t / info.world).tolist(), strict=True))


def barrier() -> None:
    """Wait for every process (a no-op in a single process)."""
    if current().world > 1:
        dist.barrier()


def teardown() -> None:
    """End the process group, if one was started."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
