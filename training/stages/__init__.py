"""The four training stages, each a ``run(model, data, config, context) -> StageResult``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from training.loop import StageResult, run_loop
from training.metrics import MetricLog

if TYPE_CHECKING:
    import torch
    from torch import Tensor, nn


@dataclass
class StageContext:
    """Where a stage writes (run folder, metrics), its seed and whether to show progress."""

    run_dir: Path
    seed: int
    metrics: MetricLog
    progress: bool = True

    def state_path(self, stage: str) -> Path:
        return self.run_dir / "state" / f"{stage}.pt"

    def loop(self, name: str, **kwargs: Any) -> StageResult:
        """``run_loop`` with this run's state file, metrics log, seed and progress setting."""
        return run_loop(
            name=name,
            state_path=self.state_path(name),
            metrics=self.metrics,
            seed=self.seed,
            progress=self.progress,
            **kwargs,
        )

    def pretrain(
        self,
        name: str,
        *,
        model: nn.Module,
        encoder: nn.Module,
        pretrainer: nn.Module,
        inputs: Tensor,
        mask: Tensor,
        target: Tensor,
        valid: Tensor,
        train_rows: Tensor,
        val_rows: Tensor,
        config: Any,
    ) -> StageResult:
        """Train one encoder and its pretraining head on (inputs, mask) rows against (target, valid).

        A batch's terms are ``pretrainer(encoder, inputs[rows], mask[rows], target[rows],
        valid[rows])``; only the encoder and the pretrainer train.
        """

        def step(rows: Tensor, generator: torch.Generator) -> dict[str, Tensor]:
            batch = (inputs[rows], mask[rows], target[rows], valid[rows])
            return pretrainer(encoder, *batch, generator=generator)

        return self.loop(
            name,
            model=model,
            trainable=[encoder, pretrainer],
            step=step,
            train_rows=train_rows,
            val_rows=val_rows,
            config=config,
        )
