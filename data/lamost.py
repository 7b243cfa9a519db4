"""Read, write and recognise LAMOST low-resolution spectra (``spec-MJD-PLANID_spSS-FFF.fits``).

Two layouts exist (``docs/SCIENCE.md`` section 5.2): newer releases put one row of array columns
(FLUX, IVAR, WAVELENGTH, ANDMASK, ORMASK, NORMALIZATION) in a binary table after a header-only
PRIMARY HDU; older ones (DR1–DR3) put a 5 × N image (flux, ivar, wavelength, andmask, ormask) in
PRIMARY with the log-linear grid log10 λ = COEFF0 + COEFF1·i. Wavelengths are vacuum, heliocentric.
A pixel is good where IVAR > 0, ANDMASK == 0 and flux is finite (mask bit meanings not checked).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from astropy.io import fits

from data import fitswrite
from data.errors import DataError
from data.fitsread import read_fits

#: Native LAMOST LRS grid: log10 λ = 3.5682 + 1e-4 i, i = 0..3908 (3700.0–9099.1 Å, vacuum).
COEFF0 = 3.5682
COEFF1 = 1e-4
N_PIXELS = 3909
_TABLE_COLUMNS = ("FLUX", "IVAR", "WAVELENGTH", "ANDMASK", "ORMASK")


def lamost_grid() -> np.ndarray:
    """Return the native LAMOST LRS vacuum wavelength grid in Å, shape (3909,)."""
    return 10.0 ** (COEFF0 + COEFF1 * np.arange(N_PIXELS))


def lamost_filename(mjd: int, planid: str, spectrograph: int, fibre: int) -> str:
    """Return the archive name ``spec-{MJD}-{PLANID}_sp{SS:02d}-{FFF:03d}.fits``."""
    return f"spec-{int(mjd)}-{planid}_sp{int(spectrograph):02d}-{int(fibre):03d}.fits"


@dataclass(frozen=True, eq=False)
class SpectrumRecord:
    """One LAMOST spectrum on its own grid; ``mask`` is True for good pixels."""

    wavelength_aa: np.ndarray
    flux: np.ndarray
    ivar: np.ndarray
    mask: np.ndarray
    obsid: int
    helio_rv_kms: float
    snr_g: float
    path: Path


def _primary_cards(header: dict[str, Any]) -> list[fitswrite.Card]:
    items: dict[str, Any] = {
        "TELESCOP": ("LAMOST", "GuoShouJing Telescope"),
        "CLASS": ("STAR", "class of object"),
    }
    items.update({key.upper(): value for key, value in header.items()})
    return fitswrite.header_cards(items)


def write_lamost_spectrum(
    path: Path,
    *,
    wavelength_aa: np.ndarray,
    flux: np.ndarray,
    ivar: np.ndarray,
    andmask: np.ndarray,
    ormask: np.ndarray,
    header: dict[str, Any],
    layout: Literal["table", "image"] = "table",
) -> Path:
    """Write a LAMOST LRS spectrum in the newer ``table`` or the older ``image`` layout.

    Parameters
    ----------
    wavelength_aa, flux, ivar, andmask, ormask
        (N,) arrays on one grid (vacuum Å).
    header
        PRIMARY keywords: OBSID, RA, DEC, MJD, PLANID, SNRG, HELIO_RV, ... (``None`` skipped).
    layout
        ``"table"``: header-only PRIMARY + one-row binary table; ``"image"``: 5 × N PRIMARY image.
    """
    wave = np.asarray(wavelength_aa, dtype=np.float32)
    arrays = {
        "FLUX": np.asarray(flux, np.float32),
        "IVAR": np.asarray(ivar, np.float32),
        "WAVELENGTH": wave,
        "ANDMASK": np.asarray(andmask, np.float32),
        "ORMASK": np.asarray(ormask, np.float32),
    }
    cards = _primary_cards(header)
    if layout == "table":
        arrays["NORMALIZATION"] = np.ones_like(wave)
        n = wave.size
        cols = [(name, f"{n}E", "", a[None, :]) for name, a in arrays.items()]
        hdus = [fitswrite.primary_hdu(cards), fitswrite.bintable_hdu(cols, "COADD")]
    elif layout == "image":
        cards.append(("COEFF0", float(np.log10(wave[0])), "log10 of the first wavelength"))
        cards.append(("COEFF1", float(np.median(np.diff(np.log10(wave.astype(np.float64))))), "log10 step"))
        image = np.stack([arrays[name] for name in _TABLE_COLUMNS])
        hdus = [fitswrite.primary_hdu(cards, image=image)]
    else:
        raise ValueError(f"layout must be 'table' or 'image', not {layout!r}")
    fitswrite.write_fits(path, hdus)
    return Path(path)


def is_lamost_header(header: fits.Header) -> bool:
    """True for the PRIMARY header of a LAMOST LRS spectrum, in either layout.

    TELESCOP = LAMOST (or, for a file that lost it, OBSID with the image layout's COEFF0), and a
    PRIMARY that is either header-only (the table layout: data in HDU 1) or a 2-D image (5 × N).
    """
    naxis = int(header.get("NAXIS", 0))
    lamost = str(header.get("TELESCOP", "")).strip().upper() == "LAMOST" or (
        "OBSID" in header and "COEFF0" in header
    )
    return lamost and naxis in (0, 2)


def lamost_key(header: fits.Header) -> tuple[str, int] | None:
    """``("LAMOST", obsid)`` from OBSID, or None without it."""
    return ("LAMOST", int(header["OBSID"])) if "OBSID" in header else None


def is_lamost_spectrum(path: Path) -> bool:
    """True if ``path`` is a FITS file whose PRIMARY header says LAMOST LRS (either layout)."""
    from data.registry import primary_header

    try:
        return is_lamost_header(primary_header(path))
    except DataError:
        return False


def _from_table(hdul: fits.HDUList, path: Path) -> dict[str, np.ndarray]:
    data = hdul[1].data
    if data is None or len(data) == 0:
        raise DataError(path, "HDU1", "empty spectrum table")
    out = {}
    for name in _TABLE_COLUMNS:
        try:
            out[name] = np.asarray(data[name][0], dtype=np.float64).ravel()
        except KeyError as exc:
            raise DataError(path, f"HDU1.{name}", "missing column; is this a LAMOST LRS file?") from exc
    return out


def _from_image(hdul: fits.HDUList, path: Path) -> dict[str, np.ndarray]:
    image = hdul[0].data
    if image is None or image.ndim != 2 or image.shape[0] < 5:
        shape = None if image is None else image.shape
        raise DataError(path, "PRIMARY", f"image of shape {shape}; 5 × N rows expected")
    return {name: np.asarray(image[i], dtype=np.float64) for i, name in enumerate(_TABLE_COLUMNS)}


def _read(hdul: fits.HDUList, path: Path) -> SpectrumRecord:
    hdr = hdul[0].header
    arrays = _from_table(hdul, path) if len(hdul) > 1 else _from_image(hdul, path)
    if "OBSID" not in hdr:
        raise DataError(path, "PRIMARY.OBSID", "missing observation identifier keyword")
    flux, ivar = arrays["FLUX"], arrays["IVAR"]
    wave = arrays["WAVELENGTH"][np.isfinite(arrays["WAVELENGTH"])]
    if not wave.size or not 3000 < np.median(wave) < 12000:
        median = float(np.median(wave)) if wave.size else float("nan")
        raise DataError(
            path,
            "WAVELENGTH",
            f"bad values: median {median:.4g} is not a LAMOST wavelength in Å (3700–9100 Å expected; "
            "nm, µm or log10 λ? convert to vacuum Å)",
        )
    good = (ivar > 0) & (arrays["ANDMASK"] == 0) & np.isfinite(flux) & np.isfinite(ivar)
    snr_g = hdr.get("SNRG", hdr.get("SN_G", np.nan))
    return SpectrumRecord(
        wavelength_aa=arrays["WAVELENGTH"],
        flux=flux,
        ivar=np.where(good, ivar, 0.0),
        mask=good,
        obsid=int(hdr["OBSID"]),
        helio_rv_kms=float(hdr.get("HELIO_RV", 0.0)),
        snr_g=float(snr_g),
        path=Path(path),
    )


def read_lamost_spectrum(path: Path) -> SpectrumRecord:
    """Read a LAMOST LRS spectrum (table or image layout).

    Raises
    ------
    DataError
        Unreadable or truncated file, missing HDU, column or OBSID keyword.
    """
    path = Path(path)
    return read_fits(path, lambda hdul: _read(hdul, path))
