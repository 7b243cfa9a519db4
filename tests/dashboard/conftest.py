"""Fixtures for dashboard tests: a small synthetic catalogue and Panel cleanup."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import panel as pn
import pytest

from benchmarks.fixtures import write_synthetic_survey
from dashboard.store import load_catalog


@pytest.fixture(autouse=True)
def _reset_panel() -> Iterator[None]:
    """Each test starts with empty Panel caches and no leftover views."""
    pn.state.clear_caches()
    yield
    pn.state.clear_caches()
    pn.state.kill_all_servers()


@pytest.fixture(scope="session")
def survey_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("survey") / "demo"
    write_synthetic_survey(root, n=600, seed=1)
    return root


@pytest.fixture
def catalog(survey_dir: Path) -> pd.DataFrame:
    return load_catalog(survey_dir)


@pytest.fixture
def grid() -> pd.DataFrame:
    """Nine points on a 3 x 3 grid (x, y in 0, 1, 2) plus one NaN row."""
    xs = [0.0, 1.0, 2.0] * 3 + [float("nan")]
    ys = [0.0] * 3 + [1.0] * 3 + [2.0] * 3 + [1.0]
    return pd.DataFrame({"x": xs, "y": ys})
