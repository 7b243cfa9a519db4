"""The one front door for files: ``read(path)`` finds the reader that recognises the file.

Each product has an identifier ``is_<survey>_<product>`` and a reader; exactly one identifier must
accept a file, else the file is unknown or ambiguous and ``DataError`` names it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from data.errors import DataError
from data.gaia import is_gaia_table, read_gaia_table
from data.kepler import LightCurveRecord, is_kepler_lightcurve, read_kepler_lightcurve
from data.lamost import SpectrumRecord, is_lamost_spectrum, read_lamost_spectrum

#: product name -> (identifier, reader)
READERS: dict[str, tuple[Callable[[Path], bool], Callable[[Path], Any]]] = {
    "kepler_lightcurve": (is_kepler_lightcurve, read_kepler_lightcurve),
    "lamost_spectrum": (is_lamost_spectrum, read_lamost_spectrum),
    "gaia_table": (is_gaia_table, read_gaia_table),
}


def identify(path: Path) -> str:
    """Return the product name of ``path``; raise ``DataError`` if none or several match."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "file", "not found")
    matches = [name for name, (is_product, _) in READERS.items() if is_product(path)]
    if not matches:
        raise DataError(path, "format", f"not recognised as any of {sorted(READERS)}")
    if len(matches) > 1:
        raise DataError(path, "format", f"ambiguous: recognised as {matches}")
    return matches[0]


def read(path: Path) -> LightCurveRecord | SpectrumRecord | pd.DataFrame:
    """Read any supported file: a light-curve record, a spectrum record or a Gaia table."""
    _, reader = READERS[identify(path)]
    return reader(Path(path))
