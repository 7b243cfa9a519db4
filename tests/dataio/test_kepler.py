"""Kepler light-curve reader: round trip, masking, corrupted files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from data.errors import DataError
from data.kepler import (
    is_kepler_lightcurve,
    kepler_filename,
    read_kepler_lightcurve,
    write_kepler_lightcurve,
)

#: The flags lightkurve's "default" quality bitmask drops (lightkurve ``KeplerQualityFlags``,
#: DEFAULT_BITMASK = 1130799): attitude tweak, safe mode, coarse point, Earth point, desaturation,
#: manual exclude, impulsive outlier, Argabrightening, thruster firing (Kepler Archive Manual
#: Table 2-3). Written out here, not taken from data/quality.py, so the reader is checked against it.
LIGHTKURVE_DEFAULT_FLAGS = (1, 2, 4, 8, 32, 256, 16384, 65536, 1048576)


def test_the_reader_masks_exactly_lightkurves_default_flags(tmp_path: Path) -> None:
    """One cadence per quality bit (0..20): the reader drops those of lightkurve's default mask."""
    n = 100
    time = 200.0 + 0.0204 * np.arange(n)
    quality = np.zeros(n, dtype=np.int32)
    quality[:21] = 1 << np.arange(21)
    path = tmp_path / "kplr000757450-2009350155506_llc.fits"
    write_kepler_lightcurve(
        path,
        time_bkjd=time,
        pdcsap_flux=np.full(n, 1e5),
        pdcsap_flux_err=np.full(n, 10.0),
        sap_flux=np.full(n, 9e4),
        sap_quality=quality,
        kic_id=757450,
        quarter=3,
    )
    rec = read_kepler_lightcurve(path)
    masked = sorted(int(flag) for flag in quality[~rec.valid])
    assert masked == list(LIGHTKURVE_DEFAULT_FLAGS)
    assert rec.valid[21:].all(), "unflagged cadences stay valid"


def test_round_trip_and_masks(kepler_file: Path) -> None:
    rec = read_kepler_lightcurve(kepler_file)
    assert rec.kic_id == 757450 and rec.quarter == 3
    assert rec.time_bkjd.size == 1495, "the 5 NaN-TIME rows are dropped"
    assert rec.n_nan_time == 5
    assert np.all(np.isfinite(rec.time_bkjd))
    assert not rec.valid[100:110].any(), "SAFE_MODE cadences must be masked"
    assert rec.valid[200], "a cosmic ray (128) is not in the default mask"
    nan_flux = ~np.isfinite(rec.flux)
    assert nan_flux.sum() == 1 and not rec.valid[nan_flux].any()
    assert rec.valid.sum() == 1495 - 10 - 1


def test_layout_matches_the_archive(kepler_file: Path) -> None:
    with fits.open(kepler_file) as hdul:
        assert [h.name for h in hdul] == ["PRIMARY", "LIGHTCURVE", "APERTURE"]
        primary, lc = hdul[0].header, hdul[1].header
        assert primary["TELESCOP"] == "Kepler" and "FluxExporter2PipelineModule" in primary["CREATOR"]
        assert primary["OBJECT"] == "KIC 757450" and primary["OBSMODE"] == "long cadence"
        assert lc["BJDREFI"] == 2454833 and lc["TIMEDEL"] == pytest.approx(0.02043359821692)
        assert hdul[1].columns["TIME"].format == "D" and hdul[1].columns["SAP_QUALITY"].format == "J"
        assert hdul[2].data.dtype == np.dtype(">i4")
    assert is_kepler_lightcurve(kepler_file)


def test_filename_format() -> None:
    assert kepler_filename(757450, 0.0) == "kplr000757450-2009001120000_llc.fits"


def test_truncated_file_names_the_path(kepler_file: Path, tmp_path: Path) -> None:
    bad = tmp_path / "truncated_llc.fits"
    bad.write_bytes(kepler_file.read_bytes()[: 2880 * 3])
    with pytest.raises(DataError, match=r"truncated_llc\.fits"):
        read_kepler_lightcurve(bad)


def test_missing_column_names_file_and_field(kepler_file: Path, tmp_path: Path) -> None:
    with fits.open(kepler_file) as hdul:
        hdul[1].columns.del_col("PDCSAP_FLUX")
        bad = tmp_path / "nocol_llc.fits"
        fits.HDUList(
            [
                hdul[0],
                fits.BinTableHDU.from_columns(hdul[1].columns, header=hdul[1].header, name="LIGHTCURVE"),
            ]
        ).writeto(bad)
    with pytest.raises(DataError, match=r"nocol_llc\.fits: LIGHTCURVE\.PDCSAP_FLUX"):
        read_kepler_lightcurve(bad)


def test_missing_hdu(kepler_file: Path, tmp_path: Path) -> None:
    bad = tmp_path / "nohdu_llc.fits"
    with fits.open(kepler_file) as hdul:
        fits.HDUList([hdul[0].copy()]).writeto(bad)
    with pytest.raises(DataError, match=r"nohdu_llc\.fits: LIGHTCURVE"):
        read_kepler_lightcurve(bad)


def test_tess_layout_with_quality_column(kepler_file: Path, tmp_path: Path) -> None:
    with fits.open(kepler_file) as hdul:
        primary = hdul[0].header.copy()
        primary["TELESCOP"], primary["MISSION"] = "TESS", "TESS"
        primary["CREATOR"] = ("1234 LightCurveExporterPipelineModule", "pipeline")
        primary["TICID"], primary["SECTOR"] = 987654, 14
        cols = hdul[1].columns
        cols.change_name("SAP_QUALITY", "QUALITY")
        table = fits.BinTableHDU.from_columns(cols, header=hdul[1].header, name="LIGHTCURVE")
        table.header["BJDREFI"] = 2457000
        path = tmp_path / "tess-s0014-lc.fits"
        fits.HDUList([fits.PrimaryHDU(header=primary), table]).writeto(path)
    rec = read_kepler_lightcurve(path)
    assert rec.kic_id == 987654 and rec.quarter == 14
    assert rec.time_bkjd[0] == pytest.approx(200.0 + 2457000 - 2454833)
    assert not rec.valid[100:110].any()
