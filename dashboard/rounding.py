"""Numbers shown to their precision: a value with an uncertainty to two significant digits of it.

A value with an interval or an error (a prediction's 68 % interval, a parallax ± its error) is
rounded where its uncertainty's second significant digit falls (Particle Data Group practice
without the 354 rule: 5781 ± 134 K, not 5781.2345 ± 134.27). A value without one gets the
decimals of its column's kind (magnitudes to mmag, temperatures to kelvin, ...), from the unit
suffix of its name or the schema's property names.
"""

from __future__ import annotations

import math

import numpy as np

from data import schema

#: Decimals by the column name's unit suffix (catalogue naming: data/catalog.py), our choice.
SUFFIX_DECIMALS = {
    "_mag": 3,
    "_k": 0,
    "_gyr": 2,
    "_d": 2,
    "_mas": 3,
    "_kms": 2,
    "_deg": 5,
    "_prob": 3,
}
#: Decimals of the schema's dex-valued properties (log g, [Fe/H], log L).
DEX_DECIMALS = 2
DEFAULT_DECIMALS = 3
#: Decimals never exceed this (float32 columns carry about 7 significant digits).
MAX_DECIMALS = 6


def column_decimals(name: str) -> int:
    """Decimals to show for a value of column ``name`` without an uncertainty."""
    stem = name.removeprefix(schema.TRUTH_PREFIX).removeprefix("pred_")
    stem = stem.removesuffix("_lo").removesuffix("_hi")
    if stem in schema.PROPERTY and schema.PROPERTY[stem].unit == "dex":
        return DEX_DECIMALS
    for suffix, decimals in SUFFIX_DECIMALS.items():
        if stem.endswith(suffix):
            return decimals
    return DEFAULT_DECIMALS


def uncertainty_decimals(uncertainty: float) -> int | None:
    """Decimals that keep two significant digits of ``uncertainty`` (None when not positive/finite)."""
    if uncertainty is None or not np.isfinite(uncertainty) or uncertainty <= 0:
        return None
    return int(min(MAX_DECIMALS, max(0, 1 - math.floor(math.log10(float(uncertainty))))))


def format_number(value: object, decimals: int) -> str:
    """``value`` with ``decimals`` decimals; ``–`` for a missing or non-finite one."""
    if value is None:
        return "–"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return "–"
    if not np.isfinite(number):
        return "–"
    return f"{number:.{max(0, int(decimals))}f}"


def interval_decimals(value: float, lo: float | None, hi: float | None, column: str) -> int:
    """Decimals for a value with the interval ``[lo, hi]``: by its half-width, else by its column."""
    try:
        half = 0.5 * (float(hi) - float(lo))
    except (TypeError, ValueError):
        half = float("nan")
    found = uncertainty_decimals(half)
    return column_decimals(column) if found is None else found
