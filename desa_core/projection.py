"""Projector: the 2-D UMAP layout of the embeddings, fitted once and applied many times.

Up to ``max_fit`` stars the layout is a plain UMAP fit. Above it UMAP is fitted on a seeded random
sample, which keeps its fitted coordinates, and the other stars are placed in that layout chunk by
chunk (a tqdm bar on request). A star is placed where ``umap.UMAP.transform`` starts it: at the
membership-weighted mean of its neighbours among the fitted stars (one sparse product here; umap
0.5 loops over the stars in Python, ~80 µs each). By default that is all (``transform_epochs=0``):
at 10^5 stars it is ~10× faster than following it with umap's 30 optimisation epochs and, on the
benchmark's synthetic embeddings, no less trustworthy (``benchmarks/bench_umap.py`` measures it).
``transform_epochs=None`` adds the epochs as umap's ``transform`` runs them. The choice and its
parameters are recorded in ``params_`` for the manifest.

Under umap's small-data size (``SMALL``, 4096) umap finds the exact neighbours from all pairwise
distances, computed by sklearn calling umap's numba metric once per pair from Python: ~24 s for the
2,500 stars of the demo survey, most of ``make demo``'s layout time. A fit of all stars under that
size is given the same exact neighbours from sklearn's brute-force search instead (vectorised,
0.04 s), as umap's ``precomputed_knn``; the fuzzy graph and the layout are umap's own.
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import numpy as np
import scipy.sparse

#: Stars placed per chunk: bounds the memory of the neighbour graph and paces the progress bar.
CHUNK = 50_000
#: umap-learn 0.5's small-data size: below it a fit uses exact neighbours (all pairwise distances).
SMALL = 4096
#: Queries per block of the exact search (~30 MB of float64 differences at k=15, 128 dimensions).
_QUERY_BLOCK = 2048


def exact_neighbours(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's ``k`` nearest rows of ``x`` (itself first), Euclidean: (indices int32, distances float32).

    What umap's small-data path finds from its full distance matrix, by sklearn's brute-force search.
    """
    return _neighbours(x, x, k)


def _neighbours(queries: np.ndarray, fitted: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest ``fitted`` rows of each query: (indices int32, distances float32).

    sklearn's brute-force search (float64) picks them; their distances are then taken directly
    (the search's |a|² + |b|² - 2a·b leaves a star ~1e-3 from itself in float32, and umap's
    memberships start from each star's first non-zero distance).
    """
    from sklearn.neighbors import NearestNeighbors

    fitted64 = fitted.astype(np.float64)
    search = NearestNeighbors(n_neighbors=k, algorithm="brute").fit(fitted64)
    idx = np.empty((len(queries), k), dtype=np.int32)
    dists = np.empty((len(queries), k), dtype=np.float32)
    for start in range(0, len(queries), _QUERY_BLOCK):  # bounds the (block, k, dim) differences
        block = queries[start : start + _QUERY_BLOCK].astype(np.float64)
        near = search.kneighbors(block, return_distance=False)
        idx[start : start + len(block)] = near
        dists[start : start + len(block)] = np.linalg.norm(block[:, None, :] - fitted64[near], axis=2)
    return idx, dists


class Projector:
    """UMAP layout of (N, E) embeddings with a recorded sample-and-transform policy."""

    def __init__(
        self,
        *,
        n_neighbors: int = 15,
        min_dist: float = 0.1,
        max_fit: int = 100_000,
        random_state: int = 42,
        transform_epochs: int | None = 0,
        chunk_size: int = CHUNK,
        progress: bool = False,
        verbose: bool = False,
    ) -> None:
        """Set the layout recipe.

        ``transform_epochs``: 0 = the weighted mean alone; None = umap's own rule (30 epochs, or
        100 when placing 10,000 stars or fewer); n = n epochs. ``chunk_size``: stars placed per
        call of the neighbour search, part of the recipe above ``max_fit`` (pynndescent's seeded
        search runs one random stream through the queries of a call). ``progress``: a tqdm bar over
        the chunks. ``verbose``: umap's own stage and epoch messages during the fit.
        """
        if transform_epochs is not None and transform_epochs < 0:
            raise ValueError(f"transform_epochs must be None or >= 0, not {transform_epochs}")
        self.n_neighbors = n_neighbors
        self.min_dist = min_dist
        self.max_fit = max_fit
        self.random_state = random_state
        self.transform_epochs = transform_epochs
        self.chunk_size = max(1, int(chunk_size))
        self.progress = progress
        self.verbose = verbose

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
            n_jobs=1,  # what a random_state makes umap use anyway (it warns when told otherwise)
            verbose=self.verbose,
        )
        epochs = None
        neighbours = "umap"
        self.exact_fit_: np.ndarray | None = None
        start = time.perf_counter()
        if n > self.max_fit:
            rng = np.random.default_rng(self.random_state)
            sample = np.sort(rng.choice(n, self.max_fit, replace=False))
            self.umap_.fit(x[sample])
            fitted = time.perf_counter()
            rest = np.ones(n, dtype=bool)
            rest[sample] = False
            coords = np.empty((n, 2), dtype=np.float32)
            coords[sample] = self.umap_.embedding_
            epochs = self._epochs(int(rest.sum()))
            coords[rest] = self._place(x[rest], epochs)
            mode = "sample_and_transform"
        elif n < SMALL and n > self.umap_.n_neighbors:
            self.umap_.precomputed_knn = exact_neighbours(x, self.umap_.n_neighbors)
            with warnings.catch_warnings():
                # "precomputed_knn[2] is not an NNDescent object": umap could not place new stars
                # in this fit; _graph does, as umap's small-data transform would.
                warnings.filterwarnings("ignore", message="precomputed_knn")
                coords = self.umap_.fit_transform(x)
            self.exact_fit_ = x  # placements search these stars exactly too (_graph)
            neighbours = "exact"
            fitted = time.perf_counter()
            mode = "fit_all"
        else:
            coords = self.umap_.fit_transform(x)
            fitted = time.perf_counter()
            mode = "fit_all"
        #: Wall time of the fit and of the placement (kept out of ``params_``: not reproducible).
        self.seconds_ = {"fit_s": fitted - start, "place_s": time.perf_counter() - fitted}
        self.params_: dict[str, Any] = {
            "method": "umap",
            "mode": mode,
            "n_fit": int(min(n, self.max_fit)),
            "n_total": int(n),
            "n_neighbors": self.umap_.n_neighbors,
            "min_dist": self.min_dist,
            "random_state": self.random_state,
            "standardised": True,
            "neighbours": neighbours,
        }
        if epochs is not None:
            self.params_["transform_epochs"] = epochs
            self.params_["chunk_size"] = self.chunk_size
        return np.asarray(coords, dtype=np.float32)

    def transform(self, vectors: np.ndarray) -> np.ndarray:
        """Place new stars in the fitted layout, (M, E) -> (M, 2)."""
        x = (np.asarray(vectors, dtype=np.float32) - self.mean_) / self.scale_
        return self._place(x, self._epochs(len(x)))

    def _epochs(self, n_placed: int) -> int:
        """Optimisation epochs per placed star.

        umap's rule counts the stars of one call, so it is applied to all stars placed together,
        never per chunk (chunking must not change the rule).
        """
        if self.transform_epochs is not None:
            return self.transform_epochs
        return 100 if n_placed <= 10_000 else 30

    def _place(self, x: np.ndarray, epochs: int) -> np.ndarray:
        """Standardised (M, E) vectors -> (M, 2), chunk by chunk (bounded memory, visible progress)."""
        from tqdm.auto import tqdm

        out = np.empty((len(x), 2), dtype=np.float32)
        starts = range(0, len(x), self.chunk_size)
        for start in tqdm(starts, desc="UMAP placement", unit="chunk", disable=not self.progress):
            stop = min(start + self.chunk_size, len(x))
            out[start:stop] = self._place_chunk(x[start:stop], epochs)
        return out

    def _graph(self, x: np.ndarray) -> scipy.sparse.coo_matrix:
        """The (M, n_fit) fuzzy membership graph of standardised stars against the fitted ones.

        umap's ``transform`` in graph mode, or, after a fit given exact neighbours (which leaves umap
        no search index), the same steps as umap's small-data ``transform``: exact neighbours among
        the fitted stars, ``smooth_knn_dist`` with one less local connectivity, bipartite memberships.
        """
        model = self.umap_
        fitted = getattr(self, "exact_fit_", None)
        if fitted is None:
            mode = model.transform_mode
            model.transform_mode = "graph"
            try:
                return scipy.sparse.coo_matrix(model.transform(x))
            finally:
                model.transform_mode = mode
        from umap.umap_ import compute_membership_strengths, smooth_knn_dist

        k = model._n_neighbors
        idx, dists = _neighbours(np.asarray(x, dtype=np.float32), fitted, k)
        connectivity = max(0.0, model.local_connectivity - 1.0)
        sigmas, rhos = smooth_knn_dist(dists, float(k), local_connectivity=connectivity)
        rows, cols, vals, _ = compute_membership_strengths(idx, dists, sigmas, rhos, bipartite=True)
        return scipy.sparse.coo_matrix((vals, (rows, cols)), shape=(len(x), len(fitted)))

    def _place_chunk(self, x: np.ndarray, epochs: int) -> np.ndarray:
        """umap's ``transform`` for one chunk, through its public pieces only.

        ``transform_mode="graph"`` makes umap return the (M, n_fit) membership graph of the chunk
        (the index query and fuzzy memberships of ``transform``); the rest follows
        ``UMAP.transform`` of umap-learn 0.5: weighted-mean start, edges weaker than 1/epochs
        dropped, ``optimize_layout_euclidean`` against the fixed fitted layout with a quarter of
        the learning rate, seeded with ``transform_seed`` (each star's random stream starts from its
        own start coordinates, so stars do not interact in the epochs).
        """
        from sklearn.utils import check_random_state
        from umap.layouts import optimize_layout_euclidean
        from umap.umap_ import find_ab_params

        model = self.umap_
        graph = self._graph(x)
        fitted = np.asarray(model.embedding_, dtype=np.float32)
        start = weighted_mean_placement(graph.tocsr(), fitted)
        if epochs == 0 or graph.nnz == 0:
            return start
        # umap scales by the largest membership of the call; that is 1 whenever a fitted star is
        # among the placed ones (always, in umap's transform of all stars). Fixing it at 1 makes a
        # star's placement depend on that star alone, not on its chunk or on the stars around it.
        keep = graph.data >= 1.0 / epochs
        head, tail, weight = graph.row[keep], graph.col[keep], graph.data[keep]
        n_samples = epochs * (weight / np.float32(1.0))  # as make_epochs_per_sample with max 1
        epochs_per_sample = float(epochs) / n_samples.astype(np.float64)
        a, b = (model.a, model.b) if model.a and model.b else find_ab_params(model.spread, model.min_dist)
        int32 = np.iinfo(np.int32)  # umap's seed range: (min + 1, max - 1)
        rng_state = check_random_state(model.transform_seed).randint(int32.min + 1, int32.max - 1, 3)
        return optimize_layout_euclidean(
            start,
            fitted.copy(),
            head,
            tail,
            epochs,
            graph.shape[1],
            epochs_per_sample,
            a,
            b,
            rng_state.astype(np.int64),
            model.repulsion_strength,
            model.learning_rate / 4.0,
            model.negative_sample_rate,
            False,  # parallel: off, so the layout is the same on every run
            verbose=False,
        )


def weighted_mean_placement(graph: scipy.sparse.csr_matrix, fitted: np.ndarray) -> np.ndarray:
    """umap's ``init_graph_transform`` as one sparse product: (M, n_fit) memberships -> (M, 2).

    A row with a membership of exactly 1 (a duplicate of a fitted star) takes that star's
    coordinates (the first such column, as umap does); a row without neighbours becomes NaN.
    """
    graph = graph.tocsr()
    graph.sum_duplicates()  # canonical: sorted columns, so "first" means the lowest column
    sums = np.asarray(graph.sum(axis=1)).ravel()
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.asarray(graph @ fitted.astype(np.float64)) / sums[:, None]
    exact = graph.data == 1
    if exact.any():
        rows = np.repeat(np.arange(graph.shape[0]), np.diff(graph.indptr))[exact]
        cols = graph.indices[exact]
        first = np.unique(rows, return_index=True)[1]  # rows ascend, so the first of each row
        out[rows[first]] = fitted[cols[first]]
    out[sums == 0] = np.nan
    return out.astype(np.float32)
