"""The one kNN (desa_core/neighbours.py): serving and the dashboard get the same rows and distances."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dashboard.similar import SimilarStars
from desa_core.neighbours import NeighbourIndex

ROOT = Path(__file__).resolve().parents[2]


def _vectors() -> np.ndarray:
    return np.random.default_rng(0).normal(size=(200, 8)).astype(np.float32) * np.arange(1, 9)


def test_query_gives_rows_and_distances_nearest_first() -> None:
    x = _vectors()
    found = NeighbourIndex().fit(x).query(x[:3], k=5)
    assert found.rows.shape == found.distances.shape == (3, 5)
    assert found.rows.dtype == np.int64 and found.distances.dtype == np.float32
    np.testing.assert_array_equal(found.rows[:, 0], [0, 1, 2])
    assert (np.diff(found.distances, axis=1) >= 0).all()
    # Standardised: the distance is the Euclidean one after dividing each dimension by its std.
    z = (x - x.mean(0)) / (x.std(0) + 1e-6)
    np.testing.assert_allclose(found.distances[0, 1], np.linalg.norm(z[found.rows[0, 1]] - z[0]), rtol=1e-5)
    assert NeighbourIndex().fit(x[:4]).query(x[0], k=10).rows.shape == (1, 4), "k is capped at N"


def test_the_dashboard_answers_with_the_serving_index() -> None:
    x = _vectors()
    index = NeighbourIndex().fit(x)
    dashboard = SimilarStars(x).query([7], 6)
    served = index.query(x[7], 7)  # the star itself comes first, then its six neighbours
    np.testing.assert_array_equal(dashboard.rows, served.rows[0, 1:])
    np.testing.assert_array_equal(dashboard.distances, served.distances[0, 1:])
    assert isinstance(SimilarStars(x).index, NeighbourIndex)


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="finite"):
        NeighbourIndex().fit(np.array([[0.0, np.nan]]))
    with pytest.raises(ValueError, match=r"\(N, E\)"):
        NeighbourIndex().fit(np.zeros((0, 3)))
    with pytest.raises(ValueError, match="k must be at least 1"):
        NeighbourIndex().fit(_vectors()).near_rows([3], 0)


def test_the_dashboard_can_import_it_without_torch() -> None:
    code = "import sys, dashboard.similar; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", "dashboard.similar loads torch (through desa_core.neighbours?)"
