"""Run the training stages in order, skipping finished ones, and write the model checkpoint.

The run folder ``<survey>/models/<run name>/`` holds ``config.json`` (the resolved config and git
commit), ``metrics.jsonl``, ``state/<stage>.pt`` (resumable stage state) and ``model.pt`` (a DESA
checkpoint, rewritten after every stage, whose metadata lists the finished stages).

``--restart`` trains the new run in ``models/.<run>.restart`` beside the old one, which stays
usable (``desa embed``, a server) until the new run has finished; then the two are swapped by
renames. A kill between those renames is repaired by the next ``train`` (the old run comes back).
One ``train`` at a time per run: ``models/.<run>.lock``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from data import schema
from data.atomic import clean_temp_files, exclusive_lock, fsync_dir
from data.storage import SurveyStore, atomic_write_text
from desa_core import allocator
from desa_core.checkpoint import load_checkpoint, save_checkpoint
from desa_core.config import DesaConfig
from desa_core.model import DesaModel
from training import distributed
from training.config import STAGES, TrainConfig
from training.loop import StageResult
from training.metrics import MetricLog
from training.stages import StageContext, align, finetune, pretrain_lightcurve, pretrain_spectrum
from training.tensors import load_survey_tensors

log = logging.getLogger(__name__)

STAGE_MODULES = {
    "pretrain_lightcurve": pretrain_lightcurve,
    "pretrain_spectrum": pretrain_spectrum,
    "align": align,
    "finetune": finetune,
}


class RunExistsError(RuntimeError):
    """A run folder with saved state exists and neither resume nor restart was asked for."""


class GridMismatchError(ValueError):
    """The survey's spectra are not on the grid of the model being trained."""


@dataclass
class TrainSummary:
    """The checkpoint written and what each stage did."""

    checkpoint: Path
    stages: list[StageResult] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    seconds: float = 0.0


def git_commit() -> str:
    """The current git commit of the code, or "unknown" outside a checkout."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).resolve().parent,
            timeout=5,
        )
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def run_dir(store: SurveyStore, config: TrainConfig) -> Path:
    """The run folder ``<survey>/models/<run name>``."""
    return store.models_dir / config.name


def train(
    config: TrainConfig,
    store: SurveyStore,
    *,
    resume: bool = False,
    restart: bool = False,
    stages: tuple[str, ...] = STAGES,
    progress: bool = True,
    device: str | None = None,
) -> TrainSummary:
    """Train (or resume) the run named by ``config`` on the survey in ``store``.

    Runs as one process, or as one of several under torchrun (``training.distributed``): then
    every process trains on its share of each batch and only rank 0 writes files. ``device``
    defaults to CUDA when present, else the CPU.
    """
    info = distributed.setup(device)
    allocator.tune()  # a stem's large activations from the heap, not mapped per step (a CPU gain)
    store = store.snapshot()  # every read of the run sees one store generation
    final = run_dir(store, config)
    _check_grid(DesaConfig.preset(config.model), store)  # before any run state is written
    final.parent.mkdir(parents=True, exist_ok=True)
    lock = exclusive_lock(final.parent / f".{final.name}.lock", f"the run {final}")
    with lock if info.is_main else contextlib.nullcontext():
        if info.is_main:
            _repair_swap(final)
        distributed.barrier()
        replacing = restart and final.is_dir() and any(final.iterdir())
        folder = final.with_name(f".{final.name}.restart") if replacing else final
        if info.is_main:
            if replacing:
                shutil.rmtree(folder, ignore_errors=True)  # what a killed --restart left
            if folder.exists() and any(folder.iterdir()) and not resume and not restart:
                raise RunExistsError(
                    f"{folder}: a run with this name exists; pass --resume to continue it or --restart "
                    "to replace it (the old run stays until the new one has finished)"
                )
            folder.mkdir(parents=True, exist_ok=True)
            clean_temp_files(folder)  # of a killed write; nothing else writes this run now
        distributed.barrier()
        summary = _train_in(folder, config, store, info, stages=stages, progress=progress)
        if replacing and info.is_main:
            _swap_in(folder, final)
            summary.checkpoint = final / "model.pt"
        distributed.barrier()
    if info.world > 1:
        distributed.teardown()
    return summary


def _repair_swap(final: Path) -> None:
    """Finish or undo a ``--restart`` swap that a kill cut short (see the module docstring)."""
    old = final.with_name(f".{final.name}.old")
    if not old.exists():
        return
    if final.exists():
        shutil.rmtree(old)  # the swap was done; only the old run's removal was cut short
    else:
        os.rename(old, final)  # cut between the two renames: the old run comes back
        log.warning("%s: an interrupted --restart was undone; the previous run is back", final)


def _swap_in(new: Path, final: Path) -> None:
    """Replace the run ``final`` by the finished run ``new``; the old one is removed last."""
    old = final.with_name(f".{final.name}.old")
    os.rename(final, old)
    os.rename(new, final)
    fsync_dir(final.parent)
    shutil.rmtree(old)
    log.info("%s replaced by the new run", final)


def _train_in(
    folder: Path,
    config: TrainConfig,
    store: SurveyStore,
    info: distributed.DistInfo,
    *,
    stages: tuple[str, ...],
    progress: bool,
) -> TrainSummary:
    """Train (or resume) the stages into the run folder ``folder``."""
    torch.manual_seed(config.seed)  # parameter initialisation; batches use their own generators
    checkpoint = folder / "model.pt"
    model, done = _initial_model(config, checkpoint)
    _check_grid(model.config, store)  # a resumed checkpoint may come from another grid
    model.to(info.device)
    commit = git_commit()  # once per run, not once per stage
    if info.is_main:
        atomic_write_text(
            folder / "config.json",
            json.dumps(
                {
                    "train": config.to_dict(),
                    "model": model.config.to_dict(),
                    "git_commit": commit,
                    "processes": info.world,
                    "device": info.device,
                },
                indent=2,
            ),
        )
    data = load_survey_tensors(store, schema.PROPERTY_NAMES).to(info.device)
    ctx = StageContext(folder, config.seed, MetricLog(folder / "metrics.jsonl"), progress)
    summary = TrainSummary(checkpoint, skipped=[s for s in stages if s in done])
    start = time.perf_counter()
    for name in STAGES:
        if name not in stages or name in done:
            continue
        log.info("stage %s", name)
        result = STAGE_MODULES[name].run(model, data, config.stage(name), ctx)
        summary.stages.append(result)
        done.append(name)
        if info.is_main:
            metadata = _metadata(store, config, done, summary, commit)
            save_checkpoint(checkpoint, model, metadata=metadata)
            if name == "align":  # kept for the evaluation's "aligned only" ablation
                save_checkpoint(folder / "aligned.pt", model, metadata=metadata)
        distributed.barrier()
    summary.seconds = time.perf_counter() - start
    return summary


def _check_grid(model_config: DesaConfig, store: SurveyStore) -> None:
    """Refuse a survey whose arrays are not on the grids the model's inputs are built for."""
    grids = store.read_manifest().get("grids") or _array_grids(store)
    if problem := schema.grid_mismatch(model_config.input_grid, grids):
        raise GridMismatchError(f"{store.manifest_path}: {problem}")


def _array_grids(store: SurveyStore) -> dict[str, int]:
    """The grid lengths read off the arrays, for a manifest from before ``grids`` was recorded."""
    lc, spec = store.read_array(schema.LC.name), store.read_array(schema.SPEC.name)
    return {"lc_channels": lc.shape[1], "lc_length": lc.shape[2], "spec_length": spec.shape[1]}


def _initial_model(config: TrainConfig, checkpoint: Path) -> tuple[DesaModel, list[str]]:
    if checkpoint.is_file():
        model, metadata = load_checkpoint(checkpoint)
        return model, list(metadata.get("stages_done", []))
    return DesaModel(config.model_config()), []


def _metadata(
    store: SurveyStore, config: TrainConfig, done: list[str], summary: TrainSummary, commit: str
) -> dict:
    manifest = store.read_manifest()
    return {
        "run": config.name,
        "stages_done": list(done),
        "stage_results": [asdict(r) for r in summary.stages],
        "train_config": config.to_dict(),
        "git_commit": commit,
        "survey": str(store.root),
        "grids": manifest.get("grids", {}),
        "ingest": manifest.get("ingest", {}),
    }
