"""Embed the catalogue with a trained model: vectors, predictions with intervals and a 2-D layout.

Writes the ``embedding`` array and adds ``pred_*``, ``binary_prob``, ``missing_modality``,
``umap_x`` and ``umap_y`` to the catalogue, and records the checkpoint hash and the layout
parameters in the manifest, so the dashboard and exports can name the model behind a figure.

The stars are embedded in chunks of :data:`TASK_ROWS` rows, each a task of the Dask engine
(``data.engine``): a pure function of the checkpoint, the input array files and its rows, whose
worker loads the model once. The driver puts the chunks back in row order, so the vectors do not
depend on the number of workers; the UMAP layout is then fitted here.
"""

from __future__ import annotations

import functools
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from data import schema
from data.engine import open_engine
from data.provenance import file_sha256
from data.storage import SurveyStore
from desa_core.projection import Projector
from desa_core.serving import DesaService

log = logging.getLogger(__name__)

#: Stars per engine task: 32 batches of DesaService's 128, so the batches are those of one process.
TASK_ROWS = 4096


@dataclass
class EmbedSummary:
    """Stars embedded, embedding width, layout mode, wall time and the model's share of it.

    ``model_seconds`` is the time of the engine's map over the tasks: model inference, with each
    worker's loading of the model but not the engine's start-up, the UMAP fit or the writes.
    ``benchmarks/bench_embed.py`` divides the stars by it to compare worker counts.
    """

    n_stars: int
    dim: int
    layout: dict
    checkpoint_sha256: str
    seconds: float
    model_seconds: float = float("nan")


@dataclass(frozen=True)
class _Rows:
    """One embed task: the checkpoint, the store's grids (JSON), the input array files and the rows."""

    checkpoint: str
    grids: str
    arrays: tuple[str, ...]
    start: int
    stop: int

    def __len__(self) -> int:
        return self.stop - self.start


@functools.lru_cache(maxsize=2)
def _service(checkpoint: str, grids: str) -> DesaService:
    """The model, loaded once per worker process (checked against the store's grids)."""
    return DesaService.load(Path(checkpoint), grids=json.loads(grids))


def _embed_rows(task: _Rows) -> tuple[np.ndarray, pd.DataFrame]:
    """Embeddings and predictions of one task's rows, read from the memory-mapped input arrays."""
    inputs = [
        np.load(path, mmap_mode="r", allow_pickle=False)[task.start : task.stop] for path in task.arrays
    ]
    # One intra-op thread per batch, batches side by side: the same sums in any worker or process.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _service(task.checkpoint, task.grids).embed_and_predict(
            *inputs, workers=threads, progress=False
        )
    finally:
        torch.set_num_threads(threads)


def embed_survey(
    store: SurveyStore,
    checkpoint: Path,
    *,
    max_fit: int = 100_000,
    random_state: int = 42,
    progress: bool = True,
    workers: int | None = None,
    scheduler: str | None = None,
) -> EmbedSummary:
    """Embed every catalogue star with ``checkpoint`` and write the results into ``store``.

    ``workers`` and ``scheduler`` choose the Dask engine (``data.engine``): worker processes of a
    local cluster (default: every CPU core, or 1 on a GPU or for one task's rows), or a running
    scheduler whose workers see the store and the checkpoint.
    """
    start = time.perf_counter()
    # One new generation: the embedding, the catalogue's new columns and the manifest become
    # visible together (data/generations.py); until then readers see the previous generation.
    with store.new_generation("embed") as new:
        grids = json.dumps(new.read_manifest().get("grids"))
        model = str(Path(checkpoint).resolve())
        service = _service(model, grids)  # refuses a grid mismatch before any task runs
        arrays = tuple(str(new.array_path(array.name)) for array in schema.INPUT_ARRAYS)
        n = len(new.read_array(schema.INPUT_ARRAYS[0].name))
        tasks = [
            _Rows(model, grids, arrays, first, min(first + TASK_ROWS, n)) for first in range(0, n, TASK_ROWS)
        ]
        if len(tasks) <= 1 or torch.cuda.is_available():
            workers = 1
        with (
            tqdm(total=n, desc="embedding", unit="star", disable=not progress) as bar,
            open_engine(workers, scheduler) as engine,
        ):
            model_start = time.perf_counter()
            parts = list(engine.map_chunks(_embed_rows, tasks, bar=bar))
            model_seconds = time.perf_counter() - model_start
        vectors = np.concatenate([v for v, _ in parts]).astype(np.float32)
        table = pd.concat([t for _, t in parts], ignore_index=True)
        projector = Projector(max_fit=max_fit, random_state=random_state, progress=progress)
        log.info("fitting the UMAP layout of %d stars", len(vectors))
        coords = projector.fit_transform(vectors)
        new.write_array(schema.EMBEDDING.name, vectors.astype(schema.EMBEDDING.dtype))
        table["umap_x"], table["umap_y"] = coords[:, 0], coords[:, 1]
        table["missing_modality"] = pd.Categorical(table["missing_modality"])
        new.update_catalog(table)
        sha = file_sha256(Path(checkpoint))
        new.update_manifest(
            embed={
                "checkpoint": str(checkpoint),
                "checkpoint_sha256": sha,
                "run": service.metadata.get("run"),
                "git_commit": service.metadata.get("git_commit"),
                "dim": int(vectors.shape[1]),
                "layout": projector.params_,
                "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }
        )
    return EmbedSummary(
        len(vectors),
        int(vectors.shape[1]),
        projector.params_,
        sha,
        time.perf_counter() - start,
        model_seconds,
    )
