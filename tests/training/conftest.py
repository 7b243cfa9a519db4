"""Fixtures of the training tests: the synthetic training store of ``benchmarks.fixtures``."""

from __future__ import annotations

from pathlib import Path

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
