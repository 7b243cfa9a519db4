"""Find similar stars: k nearest neighbours in the learned embedding space (not the 2-D UMAP).

The index is the serving API's own kNN (``desa_core.neighbours.NeighbourIndex``: exact, on
standardised vectors; torch-free, so the dashboard may import it), built once per server process
and store generation from its ``arrays/embedding.npy`` and shared by every session of that
generation, like the catalogue (DASHBOARD.md section 2.3). ``SimilarStars`` is the ``similar``
callable of ``DashboardState``: ``similar(rows, k)`` answers ``similar(row, k)`` and
``similar(expression, k)`` in selection expressions.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from data.errors import DataError
from data.schema import EMBEDDING as EMBEDDING_ARRAY
from data.storage import SurveyStore
from desa_core.neighbours import NeighbourIndex, Neighbours

EMBEDDING = EMBEDDING_ARRAY.name


class SimilarStars:
    """kNN over the embedding of one survey; rows are catalogue ``row`` values (= embedding rows).

    Parameters
    ----------
    embedding
        ``(N, D)`` float array, row ``i`` is the star with catalogue ``row == i``.
    """

    def __init__(self, embedding: np.ndarray) -> None:
        self.index = NeighbourIndex().fit(embedding)

    @property
    def n_rows(self) -> int:
        """Stars in the embedding."""
        return self.index.n_rows

    def query(self, rows: np.ndarray | list[int], k: int) -> Neighbours:
        """The ``k`` stars nearest to the centroid of ``rows``, with distances (``NeighbourIndex.near_rows``).

        A single star's own row is left out; distances are in standardised embedding units.
        """
        return self.index.near_rows(rows, k)

    def __call__(self, rows: np.ndarray, k: int) -> np.ndarray:
        """The rows of the ``k`` most similar stars (see ``query``)."""
        return self.query(rows, k).rows


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
