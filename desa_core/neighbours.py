"""Nearest neighbours in embedding space: the one kNN of the serving API and the dashboard.

Exact kNN (scikit-learn) on standardised vectors: each dimension is divided by its standard
deviation over the indexed stars, so that no dimension dominates the distance because of its scale.
Every answer is a :class:`Neighbours` (rows and distances, by name, nearest first).

``DesaService.fit_neighbours`` / ``neighbours`` query with vectors (new stars against a catalogue);
the dashboard's "find similar" and ``similar()`` query with catalogue rows (:meth:`near_rows`).
The module imports no torch, so the dashboard may import it (STYLE.md section 2): ``desa_core``
loads nothing on import.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.neighbors import NearestNeighbors

#: Added to each dimension's standard deviation, so a constant dimension does not divide by zero.
SCALE_FLOOR = 1e-6


@dataclass(frozen=True)
class Neighbours:
    """Catalogue rows (int64) and standardised distances (float32), nearest first.

    Shapes: (Q, k) for :meth:`NeighbourIndex.query`, (k,) for :meth:`NeighbourIndex.near_rows`.
    """

    rows: np.ndarray
    distances: np.ndarray


class NeighbourIndex:
    """Exact kNN over standardised embeddings; row i of the fitted vectors is catalogue row i.

    Parameters
    ----------
    metric
        Any scikit-learn metric; ``euclidean`` on standardised vectors by default.
    """

    def __init__(self, *, metric: str = "euclidean") -> None:
        self.metric = metric

    def fit(self, vectors: np.ndarray) -> NeighbourIndex:
        """Index (N, E) vectors, N > 0 and all finite; returns self.

        Raises
        ------
        ValueError
            Not a finite (N, E) array with N > 0.
        """
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or len(vectors) == 0:
            raise ValueError(f"an embedding is an (N, E) array with N > 0, got shape {vectors.shape}")
        if not np.isfinite(vectors).all():
            raise ValueError("an embedding to index must be finite (it holds NaN or infinite values)")
        self.vectors_ = vectors
        self.mean_ = vectors.mean(axis=0)
        self.scale_ = vectors.std(axis=0) + SCALE_FLOOR
        self.nn_ = NearestNeighbors(metric=self.metric).fit(self._standardise(vectors))
        return self

    @property
    def n_rows(self) -> int:
        """Stars indexed."""
        return len(self.vectors_)

    def _standardise(self, vectors: np.ndarray) -> np.ndarray:
        return (vectors - self.mean_) / self.scale_

    def query(self, vectors: np.ndarray, k: int) -> Neighbours:
        """The ``k`` indexed stars nearest to each of (Q, E) ``vectors`` (k capped at N): (Q, k)."""
        vectors = np.atleast_2d(np.asarray(vectors, dtype=np.float32))
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        dist, rows = self.nn_.kneighbors(self._standardise(vectors), n_neighbors=min(k, self.n_rows))
        return Neighbours(rows.astype(np.int64), dist.astype(np.float32))

    def near_rows(self, rows: np.ndarray | list[int], k: int) -> Neighbours:
        """The ``k`` stars nearest to the centroid of indexed ``rows``: (k,), nearest first.

        For a single star the star itself is left out (its k neighbours); for several stars the
        centroid's k nearest are returned, members included.
        """
        rows = np.unique(np.asarray(rows, dtype=np.int64))
        if len(rows) == 0:
            raise ValueError("similar stars of an empty selection: select or focus a star first")
        if rows.min() < 0 or rows.max() >= self.n_rows:
            raise ValueError(f"rows must lie in 0..{self.n_rows - 1}; got {rows.min()}..{rows.max()}")
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        single = len(rows) == 1
        found = self.query(self.vectors_[rows].mean(axis=0), k + int(single))
        near, dist = found.rows[0], found.distances[0]
        if single:
            keep = near != rows[0]
            near, dist = near[keep][:k], dist[keep][:k]
        return Neighbours(near, dist)
