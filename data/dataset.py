"""Star-level splits and the torch ``Dataset`` over a survey store.

Splits hash the star identifier (never the row or the file), so a star is in one split in every
training stage, and a star keeps its split when the catalogue is re-ordered or grows.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from data import schema
from data.errors import DataError
from data.storage import SurveyStore

SPLITS = ("train", "val", "test")
INPUT_ARRAYS = schema.INPUT_ARRAYS


def _unit_interval(star_id: str, seed: int) -> float:
    digest = hashlib.blake2b(f"{seed}:{star_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64


def assign_splits(
    star_ids: Iterable[object],
    *,
    seed: int,
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15),
) -> np.ndarray:
    """Assign train/val/test by a hash of each star id (stable, order-independent).

    Parameters
    ----------
    star_ids
        One identifier per star (e.g. the KIC id); converted with ``str``.
    seed
        Changes the assignment as a whole.
    fractions
        Expected train, val and test fractions (normalised).

    Returns
    -------
    numpy.ndarray
        (N,) array of ``"train"``, ``"val"`` or ``"test"`` (dtype object).
    """
    edges = np.cumsum(np.asarray(fractions, dtype=float) / float(np.sum(fractions)))
    u = np.array([_unit_interval(str(s), seed) for s in star_ids])
    index = np.minimum(np.searchsorted(edges, u, side="right"), len(SPLITS) - 1)
    return np.asarray(SPLITS, dtype=object)[index]


class StarDataset(Dataset):
    """Per-star model inputs and (optionally) labels from a survey store.

    Inputs are the preprocessed arrays only; labels come from the truth table when present, else
    from the catalogue, and are returned separately with a finite-value mask. Arrays are opened
    memory-mapped on first access in each process (so DataLoader workers do not copy them).

    Parameters
    ----------
    store
        The survey store (after ``ingest_survey``).
    rows
        Catalogue rows in this dataset (e.g. one split).
    label_columns
        Truth or catalogue columns returned as ``labels``.
    """

    def __init__(
        self,
        store: SurveyStore,
        rows: Sequence[int] | np.ndarray,
        label_columns: Sequence[str] = (),
    ) -> None:
        self.root = Path(store.root)
        self.rows = np.asarray(rows, dtype=np.int64)
        self.label_columns = tuple(label_columns)
        self.labels = self._load_labels(store)
        self._arrays: dict[str, np.ndarray] | None = None

    def _load_labels(self, store: SurveyStore) -> np.ndarray:
        catalog = store.read_catalog()
        truth = store.read_truth()
        table = catalog if truth is None else catalog[["row"]].merge(truth, on="row", how="left")
        table = table.set_index("row")
        cols = []
        for name in self.label_columns:
            source = table if name in table.columns else catalog.set_index("row")
            if name not in source.columns:
                raise DataError(store.truth_path, name, "label column not in the truth table or catalogue")
            cols.append(source[name].to_numpy(dtype=np.float64))
        if not cols:
            return np.zeros((len(catalog), 0), dtype=np.float32)
        return np.stack(cols, axis=1).astype(np.float32)

    def _open(self) -> dict[str, np.ndarray]:
        if self._arrays is None:
            store = SurveyStore(self.root)
            self._arrays = {array.name: store.read_array(array.name) for array in INPUT_ARRAYS}
        return self._arrays

    def __len__(self) -> int:
        return int(self.rows.size)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        row = int(self.rows[index])
        arrays = self._open()
        labels = self.labels[row]
        item = {a.name: torch.from_numpy(np.array(arrays[a.name][row], dtype=a.dtype)) for a in INPUT_ARRAYS}
        return item | {
            "labels": torch.from_numpy(np.nan_to_num(labels, nan=0.0)),
            "label_mask": torch.from_numpy(np.isfinite(labels)),
            "row": torch.tensor(row, dtype=torch.int64),
        }

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_arrays"] = None  # reopen memory maps in the worker
        return state
