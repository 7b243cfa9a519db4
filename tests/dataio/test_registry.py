"""registry.read dispatches on content and names unknown files."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from data.errors import DataError
from data.kepler import LightCurveRecord
from data.lamost import SpectrumRecord
from data.registry import identify, read


def test_dispatch(kepler_file: Path, lamost_file: Path, tmp_path: Path) -> None:
    assert isinstance(read(kepler_file), LightCurveRecord)
    assert isinstance(read(lamost_file), SpectrumRecord)
    gaia = tmp_path / "g.csv"
    pd.DataFrame(
        {
            "source_id": [1],
            "ra": [1.0],
            "dec": [1.0],
            "parallax": [1.0],
            "phot_g_mean_mag": [10.0],
            "kic_id": [5],
        }
    ).to_csv(gaia, index=False)
    assert identify(gaia) == "gaia_table"
    assert isinstance(read(gaia), pd.DataFrame)


def test_unknown_file_names_it(tmp_path: Path) -> None:
    unknown = tmp_path / "mystery.fits"
    unknown.write_bytes(b"not a fits file at all")
    with pytest.raises(DataError, match=r"mystery\.fits: format"):
        read(unknown)
    with pytest.raises(DataError, match=r"absent\.fits"):
        read(tmp_path / "absent.fits")
