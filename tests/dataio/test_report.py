"""`desa simulate --report`: the PNG figures of a small simulated survey."""

from __future__ import annotations

from pathlib import Path

import pytest

from data.errors import DataError
from data.simulate.report import FIGURES, santos_catalogue, write_report


def test_report_writes_every_figure(tmp_path: Path, simulated_raw: Path) -> None:
    paths = write_report(simulated_raw, tmp_path / "report")
    assert [p.name for p in paths] == list(FIGURES)
    for path in paths:
        data = path.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000, path.name


def test_santos_catalogue_when_installed() -> None:
    santos = santos_catalogue()
    if santos is None:
        pytest.skip("star-privateer (optional extra 'report') is not installed")
    # Santos et al. 2019 (15,640 M/K) + 2021 (39,591 F/G) rotators (SCIENCE.md 3.1).
    assert len(santos) == 55_231
    assert santos["Prot"].median() == pytest.approx(19, abs=4)


def test_report_needs_a_simulated_survey(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"truth\.parquet"):
        write_report(tmp_path, tmp_path / "report")
