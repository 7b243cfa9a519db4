"""The four training stages, each a ``run(model, data, config, context) -> StageResult``."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from training.loop import StageResult, run_loop
from training.metrics import MetricLog

if TYPE_CHECKING:
    import torch
    from torch import Tensor, nn

    from desa_core.model import DesaModel
    from training.tensors import SurveyTensors


@dataclass
class StageContext:
    """Where a stage writes (run folder, metrics), its seed and whether to show progress."""

    run_dir: Path
    seed: int
    metrics: MetricLog
    progress: bool = True
    _encoded: tuple[tuple, tuple[Tensor, Tensor]] | None = field(default=None, repr=False)

    def encoded(self, model: DesaModel, data: SurveyTensors) -> tuple[Tensor, Tensor]:
        """The frozen encoders' pooled outputs for every star, computed once per run.

        Alignment and fine-tuning both train on them; the second stage reuses the first one's
        while the encoders' weights are the same bytes (a digest of them, ~10 ms, is the key:
        loading a best state rewrites the weights in place without changing them) and the
        tensors are the same objects.
        """
        from training.stages.align import encode_all  # the stage modules import this one

        digest = hashlib.sha1()
        for module in (model.lightcurve_encoder, model.spectrum_encoder):
            for tensor in module.state_dict().values():
                digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        key = (id(data), id(model), digest.hexdigest())
        if self._encoded is None or self._encoded[0] != key:
            self._encoded = (key, encode_all(model, data, progress=self.progress))
        return self._encoded[1]

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
