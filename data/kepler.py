"""Read, write and recognise Kepler long-cadence light curves (``kplr…_llc.fits``).

The layout follows a real MAST file (``docs/SCIENCE.md`` section 5.1): a header-only PRIMARY HDU,
a ``LIGHTCURVE`` binary table (TIME in BKJD = BJD − 2454833, PDCSAP_FLUX, SAP_QUALITY, ...) and an
``APERTURE`` int32 image. K2 files share the layout; TESS SPOC files name the quality column
``QUALITY`` and count time from BJD 2457000, which the reader converts to BKJD.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from astropy.io import fits

from data import fitswrite
from data.errors import DataError
from data.fitsread import read_fits
from data.quality import DEFAULT_BITMASK, MASKED_WARNING_FRACTION

log = logging.getLogger(__name__)

BJDREF_KEPLER = 2454833.0
#: Long-cadence sampling: 270 frames × 6.02 s = 29.4 min (TIMEDEL of a real file).
LONG_CADENCE_D = 0.02043359821692
CREATOR = "17521 FluxExporter2PipelineModule"
#: The 20 LIGHTCURVE columns of an archive file, in order: (name, FITS format, unit).
_ALL_COLUMNS = (
    ("TIME", "D", "BJD - 2454833"),
    ("TIMECORR", "E", "d"),
    ("CADENCENO", "J", ""),
    ("SAP_FLUX", "E", "e-/s"),
    ("SAP_FLUX_ERR", "E", "e-/s"),
    ("SAP_BKG", "E", "e-/s"),
    ("SAP_BKG_ERR", "E", "e-/s"),
    ("PDCSAP_FLUX", "E", "e-/s"),
    ("PDCSAP_FLUX_ERR", "E", "e-/s"),
    ("SAP_QUALITY", "J", ""),
    ("PSF_CENTR1", "D", "pixel"),
    ("PSF_CENTR1_ERR", "E", "pixel"),
    ("PSF_CENTR2", "D", "pixel"),
    ("PSF_CENTR2_ERR", "E", "pixel"),
    ("MOM_CENTR1", "D", "pixel"),
    ("MOM_CENTR1_ERR", "E", "pixel"),
    ("MOM_CENTR2", "D", "pixel"),
    ("MOM_CENTR2_ERR", "E", "pixel"),
    ("POS_CORR1", "E", "pixels"),
    ("POS_CORR2", "E", "pixels"),
)
_CORE_COLUMNS = (
    "TIME",
    "CADENCENO",
    "SAP_FLUX",
    "SAP_FLUX_ERR",
    "PDCSAP_FLUX",
    "PDCSAP_FLUX_ERR",
    "SAP_QUALITY",
)
_OPTIONAL_COLUMNS = tuple(c for c in _ALL_COLUMNS if c[0] not in _CORE_COLUMNS)
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

    @property
    def target_id(self) -> int:
        """The target's identifier in its mission: KIC (Kepler), EPIC (K2) or TIC (TESS)."""
        return self.kic_id

    @property
    def key(self) -> tuple[str, int]:
        """The star key ``(mission, id)``: a KIC and a TIC of the same number are two stars."""
        return (self.mission, self.kic_id)

    def to_lightkurve(self) -> Any:
        """Return the record as a ``lightkurve.LightCurve`` (lightkurve imported here, installed separately).

        Time is BKJD (BJD − 2454833, TDB), flux the PDCSAP flux as read; only valid cadences are kept.

        Raises
        ------
        ImportError
            lightkurve is not installed (``pip install lightkurve``).
        """
        try:
            import lightkurve
        except ImportError as exc:
            raise ImportError("to_lightkurve needs lightkurve: pip install lightkurve") from exc
        from astropy.time import Time

        keep = self.valid
        time = Time(self.time_bkjd[keep] + BJDREF_KEPLER, format="jd", scale="tdb")
        return lightkurve.LightCurve(
            time=time,
            flux=self.flux[keep],
            flux_err=self.flux_err[keep],
            meta={"MISSION": self.mission, "TARGETID": self.kic_id, "FILENAME": str(self.path)},
        )


def kepler_filename(kic_id: int, time_stop_bkjd: float) -> str:
    """Return the archive file name ``kplr{kic:09d}-{YYYYDDDHHMMSS}_llc.fits``."""
    stamp = _BKJD_EPOCH + timedelta(days=float(time_stop_bkjd))
    return f"kplr{int(kic_id):09d}-{stamp.strftime('%Y%j%H%M%S')}_llc.fits"


def _primary_cards(kic_id: int, quarter: int, extra: dict[str, Any]) -> list[fitswrite.Card]:
    cards: dict[str, Any] = {
        "TELESCOP": ("Kepler", "telescope"),
        "INSTRUME": ("Kepler Photometer", "detector type"),
        "MISSION": ("Kepler", "mission name"),
        "OBJECT": (f"KIC {int(kic_id)}", "string version of KEPLERID"),
        "KEPLERID": (int(kic_id), "unique Kepler target identifier"),
        "QUARTER": (int(quarter), "Observing quarter"),
        "OBSMODE": ("long cadence", "observing mode"),
        "ORIGIN": ("NASA/Ames", "institution responsible for creating this file"),
        "CREATOR": (CREATOR, "pipeline job and program used"),
        "FILEVER": ("6.1", "file format version"),
    }
    # Archive order first; keys absent from ``extra`` are left out (FITS headers cannot hold NaN).
    order = (
        "SEASON",
        "CHANNEL",
        "MODULE",
        "OUTPUT",
        "RA_OBJ",
        "DEC_OBJ",
        "KEPMAG",
        "TEFF",
        "LOGG",
        "FEH",
        "RADIUS",
    )
    for key in (*order, *sorted(set(extra) - set(order))):
        if key in extra and key.upper() not in cards:
            cards[key.upper()] = extra[key]
    return fitswrite.header_cards(cards)


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
    sap_flux_err: np.ndarray | None = None,
    columns_extra: dict[str, np.ndarray] | None = None,
    table_header_extra: dict[str, Any] | None = None,
    aperture: np.ndarray | None = None,
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
    sap_flux_err
        (T,) SAP flux uncertainty; ``pdcsap_flux_err`` when omitted.
    columns_extra
        Any of the other archive columns (SAP_BKG, SAP_BKG_ERR, PSF_CENTR1/2[_ERR],
        MOM_CENTR1/2[_ERR], POS_CORR1/2, TIMECORR); those not given are written as NaN (zero for
        TIMECORR), as in archive files where the pipeline produced none. All 20 columns are always
        written, in the archive's order.
    table_header_extra
        Extra LIGHTCURVE keywords (LIVETIME, CDPP3_0, CDPP6_0, CDPP12_0, PDCMETHD, CROWDSAP, ...).
    aperture
        The APERTURE int32 bit-mask image (a 5×5 stamp with the optimal aperture when omitted).
    """
    extra = {k: v for k, v in (header_extra or {}).items() if v is not None}
    time = np.asarray(time_bkjd, dtype=np.float64)
    n = time.size
    finite = time[np.isfinite(time)]
    t0, t1 = (float(finite[0]), float(finite[-1])) if finite.size else (0.0, 0.0)
    sap = np.asarray(sap_flux, dtype=np.float32)
    given = {k.upper(): v for k, v in (columns_extra or {}).items()}
    unknown = set(given) - {name for name, _, _ in _OPTIONAL_COLUMNS}
    if unknown:
        raise ValueError(f"unknown Kepler LIGHTCURVE columns {sorted(unknown)}")
    sap_err = pdcsap_flux_err if sap_flux_err is None else sap_flux_err
    core = {
        "TIME": time,
        "CADENCENO": np.arange(n, dtype=np.int32) + 1105 * int(quarter),
        "SAP_FLUX": sap,
        "SAP_FLUX_ERR": np.asarray(sap_err, np.float32),
        "PDCSAP_FLUX": np.asarray(pdcsap_flux, np.float32),
        "PDCSAP_FLUX_ERR": np.asarray(pdcsap_flux_err, np.float32),
        "SAP_QUALITY": np.asarray(sap_quality, dtype=np.int32),
    }
    optional = {name: (fmt, unit) for name, fmt, unit in _OPTIONAL_COLUMNS}
    columns = []
    for name, fmt, unit in _ALL_COLUMNS:
        if name in core:
            array = core[name]
        elif name in given:
            array = np.asarray(given[name], dtype=np.float64 if fmt == "D" else np.float32)
        else:
            fill = 0.0 if name == "TIMECORR" else np.nan
            array = np.full(n, fill, dtype=np.float64 if optional[name][0] == "D" else np.float32)
        if array.shape != (n,):
            raise ValueError(f"column {name} has shape {array.shape}; ({n},) expected")
        columns.append((name, fmt, unit, array))
    table_cards = fitswrite.header_cards(
        {
            "BJDREFI": (2454833, "integer part of BJD reference date"),
            "BJDREFF": (0.0, "fraction of the day in BJD reference date"),
            "TIMEUNIT": ("d", "time unit for TIME, TSTART and TSTOP"),
            "TIMESYS": ("TDB", "time system is barycentric JD"),
            "TIMEDEL": (LONG_CADENCE_D, "[d] time elapsed between cadences"),
            "TSTART": (t0 + BJDREF_KEPLER, "observation start time in BJD"),
            "TSTOP": (t1 + BJDREF_KEPLER, "observation stop time in BJD"),
            "TELAPSE": (t1 - t0, "[d] TSTOP - TSTART"),
            **(table_header_extra or {}),
        }
    )
    if aperture is None:
        # Bit 1: pixel collected; bit 2: in the optimal aperture (Kepler Archive Manual 2.3.2).
        aperture = np.ones((5, 5), dtype=np.int32)
        aperture[1:4, 1:4] = 3
    fitswrite.write_fits(
        path,
        [
            fitswrite.primary_hdu(_primary_cards(kic_id, quarter, extra)),
            fitswrite.bintable_hdu(columns, "LIGHTCURVE", table_cards),
            fitswrite.image_hdu(np.asarray(aperture, dtype=np.int32), "APERTURE"),
        ],
    )
    return Path(path)


def _is_ames_lightcurve(header: fits.Header, telescope: str, creator: str) -> bool:
    """A NASA Ames SPOC light-curve file of ``telescope``: header keys and the HDU layout.

    The pipeline's CREATOR names the light-curve exporter (not the target-pixel exporter of TPFs),
    ORIGIN is NASA/Ames where present (repackaged series such as KEPSEISMIC say otherwise) and
    PRIMARY holds no image (NAXIS = 0): the data are in the LIGHTCURVE extension.
    """
    return (
        str(header.get("TELESCOP", "")).strip().upper() == telescope
        and creator in str(header.get("CREATOR", "")).upper()
        and str(header.get("ORIGIN", "NASA/Ames")).strip().upper() == "NASA/AMES"
        and int(header.get("NAXIS", 0)) == 0
    )


def is_kepler_header(header: fits.Header) -> bool:
    """True for the PRIMARY header of a Kepler (prime mission) long- or short-cadence light curve."""
    mission = str(header.get("MISSION", "Kepler")).strip().upper()
    return mission == "KEPLER" and _is_ames_lightcurve(header, "KEPLER", "FLUXEXPORTER")


def is_k2_header(header: fits.Header) -> bool:
    """True for the PRIMARY header of a K2 light curve (TELESCOP Kepler, MISSION K2)."""
    mission = str(header.get("MISSION", "")).strip().upper()
    return mission == "K2" and _is_ames_lightcurve(header, "KEPLER", "FLUXEXPORTER")


def kepler_key(header: fits.Header) -> tuple[str, int] | None:
    """``("Kepler", KIC)`` from KEPLERID, or None without it."""
    return ("Kepler", int(header["KEPLERID"])) if "KEPLERID" in header else None


def k2_key(header: fits.Header) -> tuple[str, int] | None:
    """``("K2", EPIC)`` from KEPLERID (K2 files keep the Kepler keyword for the EPIC id)."""
    return ("K2", int(header["KEPLERID"])) if "KEPLERID" in header else None


def is_kepler_lightcurve(path: Path) -> bool:
    """True if ``path`` is a Kepler, K2 or TESS SPOC light-curve file (PRIMARY header and layout)."""
    from data.registry import primary_header
    from data.tess import is_tess_header

    try:
        header = primary_header(path)
    except DataError:
        return False
    return is_kepler_header(header) or is_k2_header(header) or is_tess_header(header)


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
    if not isinstance(table, fits.BinTableHDU):
        raise DataError(path, "LIGHTCURVE", f"is a {type(table).__name__}; a binary table expected")
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
    steps = np.diff(time[has_time])
    if (steps <= 0).any():
        raise DataError(
            path,
            "LIGHTCURVE.TIME",
            f"bad values: {int((steps < 0).sum())} times out of order, {int((steps == 0).sum())} repeated; "
            "one row per cadence in time order expected (corrupted or concatenated file?)",
        )
    # A negative uncertainty is meaningless: such cadences are invalid, like NaN fluxes.
    valid = np.isfinite(flux) & ~(flux_err < 0) & ((quality & int(bitmask)) == 0)
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
    return read_fits(path, lambda hdul: _read(hdul, path, bitmask))
