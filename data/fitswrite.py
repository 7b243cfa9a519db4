"""A small, fast FITS writer for the archive layouts we produce (FITS Standard 4.0).

astropy's writer spends ~100 ms per small file building and verifying header cards, which made
FITS output 90 % of the simulator's run time. The files we write are simple (a header-only or image
PRIMARY, binary tables of fixed-width numeric columns, int32 images), so this module formats the
cards and packs the data itself: 80-character cards, 2,880-byte blocks, big-endian data. Readers use
astropy; tests check that astropy reads these files back, without warnings, to the same values.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

BLOCK = 2880
#: FITS binary-table format letter → big-endian numpy dtype.
_TFORM_DTYPES = {"D": ">f8", "E": ">f4", "J": ">i4", "I": ">i2", "K": ">i8", "B": "u1"}
_IMAGE_BITPIX = {np.dtype(">i4"): 32, np.dtype(">i2"): 16, np.dtype(">f4"): -32, np.dtype(">f8"): -64}

Card = tuple[str, Any, str]


def _value_text(value: Any) -> str:
    if isinstance(value, (bool, np.bool_)):
        return f"{'T' if value else 'F':>20}"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):>20d}"
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if not math.isfinite(value):
            raise ValueError("FITS header values cannot be NaN or infinite")
        text = repr(value)
        if len(text) > 20:
            text = f"{value:.15G}"
        if "." not in text and "E" not in text.upper():
            text += ".0"
        return f"{text.upper():>20}"
    if isinstance(value, str):
        if not value.isascii() or any(ord(c) < 32 for c in value):
            raise ValueError(f"FITS header strings must be printable ASCII: {value!r}")
        quoted = "'" + value.replace("'", "''").ljust(8) + "'"
        return f"{quoted:<20}"
    raise TypeError(f"unsupported FITS header value {value!r} ({type(value).__name__})")


def card(key: str, value: Any, comment: str = "") -> str:
    """One 80-character keyword card (``KEY     = value / comment``)."""
    key = key.upper()
    if len(key) > 8 or not all(c.isalnum() or c in "-_" for c in key):
        raise ValueError(f"invalid FITS keyword {key!r}")
    text = f"{key:<8}= {_value_text(value)}"
    if len(text) > 80:
        raise ValueError(f"FITS card for {key} is longer than 80 characters")
    if comment and len(text) < 77:
        text += " / " + comment
    return text[:80].ljust(80)


def header_cards(items: dict[str, Any]) -> list[Card]:
    """(key, value, comment) cards from ``{key: value}`` or ``{key: (value, comment)}``; None skipped."""
    out = []
    for key, value in items.items():
        value, comment = value if isinstance(value, tuple) else (value, "")
        if value is not None:
            out.append((key, value, comment))
    return out


def header_bytes(cards: Iterable[Card]) -> bytes:
    """Cards plus END, padded with spaces to whole 2,880-byte blocks."""
    text = "".join(card(*c) for c in cards) + "END".ljust(80)
    return text.ljust(-(-len(text) // BLOCK) * BLOCK).encode("ascii")


def _pad(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % BLOCK)


def primary_hdu(cards: Sequence[Card], image: np.ndarray | None = None) -> bytes:
    """A PRIMARY HDU: header only, or an image (int32/int16/float32/float64)."""
    if image is None:
        head = [("SIMPLE", True, "conforms to FITS standard"), ("BITPIX", 8, ""), ("NAXIS", 0, "")]
        return header_bytes([*head, ("EXTEND", True, ""), *cards])
    data = np.ascontiguousarray(image, dtype=np.asarray(image).dtype.newbyteorder(">"))
    axes = [("NAXIS", data.ndim, "")] + [(f"NAXIS{i + 1}", n, "") for i, n in enumerate(data.shape[::-1])]
    head = [("SIMPLE", True, "conforms to FITS standard"), ("BITPIX", _IMAGE_BITPIX[data.dtype], "")]
    return header_bytes([*head, *axes, ("EXTEND", True, ""), *cards]) + _pad(data.tobytes())


def image_hdu(image: np.ndarray, extname: str, cards: Sequence[Card] = ()) -> bytes:
    """An IMAGE extension."""
    data = np.ascontiguousarray(image, dtype=np.asarray(image).dtype.newbyteorder(">"))
    axes = [("NAXIS", data.ndim, "")] + [(f"NAXIS{i + 1}", n, "") for i, n in enumerate(data.shape[::-1])]
    head = [("XTENSION", "IMAGE", "image extension"), ("BITPIX", _IMAGE_BITPIX[data.dtype], "")]
    tail = [("PCOUNT", 0, ""), ("GCOUNT", 1, ""), ("EXTNAME", extname, "name of extension"), *cards]
    return header_bytes([*head, *axes, *tail]) + _pad(data.tobytes())


def bintable_hdu(
    columns: Sequence[tuple[str, str, str, np.ndarray]], extname: str, cards: Sequence[Card] = ()
) -> bytes:
    """A BINTABLE extension from (name, TFORM, unit, array) columns.

    TFORM is ``rX`` with X in D, E, J, I, K, B; an (n_rows,) array for r = 1, an (n_rows, r) array
    otherwise. All columns must have the same number of rows.
    """
    fields, arrays, n_rows = [], [], None
    for name, tform, _, array in columns:
        repeat, letter = (int(tform[:-1]) if len(tform) > 1 else 1), tform[-1]
        array = np.asarray(array)
        rows = array.shape[0]
        n_rows = rows if n_rows is None else n_rows
        if rows != n_rows or array.shape[1:] != (() if repeat == 1 else (repeat,)):
            raise ValueError(f"column {name}: shape {array.shape} does not fit TFORM {tform}, {n_rows} rows")
        fields.append((name, _TFORM_DTYPES[letter], () if repeat == 1 else (repeat,)))
        arrays.append(array)
    table = np.empty(n_rows or 0, dtype=np.dtype(fields))
    for (name, _, _), array in zip(fields, arrays, strict=True):
        table[name] = array
    head: list[Card] = [
        ("XTENSION", "BINTABLE", "binary table extension"),
        ("BITPIX", 8, "array data type"),
        ("NAXIS", 2, "number of array dimensions"),
        ("NAXIS1", table.dtype.itemsize, "length of dimension 1"),
        ("NAXIS2", int(n_rows or 0), "length of dimension 2"),
        ("PCOUNT", 0, "number of group parameters"),
        ("GCOUNT", 1, "number of groups"),
        ("TFIELDS", len(columns), "number of table fields"),
    ]
    for i, (name, tform, unit, _) in enumerate(columns, start=1):
        head.append((f"TTYPE{i}", name, ""))
        head.append((f"TFORM{i}", tform, ""))
        if unit:
            head.append((f"TUNIT{i}", unit, ""))
    head.append(("EXTNAME", extname, "name of extension"))
    return header_bytes([*head, *cards]) + _pad(table.tobytes())


def write_fits(path: Path, hdus: Sequence[bytes]) -> Path:
    """Write the HDUs (bytes from the functions above) to ``path``."""
    with open(path, "wb") as fh:
        for hdu in hdus:
            fh.write(hdu)
    return Path(path)
