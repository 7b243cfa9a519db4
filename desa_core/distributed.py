"""Batch statistics across data-parallel processes.

Under ``torchrun`` each process sees a shard of the global batch. Per-star losses need nothing
special (gradients are averaged across processes by the training loop), but batch statistics
(VICReg variance and covariance, the alignment covariance and variance hinge) must be computed
on the whole global batch or they change with the number of processes. ``gather_batch``
concatenates every process's rows with a gradient path back to the local rows, so a
multi-process step computes the same loss as a single process with the same global batch.
The reference code computed these statistics per GPU on 16 samples (SCIENCE.md section 1.6).
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor


def world_size() -> int:
    """Number of data-parallel processes (1 when not distributed)."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


class _GatherRows(torch.autograd.Function):
    """all_gather along dim 0; backward sums the gradient over processes and keeps the local rows."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:  # type: ignore[override]
        parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, x.contiguous())
        ctx.rank, ctx.rows = dist.get_rank(), x.shape[0]
        return torch.cat(parts, dim=0)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:  # type: ignore[override]
        grad = grad.contiguous()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        return grad[ctx.rank * ctx.rows : (ctx.rank + 1) * ctx.rows]


def gather_batch(x: Tensor) -> Tensor:
    """(b, ...) local rows -> (world * b, ...) global batch; identity in a single process.

    Every process must pass the same number of rows (the loop splits global batches evenly).
    """
    if world_size() == 1:
        return x
    return _GatherRows.apply(x)
