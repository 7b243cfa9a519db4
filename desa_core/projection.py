"""Projector: the 2-D UMAP layout of the embeddings, fitted once and applied many times.

Above ``max_fit`` stars UMAP is fitted on a seeded random sample and the rest are placed with
``transform``; the choice and its parameters are recorded in ``params_`` for the manifest.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class Projector:
    """UMAP layout of (N, E) embeddings with a recorded sample-and-transform policy."""

    def __init__(
        self,
        *,
        n_neighbors: int = 15,
        min_dist: float = 0.1,
        max_fit: int = 100_000,
        random_state: int = 42,
    ) -> None:
        self.n_neighbors = n_neighbors
        self.min_dist = min_dist
        self.max_fit = max_fit
        self.random_state = random_state

    def fit_transform(self, vectors: np.ndarray) -> np.ndarray:
        """Fit on all stars (or a sample above ``max_fit``) and return (N, 2) float32 coordinates."""
        import umap  # deferred: importing umap costs seconds of numba start-up

        vectors = np.asarray(vectors, dtype=np.float32)
        n = len(vectors)
        self.mean_ = vectors.mean(axis=0)
        self.scale_ = vectors.std(axis=0) + 1e-6
        x = (vectors - self.mean_) / self.scale_
        self.umap_ = umap.UMAP(
            n_neighbors=min(self.n_neighbors, max(n - 1, 2)),
            min_dist=self.min_dist,
            random_state=self.random_state,
            init="spectral" if n > 10 else "random",
        )
        if n > self.max_fit:
            rng = np.random.default_rng(self.random_state)
            sample = np.sort(rng.choice(n, self.max_fit, replace=False))
            self.umap_.fit(x[sample])
            coords = self.umap_.transform(x)
            mode = "sample_and_transform"
        else:
            coords = self.umap_.fit_transform(x)
            mode = "fit_all"
        self.params_: dict[str, Any] = {
            "method": "umap",
            "mode": mode,
            "n_fit": int(min(n, self.max_fit)),
            "n_total": int(n),
            "n_neighbors": self.umap_.n_neighbors,
            "min_dist": self.min_dist,
            "random_state": self.random_state,
            "standardised": True,
        }
        return np.asarray(coords, dtype=np.float32)

    def transform(self, vectors: np.ndarray) -> np.ndarray:
        """Place new stars in the fitted layout, (M, E) -> (M, 2)."""
        x = (np.asarray(vectors, dtype=np.float32) - self.mean_) / self.scale_
        return np.asarray(self.umap_.transform(x), dtype=np.float32)
