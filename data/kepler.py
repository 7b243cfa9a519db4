"""Read, write and recognise Kepler long-cadence light curves (``kplr…_llc.fits``).

The layout follows a real MAST file (``docs/SCIENCE.md`` section 5.1): a header-only PRIMARY HDU,
a ``LIGHTCURVE`` binary table (TIME in BKJD = BJD − 2454833, PDCSAP_FLUX, SAP_QUALITY, ...) and an
``APERTURE`` int32 image. K2 files share the layout; TESS SPOC files name the quality column
``QUALITY`` and count time from BJD 2457000, which the reader converts to BKJD.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from astropy.io import fits

from data.errors import DataError
from data.quality import DEFAULT_BITMASK, MASKED_WARNING_FRACTION

log = logging.getLogger(__name__)

BJDREF_KEPLER = 2454833.0
#: Long-cadence sampling: 270 frames × 6.02 s = 29.4 min (TIMEDEL of a real file).
LONG_CADENCE_D = 0.02043359821692
CREATOR = "17521 FluxExporter2PipelineModule"
# BJD 2454833.0 is 2009-01-01 12:00 (TDB; the few-second TDB-UTC offset is ignored in file names).
_BKJD_EPOCH = datetime(2009, 1, 1, 12, 0, 0)


@dataclass(frozen=True, eq=False)
class LightCurveRecord:
    """One light-curve file: every cadence with a finite TIME, and which of them are valid.

    ``valid`` is False where the flux is NaN or a masked quality bit is set; invalid fluxes are
    kept as read (never interpolated).
    """

    time_bkjd: np.ndarray
    flux: np.ndarray
    flux_err: np.ndarray
    quality: np.ndarray
    kic_id: int
    quarter: int
    path: Path
    valid: np.ndarray
    mission: str = "Kepler"
    n_nan_time: int = 0


def kepler_filename(kic_id: int, time_stop_bkjd: float) -> str:
    """Return the archive file name ``kplr{kic:09d}-{YYYYDDDHHMMSS}_llc.fits``."""
    stamp = _BKJD_EPOCH + timedelta(days=float(time_stop_bkjd))
    return f"kplr{int(kic_id):09d}-{stamp.strftime('%Y%j%H%M%S')}_llc.fits"


def _primary_header(kic_id: int, quarter: int, extra: dict[str, Any]) -> fits.Header:
    hdr = fits.Header()
    hdr["TELESCOP"] = ("Kepler", "telescope")
    hdr["INSTRUME"] = ("Kepler Photometer", "detector type")
    hdr["MISSION"] = ("Kepler", "mission name")
    hdr["OBJECT"] = (f"KIC {int(kic_id)}", "string version of KEPLERID")
    hdr["KEPLERID"] = (int(kic_id), "unique Kepler target identifier")
    hdr["QUARTER"] = (int(quarter), "Observing quarter")
    hdr["OBSMODE"] = ("long cadence", "observing mode")
    hdr["ORIGIN"] = ("NASA/Ames", "institution responsible for creating this file")
    hdr["CREATOR"] = (CREATOR, "pipeline job and program used")
    hdr["FILEVER"] = ("6.1", "file format version")
    # Archive order first; keys absent from ``extra`` are left out (FITS headers cannot hold NaN).
    order = ("RA_OBJ", "DEC_OBJ", "KEPMAG", "TEFF", "LOGG", "FEH", "RADIUS")
    for key in (*order, *sorted(set(extra) - set(order))):
        if key in extra and key not in hdr:
            hdr[key] = extra[key]
    return hdr


def write_kepler_lightcurve(
    path: Path,
    *,
    time_bkjd: np.ndarray,
    pdcsap_flux: np.ndarray,
    pdcsap_flux_err: np.ndarray,
    sap_flux: np.ndarray,
    sap_quality: np.ndarray,
    kic_id: int,
    quarter: int,
    header_extra: dict[str, Any] | None = None,
) -> Path:
    """Write a Kepler long-cadence light curve in the archive layout.

    Parameters
    ----------
    path
        Output file (use :func:`kepler_filename` for the archive name). Overwritten if present.
    time_bkjd
        (T,) BJD − 2454833 per cadence; NaN where the spacecraft recorded no time.
    pdcsap_flux, pdcsap_flux_err, sap_flux
        (T,) fluxes in e⁻/s.
    sap_quality
        (T,) int quality bit field (:class:`data.quality.KeplerQuality`).
    header_extra
        Extra PRIMARY keywords (RA_OBJ, DEC_OBJ, KEPMAG, TEFF, ...); ``None`` values are skipped.
    """
    extra = {k: v for k, v in (header_extra or {}).items() if v is not None}
    time = np.asarray(time_bkjd, dtype=np.float64)
    n = time.size
    finite = time[np.isfinite(time)]
    t0, t1 = (float(finite[0]), float(finite[-1])) if finite.size else (0.0, 0.0)
    sap = np.asarray(sap_flux, dtype=np.float32)
    columns = [
        fits.Column("TIME", "D", unit="BJD - 2454833", array=time),
        fits.Column("TIMECORR", "E", unit="d", array=np.zeros(n, np.float32)),
        fits.Column("CADENCENO", "J", array=np.arange(n, dtype=np.int32) + 1105 * int(quarter)),
        fits.Column("SAP_FLUX", "E", unit="e-/s", array=sap),
        fits.Column("SAP_FLUX_ERR", "E", unit="e-/s", array=np.asarray(pdcsap_flux_err, np.float32)),
        fits.Column("PDCSAP_FLUX", "E", unit="e-/s", array=np.asarray(pdcsap_flux, np.float32)),
        fits.Column("PDCSAP_FLUX_ERR", "E", unit="e-/s", array=np.asarray(pdcsap_flux_err, np.float32)),
        fits.Column("SAP_QUALITY", "J", array=np.asarray(sap_quality, dtype=np.int32)),
    ]
    table = fits.BinTableHDU.from_columns(columns, name="LIGHTCURVE")
    th = table.header
    th["BJDREFI"] = (2454833, "integer part of BJD reference date")
    th["BJDREFF"] = (0.0, "fraction of the day in BJD reference date")
    th["TIMEUNIT"] = ("d", "time unit for TIME, TSTART and TSTOP")
    th["TIMESYS"] = ("TDB", "time system is barycentric JD")
    th["TIMEDEL"] = (LONG_CADENCE_D, "[d] time elapsed between cadences")
    th["TSTART"] = (t0 + BJDREF_KEPLER, "observation start time in BJD")
    th["TSTOP"] = (t1 + BJDREF_KEPLER, "observation stop time in BJD")
    th["TELAPSE"] = (t1 - t0, "[d] TSTOP - TSTART")
    aperture = fits.ImageHDU(np.full((5, 5), 3, dtype=np.int32), name="APERTURE")
    hdul = fits.HDUList([fits.PrimaryHDU(header=_primary_header(kic_id, quarter, extra)), table, aperture])
    hdul.writeto(path, overwrite=True, checksum=False)
    return Path(path)


def is_kepler_lightcurve(path: Path) -> bool:
    """True if ``path`` is a FITS file whose PRIMARY header says Kepler/K2/TESS light curve."""
    try:
        with fits.open(path, memmap=False) as hdul:
            hdr = hdul[0].header
            creator = str(hdr.get("CREATOR", "")).lower()
            telescope = str(hdr.get("TELESCOP", "")).upper()
            return (telescope == "KEPLER" and "fluxexporter" in creator) or (
                telescope == "TESS" and "lightcurveexporter" in creator
            )
    except (OSError, ValueError, IndexError):
        return False


def _column(hdul: fits.HDUList, path: Path, name: str, dtype: type = np.float64) -> np.ndarray:
    try:
        return np.asarray(hdul["LIGHTCURVE"].data[name], dtype=dtype)
    except KeyError as exc:
        raise DataError(path, f"LIGHTCURVE.{name}", "missing column; is this a Kepler LLC file?") from exc


def _segment(primary: fits.Header, mission: str) -> int:
    """Quarter (Kepler), campaign (K2) or sector (TESS); -1 if the header has none."""
    keys = {"TESS": ("SECTOR",), "K2": ("CAMPAIGN",)}.get(mission.upper(), ("QUARTER",))
    return next((int(primary[key]) for key in keys if key in primary), -1)


def _read(hdul: fits.HDUList, path: Path, bitmask: int) -> LightCurveRecord:
    primary = hdul[0].header
    try:
        table = hdul["LIGHTCURVE"]
    except KeyError as exc:
        raise DataError(path, "LIGHTCURVE", "missing HDU 1 'LIGHTCURVE'") from exc
    if table.data is None:
        raise DataError(path, "LIGHTCURVE", "empty table")
    names = {n.upper() for n in table.columns.names}
    quality_name = "SAP_QUALITY" if "SAP_QUALITY" in names else "QUALITY"
    time = _column(hdul, path, "TIME")
    flux = _column(hdul, path, "PDCSAP_FLUX")
    flux_err = _column(hdul, path, "PDCSAP_FLUX_ERR")
    quality = _column(hdul, path, quality_name, np.int64)
    mission = str(primary.get("MISSION", primary.get("TELESCOP", "Kepler")))
    id_key = "TICID" if mission.upper() == "TESS" else "KEPLERID"
    if id_key not in primary:
        raise DataError(path, f"PRIMARY.{id_key}", "missing target identifier keyword")
    bjdref = float(table.header.get("BJDREFI", BJDREF_KEPLER)) + float(table.header.get("BJDREFF", 0.0))
    has_time = np.isfinite(time)
    valid = np.isfinite(flux) & ((quality & int(bitmask)) == 0)
    n_masked = int((~(valid & has_time)).sum())
    if time.size and n_masked > MASKED_WARNING_FRACTION * time.size:
        log.warning("%s: %d of %d cadences masked", path, n_masked, time.size)
    return LightCurveRecord(
        time_bkjd=time[has_time] + (bjdref - BJDREF_KEPLER),
        flux=flux[has_time],
        flux_err=flux_err[has_time],
        quality=quality[has_time],
        kic_id=int(primary[id_key]),
        quarter=_segment(primary, mission),
        path=Path(path),
        valid=valid[has_time],
        mission=mission,
        n_nan_time=int((~has_time).sum()),
    )


def read_kepler_lightcurve(path: Path, *, bitmask: int = DEFAULT_BITMASK) -> LightCurveRecord:
    """Read a Kepler (or K2/TESS) light-curve file with astropy.

    Rows with NaN TIME are dropped (they cannot be placed in time); cadences with NaN PDCSAP flux
    or a quality bit in ``bitmask`` are marked invalid. Nothing is interpolated.

    Raises
    ------
    DataError
        Unreadable or truncated file, missing HDU, column or identifier keyword.
    """
    path = Path(path)
    with warnings.catch_warnings():
        # A truncated file only warns in astropy: make it an error we can name.
        warnings.simplefilter("error")
        try:
            with fits.open(path, memmap=False, lazy_load_hdus=False) as hdul:
                return _read(hdul, path, bitmask)
        except DataError:
            raise
        except (OSError, ValueError, TypeError, IndexError, UserWarning) as exc:
            raise DataError(path, "file", f"unreadable or truncated FITS ({exc})") from exc
