"""The minimal FITS writer: astropy reads its files back exactly and finds nothing to fix."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from data import fitswrite


def test_cards_round_trip_through_astropy(tmp_path: Path) -> None:
    cards = [
        ("STR", "O'Brien", "a quote"),
        ("SHORT", "d", ""),
        ("FLAG", False, ""),
        ("BIG", 2_100_000_000_000_000_123, "above 2**53"),
        ("NEG", -1.25e-7, ""),
        ("WHOLE", 3.0, ""),
        ("LONGFLT", 1 / 3, "full precision"),
    ]
    table = [
        ("TIME", "D", "d", np.array([1.5, np.nan, 3.25])),
        ("FLUX", "E", "e-/s", np.array([1.0, 2.0, np.nan], np.float32)),
        ("Q", "J", "", np.array([0, 65536, -1], np.int32)),
        ("SPEC", "4E", "", np.arange(12, dtype=np.float32).reshape(3, 4)),
    ]
    image = np.arange(6, dtype=np.int32).reshape(2, 3)
    path = fitswrite.write_fits(
        tmp_path / "t.fits",
        [
            fitswrite.primary_hdu(cards),
            fitswrite.bintable_hdu(table, "LIGHTCURVE", [("TIMEDEL", 0.02043359821692, "[d]")]),
            fitswrite.image_hdu(image, "APERTURE"),
        ],
    )
    assert path.stat().st_size % 2880 == 0
    with fits.open(path) as hdul:
        hdul.verify("exception")
        head = hdul[0].header
        assert head["STR"] == "O'Brien" and head["SHORT"] == "d" and head["FLAG"] is False
        assert head["BIG"] == 2_100_000_000_000_000_123 and head["NEG"] == -1.25e-7
        assert head["WHOLE"] == 3.0 and head["LONGFLT"] == 1 / 3
        assert hdul[0].header.comments["BIG"] == "above 2**53"
        data = hdul["LIGHTCURVE"].data
        np.testing.assert_array_equal(data["TIME"], table[0][3])
        np.testing.assert_array_equal(data["FLUX"], table[1][3])
        np.testing.assert_array_equal(data["Q"], table[2][3])
        np.testing.assert_array_equal(data["SPEC"], table[3][3])
        assert hdul["LIGHTCURVE"].columns["TIME"].unit == "d"
        assert hdul["LIGHTCURVE"].header["TIMEDEL"] == 0.02043359821692
        np.testing.assert_array_equal(hdul["APERTURE"].data, image)


def test_primary_image(tmp_path: Path) -> None:
    image = np.random.default_rng(0).normal(size=(5, 7)).astype(np.float32)
    path = fitswrite.write_fits(tmp_path / "i.fits", [fitswrite.primary_hdu([("OBSID", 7, "")], image=image)])
    with fits.open(path) as hdul:
        hdul.verify("exception")
        np.testing.assert_array_equal(hdul[0].data, image)


def test_bad_values_are_refused() -> None:
    with pytest.raises(ValueError, match="NaN"):
        fitswrite.card("X", float("nan"))
    with pytest.raises(ValueError, match="keyword"):
        fitswrite.card("TOOLONGKEY", 1)
    with pytest.raises(ValueError, match="ASCII"):
        fitswrite.card("S", "Teff 5000 K ± 100")
    with pytest.raises(ValueError, match="TFORM"):
        fitswrite.bintable_hdu([("A", "D", "", np.zeros(3)), ("B", "D", "", np.zeros(4))], "T")
