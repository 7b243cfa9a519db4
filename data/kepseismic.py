"""Recognise and read KEPSEISMIC light curves: 4-year Kepler series corrected with KADACS.

KEPSEISMIC (García et al. 2011, 2014; MAST High Level Science Product) stitches a Kepler target's
quarters into one series for seismology and rotation work; the Santos et al. (2019, 2021)
rotation periods were measured on it. Its layout is not the pipeline's: ORIGIN = 'CEA & SSI', a
(N, 2) float64 PRIMARY image of TIME (BJD − 2454833) and FLUX (ppm around zero), and a first
extension of int16 flags per cadence (1: observed, other values: inpainted or no data). The
PRIMARY header keeps the pipeline's TELESCOP, KEPLERID and CREATOR, so a reader that looked at
those alone would take it for a light-curve file; NAXIS and ORIGIN tell it apart.

This module is the example of adding a reader: it and one ``register`` line in
``data/registry.py`` are the whole change.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from astropy.io import fits

from data.errors import DataError
from data.fitsread import read_fits
from data.kepler import LightCurveRecord

#: The flag of an observed cadence; inpainted gaps (the filter fills gaps up to 20 d) are not data.
OBSERVED = 1


def is_kepseismic_header(header: fits.Header) -> bool:
    """True for the PRIMARY header of a KEPSEISMIC series (CEA & SSI, TIME/FLUX image)."""
    return (
        str(header.get("TELESCOP", "")).strip().upper() == "KEPLER"
        and str(header.get("ORIGIN", "")).strip().upper() == "CEA & SSI"
        and int(header.get("NAXIS", 0)) == 2
        and int(header.get("NAXIS1", 0)) == 2
    )


def kepseismic_key(header: fits.Header) -> tuple[str, int] | None:
    """``("Kepler", KIC)``: the series is the Kepler target's light curve."""
    return ("Kepler", int(header["KEPLERID"])) if "KEPLERID" in header else None


def _series(hdul: fits.HDUList, path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """TIME, relative flux, observed flags and KIC of an open KEPSEISMIC file."""
    header = hdul[0].header
    image = hdul[0].data
    flags = hdul[1].data if len(hdul) > 1 and hdul[1].data is not None else None
    if image is None or image.ndim != 2 or image.shape[1] != 2:
        shape = None if image is None else image.shape
        raise DataError(path, "PRIMARY", f"image of shape {shape}; (N, 2) TIME, FLUX expected")
    if "KEPLERID" not in header:
        raise DataError(path, "PRIMARY.KEPLERID", "missing target identifier keyword")
    time = np.asarray(image[:, 0], dtype=np.float64)
    flux = 1.0 + 1e-6 * np.asarray(image[:, 1], dtype=np.float64)
    observed = np.ones(time.size, bool) if flags is None else np.asarray(flags) == OBSERVED
    return time, flux, observed, int(header["KEPLERID"])


def read_kepseismic(path: Path) -> LightCurveRecord:
    """Read a KEPSEISMIC series; flux becomes relative (1 + ppm·10⁻⁶), inpainted cadences invalid.

    Raises
    ------
    DataError
        Unreadable file, an image that is not (N, 2), or no KEPLERID.
    """
    path = Path(path)
    time, flux, observed, kic = read_fits(path, lambda hdul: _series(hdul, path))
    has_time = np.isfinite(time)
    valid = observed & np.isfinite(flux)
    return LightCurveRecord(
        time_bkjd=time[has_time],
        flux=flux[has_time],
        flux_err=np.full(int(has_time.sum()), np.nan),
        quality=np.where(observed, 0, 1)[has_time].astype(np.int64),
        kic_id=kic,
        quarter=-1,
        path=path,
        valid=valid[has_time],
        mission="Kepler",
        n_nan_time=int((~has_time).sum()),
    )
