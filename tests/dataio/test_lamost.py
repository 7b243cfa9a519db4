"""LAMOST LRS reader: both layouts, masks, corrupted files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from data.errors import DataError
from data.lamost import is_lamost_spectrum, lamost_filename, lamost_grid, read_lamost_spectrum


def test_grid() -> None:
    grid = lamost_grid()
    assert grid.size == 3909
    assert grid[0] == pytest.approx(3700.0, abs=0.1) and grid[-1] == pytest.approx(9099.1, abs=0.2)


def test_filename_format() -> None:
    assert lamost_filename(56000, "KP001N", 3, 7) == "spec-56000-KP001N_sp03-007.fits"


def test_round_trip_both_layouts(lamost_file: Path) -> None:
    assert is_lamost_spectrum(lamost_file)
    rec = read_lamost_spectrum(lamost_file)
    assert rec.obsid == 123456789
    assert rec.helio_rv_kms == pytest.approx(-12.5) and rec.snr_g == pytest.approx(42.5)
    np.testing.assert_allclose(rec.wavelength_aa, lamost_grid(), rtol=1e-6)
    assert rec.flux.shape == rec.ivar.shape == rec.mask.shape == (3909,)
    assert not rec.mask[1000:1005].any(), "ANDMASK != 0 is bad"
    assert not rec.mask[2000], "IVAR == 0 is bad"
    assert rec.mask.sum() == 3909 - 6
    assert 60 < rec.flux[np.argmin(np.abs(rec.wavelength_aa - 6564.6))] < 70


def test_table_layout_structure(tmp_path: Path, lamost_file: Path) -> None:
    with fits.open(lamost_file) as hdul:
        if len(hdul) == 1:
            assert hdul[0].data.shape == (5, 3909) and "COEFF0" in hdul[0].header
            assert hdul[0].header["COEFF1"] == pytest.approx(1e-4, rel=1e-3)
        else:
            assert hdul[0].data is None and len(hdul[1].data) == 1
            assert set(hdul[1].columns.names) >= {
                "FLUX",
                "IVAR",
                "WAVELENGTH",
                "ANDMASK",
                "ORMASK",
                "NORMALIZATION",
            }
        assert hdul[0].header["TELESCOP"] == "LAMOST" and hdul[0].header["CLASS"] == "STAR"


def test_truncated_file_names_the_path(lamost_file: Path, tmp_path: Path) -> None:
    bad = tmp_path / "truncated.fits"
    bad.write_bytes(lamost_file.read_bytes()[: 2880 * 2])
    with pytest.raises(DataError, match=r"truncated\.fits"):
        read_lamost_spectrum(bad)


def test_missing_column(tmp_path: Path, rng: np.random.Generator, lamost_header: dict) -> None:
    n = 100
    cols = [
        fits.Column("FLUX", f"{n}E", array=np.ones((1, n))),
        fits.Column("WAVELENGTH", f"{n}E", array=np.ones((1, n))),
    ]
    hdr = fits.Header()
    hdr["TELESCOP"], hdr["OBSID"] = "LAMOST", 1
    bad = tmp_path / "noivar.fits"
    fits.HDUList([fits.PrimaryHDU(header=hdr), fits.BinTableHDU.from_columns(cols)]).writeto(bad)
    with pytest.raises(DataError, match=r"noivar\.fits: HDU1\.IVAR"):
        read_lamost_spectrum(bad)
