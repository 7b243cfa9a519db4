"""Find a star by its identifier: ``KIC 10002792``, ``Gaia DR3 1234...``, ``TIC 5``, ``row 12``.

The identifier columns are the catalogue's integer ``*_id`` / ``*_obsid`` columns (data/catalog.py:
``kic_id``, ``gaia_source_id``, ``lamost_obsid``; a catalogue with ``tic_id`` or ``epic_id`` gets
those too): a prefix names the column (``KIC``, ``Gaia``/``DR3``/``source_id``, ``LAMOST``/``obsid``,
else the column's stem such as ``TIC``), a bare number is looked for in every one of them. Ids
are compared as 64-bit integers, never floats (a Gaia source_id exceeds 2**53). The text is bounded
(``MAX_QUERY`` characters) and parsed by one anchored regular expression; a lookup is one
vectorised comparison per column.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from data.schema import ROW

MAX_QUERY = 64
#: Words users type before an id -> the catalogue column they mean.
ALIASES = {
    "kic": "kic_id",
    "kepler": "kic_id",
    "gaia": "gaia_source_id",
    "gaia dr3": "gaia_source_id",
    "gaia edr3": "gaia_source_id",
    "dr3": "gaia_source_id",
    "source_id": "gaia_source_id",
    "lamost": "lamost_obsid",
    "obsid": "lamost_obsid",
    "row": ROW,
}
_QUERY = re.compile(r"\s*(?:([A-Za-z][A-Za-z0-9_ ]{0,20}?)\s*[:#]?\s*)?([0-9]{1,20})\s*")


@dataclass(frozen=True)
class Found:
    """A search's outcome: the row (None when not found) and a line for the user (plain text)."""

    row: int | None
    message: str


def id_columns(catalog: pd.DataFrame) -> list[str]:
    """The catalogue's integer identifier columns (``*_id``, ``*_obsid``), ``row`` aside."""
    return [
        name
        for name in catalog.columns
        if name != ROW
        and str(name).endswith(("_id", "_obsid"))
        and pd.api.types.is_integer_dtype(catalog[name].dtype)
    ]


def _column_for(prefix: str, columns: list[str]) -> str | None:
    key = " ".join(prefix.lower().split())
    if key in ALIASES:
        return ALIASES[key]
    for name in columns:
        if key == name.lower().removesuffix("_id").removesuffix("_obsid"):
            return name
    return None


def find_star(catalog: pd.DataFrame, text: str) -> Found:
    """The catalogue row of the star ``text`` names (see the module docstring)."""
    text = str(text)
    if len(text) > MAX_QUERY:
        return Found(None, f"an identifier has at most {MAX_QUERY} characters")
    match = _QUERY.fullmatch(text)
    if match is None:
        return Found(None, "type an identifier such as KIC 10002792, Gaia DR3 <source_id> or row 12")
    prefix, digits = match.group(1), match.group(2)
    number = int(digits)
    if number >= 2**63:
        return Found(None, f"{digits} is not a catalogue identifier")
    columns = id_columns(catalog)
    if prefix:
        column = _column_for(prefix, [*columns, ROW])
        if column is None or (column != ROW and column not in columns):
            known = ", ".join(columns) or "none"
            return Found(None, f"no identifier column for {prefix.strip()!r} (this catalogue has: {known})")
        searched = [column]
    else:
        searched = columns
    for column in searched:
        if column == ROW:
            rows = np.array([number]) if number < len(catalog) else np.array([], dtype=np.int64)
        else:
            rows = np.flatnonzero(catalog[column].to_numpy(dtype=np.int64) == number)
        if rows.size:
            row = int(catalog[ROW].iloc[rows[0]]) if ROW in catalog.columns else int(rows[0])
            return Found(row, f"{column} = {number}: row {row}")
    return Found(None, f"no star with {' or '.join(searched) or 'an id'} = {number}")
