"""NeighbourIndex: k nearest neighbours in embedding space (scikit-learn estimator style)."""

from __future__ import annotations

import numpy as np
from sklearn.neighbors import NearestNeighbors


class NeighbourIndex:
    """Exact kNN over standardised embeddings.

    Parameters
    ----------
    metric
        Any scikit-learn metric; ``euclidean`` on standardised vectors by default.
    """

    def __init__(self, *, metric: str = "euclidean") -> None:
        self.metric = metric

    def fit(self, vectors: np.ndarray) -> NeighbourIndex:
        """Index (N, E) vectors; returns self."""
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or not np.isfinite(vectors).all():
            raise ValueError("NeighbourIndex.fit needs a finite (N, E) array")
        self.mean_ = vectors.mean(axis=0)
        self.scale_ = vectors.std(axis=0) + 1e-6
        self.nn_ = NearestNeighbors(metric=self.metric).fit((vectors - self.mean_) / self.scale_)
        self.n_ = len(vectors)
        return self

    def query(self, vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Return (distances, rows), each (Q, k), nearest first."""
        vectors = np.atleast_2d(np.asarray(vectors, dtype=np.float32))
        k = min(k, self.n_)
        dist, rows = self.nn_.kneighbors((vectors - self.mean_) / self.scale_, n_neighbors=k)
        return dist.astype(np.float32), rows.astype(np.int32)
