"""Find similar stars: k nearest neighbours in the learned embedding space (not the 2-D UMAP).

The index (exact kNN on standardised vectors with scikit-learn, the metric of
``desa_core.neighbours.NeighbourIndex``; that module is not imported because the dashboard may only
import ``desa_core.serving``, which loads torch) is built once per server process and store
generation from its ``arrays/embedding.npy`` and shared by every session of that generation, like
the catalogue (DASHBOARD.md section 2.3). ``SimilarStars`` is the ``similar``
callable of ``DashboardState``: ``similar(rows, k)`` answers ``similar(row, k)`` and
``similar(expression, k)`` in selection expressions.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
from sklearn.neighbors import NearestNeighbors

from data.errors import DataError
from data.schema import EMBEDDING as EMBEDDING_ARRAY
from data.storage import SurveyStore

EMBEDDING = EMBEDDING_ARRAY.name


class SimilarStars:
    """kNN over the embedding of one survey; rows are catalogue ``row`` values (= embedding rows).

    Parameters
    ----------
    embedding
        ``(N, D)`` float array, row ``i`` is the star with catalogue ``row == i``.
    """

    def __init__(self, embedding: np.ndarray) -> None:
        vectors = np.asarray(embedding, dtype=np.float32)
        if vectors.ndim != 2 or len(vectors) == 0:
            raise ValueError(f"an embedding is an (N, D) array with N > 0, got shape {vectors.shape}")
        self.vectors = vectors
        self.mean = vectors.mean(axis=0)
        self.scale = vectors.std(axis=0) + 1e-6
        self.index = NearestNeighbors().fit((vectors - self.mean) / self.scale)

    @property
    def n_rows(self) -> int:
        return len(self.vectors)

    def query(self, rows: np.ndarray | list[int], k: int) -> tuple[np.ndarray, np.ndarray]:
        """``(rows, distances)`` of the ``k`` stars nearest to the centroid of ``rows``, nearest first.

        For a single star the star itself is left out (its k neighbours); for several stars the
        centroid's k nearest are returned, members included. Distances are in standardised
        embedding units.
        """
        rows = np.unique(np.asarray(rows, dtype=np.int64))
        if len(rows) == 0:
            raise ValueError("similar stars of an empty selection: select or focus a star first")
        if rows.min() < 0 or rows.max() >= self.n_rows:
            raise ValueError(f"rows must lie in 0..{self.n_rows - 1}; got {rows.min()}..{rows.max()}")
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        single = len(rows) == 1
        centroid = self.vectors[rows].mean(axis=0, keepdims=True)
        n = min(k + int(single), self.n_rows)
        dist, found = self.index.kneighbors((centroid - self.mean) / self.scale, n_neighbors=n)
        dist, found = dist[0].astype(np.float32), found[0].astype(np.int64)
        if single:
            keep = found != rows[0]
            dist, found = dist[keep][:k], found[keep][:k]
        return found, dist

    def __call__(self, rows: np.ndarray, k: int) -> np.ndarray:
        """The rows of the ``k`` most similar stars (see ``query``)."""
        return self.query(rows, k)[0]


#: Indexes kept per process (one per survey generation in use): our choice, as for the catalogue.
MAX_CACHED = 4
_CACHE: dict[tuple[str, int, int], SimilarStars] = {}
_LOCK = threading.Lock()


def similar_for_survey(
    survey_dir: Path, n_rows: int | None = None, *, generation: str | None = None
) -> SimilarStars | None:
    """The survey's ``SimilarStars``, built once per process; None when it has no embedding yet.

    ``generation`` pins the store generation (dashboard.store.session_generation); None: the
    current one.

    Raises
    ------
    data.errors.DataError
        When the embedding does not have one row per catalogue star (``n_rows``).
    """
    store = SurveyStore(Path(survey_dir).expanduser().resolve(), generation=generation)
    path = store.array_path(EMBEDDING)
    if not path.is_file():
        return None
    stat = path.stat()
    key = (str(path), stat.st_mtime_ns, stat.st_size)
    with _LOCK:
        found = _CACHE.get(key)
        if found is None:
            embedding = store.read_array(EMBEDDING)
            if embedding.ndim != 2:
                reason = f"shape {embedding.shape}, expected (N, D); re-run desa embed"
                raise DataError(path, EMBEDDING, reason)
            if not np.isfinite(embedding).all():
                raise DataError(path, EMBEDDING, "holds NaN or infinite values; re-run desa embed")
            found = SimilarStars(embedding)
            for old in [k for k in _CACHE if k[0] == key[0]]:
                del _CACHE[old]
            while len(_CACHE) >= MAX_CACHED:  # older generations of the survey
                del _CACHE[next(iter(_CACHE))]
            _CACHE[key] = found
    if n_rows is not None and found.n_rows != n_rows:
        raise DataError(
            path, EMBEDDING, f"{found.n_rows} rows for a catalogue of {n_rows} stars; re-run desa embed"
        )
    return found
