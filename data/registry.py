"""The one front door for files: a reader is chosen by what a file holds, never by its name.

As in astropy's I/O registry, each product registers a :class:`Reader` whose ``identify`` looks at
the file's content: for FITS products the PRIMARY header (TELESCOP, MISSION, ORIGIN, CREATOR, the
identifier keywords and NAXIS, i.e. whether PRIMARY holds an image or the data sit in extensions);
for tables the file itself. Exactly one reader must accept a file, else it is unknown or ambiguous
and :class:`~data.errors.DataError` names it. ``desa ingest`` finds every file of a folder tree
this way (:func:`scan_file`), so MAST's nested download folders and renamed files work alike.

Adding a survey reader is one module (its ``identify``, ``key`` and ``read``) plus one
:func:`register` line at the end of this file. A light-curve or spectrum reader gives the star key
``(mission, id)`` from the header (``("Kepler", KIC)``, ``("K2", EPIC)``, ``("TESS", TIC)``,
``("LAMOST", obsid)``), int64 within its mission, and names the Gaia cross-match column that holds
the same identifier (``id_column``).
"""

from __future__ import annotations

import gzip
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from astropy.io import fits

from data.errors import DataError

Modality = Literal["lightcurve", "spectrum", "table"]
#: FITS files start with this card; gzip files with these two bytes (MAST serves some as .fits.gz).
FITS_SIGNATURE = b"SIMPLE  ="
GZIP_SIGNATURE = b"\x1f\x8b"
#: Headers longer than this many 2,880-byte blocks are not read while scanning (a damaged file).
MAX_HEADER_BLOCKS = 64


@dataclass(frozen=True)
class Reader:
    """One product: how to recognise it, which star it belongs to and how to read it.

    Parameters
    ----------
    product
        Name, e.g. ``"kepler_lightcurve"``.
    modality
        ``"lightcurve"``, ``"spectrum"`` or ``"table"`` (a cross-match table such as Gaia's).
    identify
        For FITS products: ``identify(primary_header) -> bool``; for tables:
        ``identify(path) -> bool``.
    read
        ``read(path)`` -> a record (``LightCurveRecord``, ``SpectrumRecord``) or a table.
    key
        FITS products: ``key(primary_header) -> (mission, id)`` or None when the header lacks the
        identifier (the reader then refuses the file with the reason).
    id_column
        The Gaia cross-match column holding this product's identifier (``kic_id``, ``epic_id``,
        ``tic_id``, ``lamost_obsid``); None for tables.
    mission
        The mission of a light-curve product (``data.schema.MISSIONS``), the first half of its key.
    fits_product
        Whether ``identify`` takes a FITS header (True) or a path (False).
    """

    product: str
    modality: Modality
    identify: Callable[[Any], bool]
    read: Callable[[Path], Any]
    key: Callable[[fits.Header], tuple[str, int] | None] | None = None
    id_column: str | None = None
    mission: str | None = None
    fits_product: bool = True


#: Registered readers by product name, in registration order.
READERS: dict[str, Reader] = {}


def register(reader: Reader) -> Reader:
    """Add ``reader`` to the registry (a product name registers once)."""
    if reader.product in READERS:
        raise ValueError(f"a reader for {reader.product!r} is registered already")
    READERS[reader.product] = reader
    return reader


def readers(modality: Modality | None = None) -> list[Reader]:
    """The registered readers, optionally of one modality."""
    return [r for r in READERS.values() if modality is None or r.modality == modality]


def looks_like_fits(path: Path) -> bool:
    """Whether ``path`` starts like a FITS file (plain or gzip-compressed), by its first bytes."""
    try:
        with Path(path).open("rb") as fh:
            head = fh.read(len(FITS_SIGNATURE))
        if head.startswith(GZIP_SIGNATURE):
            with gzip.open(path, "rb") as fh:
                head = fh.read(len(FITS_SIGNATURE))
    except (OSError, EOFError):
        return False
    return head == FITS_SIGNATURE


def primary_header(path: Path) -> fits.Header:
    """The PRIMARY header of a FITS file, read card block by card block (no data are read).

    Raises
    ------
    DataError
        Not a FITS file, or its header has no END card within :data:`MAX_HEADER_BLOCKS` blocks.
    """
    path = Path(path)
    try:
        with path.open("rb") as raw:
            gz = raw.read(2) == GZIP_SIGNATURE
        opener = gzip.open if gz else open
        blocks = []
        with opener(path, "rb") as fh:
            for _ in range(MAX_HEADER_BLOCKS):
                block = fh.read(2880)
                if len(block) < 2880:
                    break
                blocks.append(block)
                if any(block[i : i + 8] == b"END     " for i in range(0, 2880, 80)):
                    text = b"".join(blocks).decode("ascii", errors="replace")
                    if not text.startswith("SIMPLE"):
                        break
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")  # a damaged card: the reader decides
                        return fits.Header.fromstring(text)
    except (OSError, EOFError, ValueError) as exc:
        raise DataError(path, "file", f"unreadable FITS header ({exc})") from exc
    raise DataError(path, "file", "not a FITS file, or its PRIMARY header has no END card")


def _matches(reader: Reader, path: Path, header: fits.Header | None) -> bool:
    try:
        if reader.fits_product:
            return header is not None and bool(reader.identify(header))
        return bool(reader.identify(path))
    except (KeyError, ValueError, TypeError):
        return False


def identify(path: Path, header: fits.Header | None = None) -> str:
    """Return the product name of ``path``; raise ``DataError`` if none or several match.

    ``header`` (the PRIMARY header, when the caller has read it) saves reading it again.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "file", "not found")
    if header is None and looks_like_fits(path):
        try:
            header = primary_header(path)
        except DataError:
            header = None
    matches = [name for name, reader in READERS.items() if _matches(reader, path, header)]
    if not matches:
        raise DataError(path, "format", f"not recognised as any of {sorted(READERS)}")
    if len(matches) > 1:
        raise DataError(path, "format", f"ambiguous: recognised as {matches}")
    return matches[0]


def read(path: Path) -> Any:
    """Read any supported file: a light-curve record, a spectrum record or a Gaia table."""
    return READERS[identify(path)].read(Path(path))


@dataclass(frozen=True, slots=True)  # one per file of a survey: kept small
class Scanned:
    """What a look at one file's header says: its product and star key, or why it is unusable.

    ``ra_deg``/``dec_deg`` are the target's position from the header (NaN when absent), for stars
    ingested without a Gaia table.
    """

    path: Path
    product: str | None = None
    key: tuple[str, int] | None = None
    problem: tuple[str, str] | None = None  # (field, reason) of a FITS file no reader can use
    ra_deg: float = float("nan")
    dec_deg: float = float("nan")


_POSITION_KEYS = (("RA_OBJ", "DEC_OBJ"), ("RA", "DEC"))


def _position(header: fits.Header) -> tuple[float, float]:
    for ra_key, dec_key in _POSITION_KEYS:
        try:
            return float(header[ra_key]), float(header[dec_key])
        except (KeyError, TypeError, ValueError):
            continue
    return float("nan"), float("nan")


def scan_file(path: Path) -> Scanned | None:
    """Identify one file of a raw folder by its PRIMARY header; None if it is no FITS file at all.

    A file that starts like FITS, or is named ``*.fits``/``*.fit``/``*.fits.gz``, is the user's
    data: if no reader accepts it, the result says why (it is quarantined, not skipped). Any other
    file (notes, checksums, figures) is not ours and returns None.
    """
    path = Path(path)
    named_fits = path.name.lower().endswith((".fits", ".fit", ".fts", ".fits.gz", ".fit.gz"))
    if not looks_like_fits(path):
        if not named_fits:
            return None
        return Scanned(path, problem=("file", "not a FITS file (no SIMPLE card at the start)"))
    try:
        header = primary_header(path)
    except DataError as exc:
        return Scanned(path, problem=(exc.field, exc.reason))
    matches = [r for r in READERS.values() if r.fits_product and _matches(r, path, header)]
    if len(matches) != 1:
        what = (
            f"ambiguous: recognised as {[r.product for r in matches]}"
            if matches
            else (
                f"not a product we read (TELESCOP={header.get('TELESCOP')!r}, "
                f"CREATOR={str(header.get('CREATOR', ''))[:40]!r}, NAXIS={header.get('NAXIS')}); "
                f"readers: {sorted(r.product for r in readers() if r.fits_product)}"
            )
        )
        return Scanned(path, problem=("PRIMARY", what))
    reader = matches[0]
    try:
        key = reader.key(header) if reader.key else None
    except (KeyError, TypeError, ValueError):
        key = None
    return Scanned(path, reader.product, key, None, *_position(header))


# --- registrations: one line per product -----------------------------------------------------------
def _register_builtin() -> None:
    from data import gaia, kepler, kepseismic, lamost, tess
    from data.schema import K2, KEPLER, TESS

    register(
        Reader(
            "kepler_lightcurve",
            "lightcurve",
            kepler.is_kepler_header,
            kepler.read_kepler_lightcurve,
            kepler.kepler_key,
            "kic_id",
            KEPLER,
        )
    )
    register(
        Reader(
            "k2_lightcurve",
            "lightcurve",
            kepler.is_k2_header,
            kepler.read_kepler_lightcurve,
            kepler.k2_key,
            "epic_id",
            K2,
        )
    )
    register(
        Reader(
            "tess_lightcurve",
            "lightcurve",
            tess.is_tess_header,
            tess.read_tess_lightcurve,
            tess.tess_key,
            "tic_id",
            TESS,
        )
    )
    register(
        Reader(
            "lamost_spectrum",
            "spectrum",
            lamost.is_lamost_header,
            lamost.read_lamost_spectrum,
            lamost.lamost_key,
            "lamost_obsid",
        )
    )
    register(
        Reader(
            "kepseismic_lightcurve",
            "lightcurve",
            kepseismic.is_kepseismic_header,
            kepseismic.read_kepseismic,
            kepseismic.kepseismic_key,
            "kic_id",
            KEPLER,
        )
    )
    register(Reader("gaia_table", "table", gaia.is_gaia_table, gaia.read_gaia_table, fits_product=False))


_register_builtin()
