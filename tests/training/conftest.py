"""Fixtures of the training tests: the synthetic training store of ``benchmarks.fixtures``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from benchmarks.fixtures import write_synthetic_store
from data.storage import SurveyStore


@pytest.fixture
def synthetic_store(tmp_path: Path) -> SurveyStore:
    return write_synthetic_store(tmp_path / "survey")


@pytest.fixture
def make_store():
    """``write_synthetic_store`` for tests that need several stores."""
    return write_synthetic_store


def paired_views(n: int = 300, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A hidden state z (n, 4) and two noisy linear views of it: "light curve" (n, 12), "spectrum" (n, 16)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, 4))  # the star's physical state, seen by both modalities
    lc = z @ rng.normal(size=(4, 12)) + 0.05 * rng.normal(size=(n, 12))
    spec = z @ rng.normal(size=(4, 16)) + 0.05 * rng.normal(size=(n, 16))
    return z, lc, spec
