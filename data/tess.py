"""Recognise and read TESS SPOC light curves (``tess…-s_lc.fits`` 2-min, ``…_fast-lc.fits`` 20-s).

The SPOC layout is the Kepler one (``data.kepler``): a header-only PRIMARY with TELESCOP = TESS,
TICID and SECTOR, a LIGHTCURVE binary table (TIME in BTJD = BJD − 2457000, PDCSAP_FLUX, QUALITY,
...) and an APERTURE image. The 20-s files differ only in TIMEDEL and their number of rows, so one
reader serves both; times are converted to BKJD like every other light curve.
"""

from __future__ import annotations

from pathlib import Path

from astropy.io import fits

from data.kepler import LightCurveRecord, _is_ames_lightcurve, read_kepler_lightcurve
from data.quality import DEFAULT_BITMASK


def is_tess_header(header: fits.Header) -> bool:
    """True for the PRIMARY header of a TESS SPOC light curve (2-min or 20-s cadence)."""
    return _is_ames_lightcurve(header, "TESS", "LIGHTCURVEEXPORTER")


def tess_key(header: fits.Header) -> tuple[str, int] | None:
    """``("TESS", TIC)`` from TICID, or None without it."""
    return ("TESS", int(header["TICID"])) if "TICID" in header else None


def read_tess_lightcurve(path: Path, *, bitmask: int = DEFAULT_BITMASK) -> LightCurveRecord:
    """Read a TESS SPOC light curve; ``LightCurveRecord.kic_id`` holds the TIC, ``mission`` "TESS".

    Raises
    ------
    DataError
        Unreadable or truncated file, missing HDU, column or TICID keyword.
    """
    return read_kepler_lightcurve(path, bitmask=bitmask)
