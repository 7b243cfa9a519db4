"""Open a FITS file for a reader, turning every way it can fail into a :class:`DataError`.

The counterpart of :mod:`data.fitswrite` on the read side, shared by the survey readers.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from astropy.io import fits

from data.errors import DataError

T = TypeVar("T")

#: What astropy raises (or, with warnings as errors, warns) on a damaged or truncated file.
_UNREADABLE = (OSError, ValueError, TypeError, IndexError, KeyError, UserWarning, fits.VerifyError)


def read_fits(path: Path, read: Callable[[fits.HDUList], T]) -> T:
    """``read(hdul)`` of the FITS file at ``path``, all HDUs loaded, no memory map.

    A :class:`DataError` that ``read`` raises passes through; any other failure while the file is
    open is one naming the file (``unreadable or truncated FITS``).

    Raises
    ------
    DataError
        Unreadable or truncated file, or whatever ``read`` found wrong.
    """
    path = Path(path)
    with warnings.catch_warnings():
        # A truncated file only warns in astropy: make it an error we can name.
        warnings.simplefilter("error")
        try:
            # Our own handle: astropy leaks its file object when a damaged file fails to open.
            with path.open("rb") as fh, fits.open(fh, memmap=False, lazy_load_hdus=False) as hdul:
                return read(hdul)
        except DataError:
            raise
        except _UNREADABLE as exc:
            raise DataError(path, "file", f"unreadable or truncated FITS ({exc})") from exc
