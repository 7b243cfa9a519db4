"""DesaService: the one face the dashboard, the CLI and notebooks use to apply a trained model.

    service = DesaService.load(path)
    vectors, table = service.embed_and_predict(lc, lc_mask, spec, spec_mask)
    found = service.neighbours(vectors[:1], k=10)  # found.rows, found.distances: (1, 10)

Inputs are NumPy arrays (memory-mapped arrays are fine; they are read batch by batch):
``lc`` (N, C, T) light-curve channels, ``lc_mask`` (N, T), ``spec`` (N, L) continuum-normalised
flux and ``spec_mask`` (N, L), masks True = valid.

Missing modality: a star whose mask is all False for one modality is still embedded, from the
other modality through the DualFormer, and flagged in the ``missing_modality`` column
("lightcurve", "spectrum" or ""). Its predictions are less certain than the intervals say;
the dashboard greys such stars. A star missing both modalities raises ``ValueError``.
Runs on CUDA when a GPU is present and on the CPU otherwise (``device="auto"``, the default);
pass ``device="cpu"`` or ``"cuda:N"`` to choose.

On the CPU, batches run side by side, one per intra-op thread that torch would use (its
``get_num_threads()``, so ``OMP_NUM_THREADS`` still rules), each batch on a single thread. Measured
on 2 shared cores (benchmarks/bench_embed.py): the same work split inside every operation by
OpenMP ran 3-4x slower than one thread as soon as other jobs took the cores, because every
operation waits at a barrier for the slowest thread; independent batches do not wait for each
other. Batches of 128 stars keep a stem's activations near the cache (256 or more ran slower per
star).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from desa_core import allocator
from desa_core.checkpoint import load_checkpoint
from desa_core.model import DesaModel
from desa_core.neighbours import NeighbourIndex, Neighbours

T = TypeVar("T")
R = TypeVar("R")


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


class DesaService:
    """A loaded DESA model with batched, inference-mode ``embed``, ``predict`` and ``neighbours``."""

    def __init__(
        self, model: DesaModel, *, metadata: dict[str, Any] | None = None, device: str = "auto"
    ) -> None:
        self.device = _device(device)
        if self.device.type == "cpu":
            allocator.tune()  # large activations reused from the heap, not mapped per batch
        self.model = model.to(self.device).eval()
        self.metadata = metadata or {}
        self._index: NeighbourIndex | None = None

    @classmethod
    def load(cls, path: Path, *, grids: Mapping[str, Any] | None = None, device: str = "auto") -> DesaService:
        """Load a checkpoint written by ``desa_core.checkpoint.save_checkpoint``.

        Pass the survey store's ``grids`` record to have a grid mismatch refused at load.
        """
        model, metadata = load_checkpoint(Path(path), grids=grids)
        return cls(model, metadata=metadata, device=device)

    @property
    def properties(self) -> tuple[str, ...]:
        return self.model.heads.properties

    def _tensor(self, array: np.ndarray, sl: slice, dtype: torch.dtype) -> torch.Tensor:
        # np.array copies the (possibly read-only, memory-mapped) slice into a writable batch.
        return torch.as_tensor(np.array(array[sl]), dtype=dtype, device=self.device)

    def _workers(self, workers: int | None) -> int:
        if self.device.type != "cpu":
            return 1
        return max(1, torch.get_num_threads() if workers is None else workers)

    def embed_and_predict(
        self,
        lc: np.ndarray,
        lc_mask: np.ndarray,
        spec: np.ndarray,
        spec_mask: np.ndarray,
        *,
        batch_size: int = 128,
        workers: int | None = None,
        progress: bool = True,
    ) -> tuple[np.ndarray, pd.DataFrame]:
        """Embeddings (N, D) float32 and a predictions table (one row per star).

        ``workers`` batches run side by side on the CPU, one thread each (default: torch's
        ``get_num_threads()``; see the module docstring); on a GPU one batch at a time.
        """
        n = len(lc)
        if not (len(lc_mask) == len(spec) == len(spec_mask) == n):
            raise ValueError("light-curve and spectrum arrays must have the same number of stars")

        @torch.inference_mode()
        def run(sl: slice) -> tuple[np.ndarray, pd.DataFrame]:
            out = self.model(
                self._tensor(lc, sl, torch.float32),
                self._tensor(lc_mask, sl, torch.bool),
                self._tensor(spec, sl, torch.float32),
                self._tensor(spec_mask, sl, torch.bool),
            )
            return out.embedding.float().cpu().numpy(), self._table(self.model.heads.to_physical(out.heads))

        batches = [slice(start, min(start + batch_size, n)) for start in range(0, n, batch_size)]
        results = run_batches(
            run, batches, workers=self._workers(workers), desc="embedding", progress=progress
        )
        vectors = [vectors for vectors, _ in results]
        table = pd.concat([part for _, part in results], ignore_index=True)
        table["missing_modality"] = _missing(np.asarray(lc_mask), np.asarray(spec_mask))
        return np.concatenate(vectors).astype(np.float32), table

    def embed(
        self,
        lc: np.ndarray,
        lc_mask: np.ndarray,
        spec: np.ndarray,
        spec_mask: np.ndarray,
        **kw: Any,
    ) -> np.ndarray:
        """Embeddings only, (N, D) float32."""
        return self.embed_and_predict(lc, lc_mask, spec, spec_mask, **kw)[0]

    def predict(
        self,
        lc: np.ndarray,
        lc_mask: np.ndarray,
        spec: np.ndarray,
        spec_mask: np.ndarray,
        **kw: Any,
    ) -> pd.DataFrame:
        """Per property ``pred_<name>`` (median), ``pred_<name>_lo``/``_hi`` (68 %), ``binary_prob``."""
        return self.embed_and_predict(lc, lc_mask, spec, spec_mask, **kw)[1]

    def _table(self, pred: Any) -> pd.DataFrame:
        cols: dict[str, np.ndarray] = {}
        for i, name in enumerate(pred.properties):
            cols[f"pred_{name}"] = pred.median[:, i].float().cpu().numpy()
            cols[f"pred_{name}_lo"] = pred.lower[:, i].float().cpu().numpy()
            cols[f"pred_{name}_hi"] = pred.upper[:, i].float().cpu().numpy()
        cols["binary_prob"] = pred.binary_prob.float().cpu().numpy()
        return pd.DataFrame(cols)

    def fit_neighbours(self, vectors: np.ndarray) -> NeighbourIndex:
        """Build the kNN index over the catalogue's embeddings (rows = catalogue rows)."""
        self._index = NeighbourIndex().fit(vectors)
        return self._index

    def neighbours(self, vectors: np.ndarray, k: int = 10) -> Neighbours:
        """Rows and distances (Q, k) of the k nearest catalogue stars for each query vector."""
        if self._index is None:
            raise RuntimeError("call fit_neighbours(catalogue_vectors) before neighbours()")
        return self._index.query(vectors, k)


def run_batches(
    run: Callable[[T], R], batches: list[T], *, workers: int, desc: str, progress: bool = True
) -> list[R]:
    """``[run(b) for b in batches]``, ``workers`` batches side by side on one intra-op thread each.

    The CPU pattern of the module docstring, shared by the embedding here and the training's
    cached encoder outputs (``training.stages.align.encode_all``). Grad mode is thread-local:
    ``run`` must set its own (``torch.inference_mode`` or ``torch.no_grad``) inside.
    """
    workers = max(1, min(workers, len(batches)))  # one batch alone keeps torch's threads
    with _one_thread_each(workers), ThreadPoolExecutor(workers) as pool:
        return list(
            tqdm(pool.map(run, batches), total=len(batches), desc=desc, unit="batch", disable=not progress)
        )


@contextmanager
def _one_thread_each(workers: int) -> Iterator[None]:
    """One intra-op thread per concurrent batch while ``workers`` > 1; torch's setting restored after."""
    if workers <= 1:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _missing(lc_mask: np.ndarray, spec_mask: np.ndarray) -> np.ndarray:
    has_lc = lc_mask.reshape(len(lc_mask), -1).any(axis=1)
    has_spec = spec_mask.reshape(len(spec_mask), -1).any(axis=1)
    if not (has_lc | has_spec).all():
        bad = np.flatnonzero(~(has_lc | has_spec))[:5]
        raise ValueError(f"stars at positions {bad.tolist()} have neither a light curve nor a spectrum")
    out = np.full(len(lc_mask), "", dtype=object)
    out[~has_lc] = "lightcurve"
    out[~has_spec] = "spectrum"
    return out
