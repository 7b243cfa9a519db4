"""The four training stages, each a ``run(model, data, config, context) -> StageResult``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from training.loop import StageResult, run_loop
from training.metrics import MetricLog


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
