"""Cached loaders: one tidy catalogue table per server process.

``panel serve`` re-runs ``app.py`` for every browser session, so the catalogue is read once per
process through ``pn.cache`` and shared, read-only, by all sessions (DASHBOARD.md section 2.3).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import panel as pn

from data import catalog as schema
from data.storage import SurveyStore

TRUTH_PREFIX = "true_"

#: Columns never offered for colouring (identifiers, paths, interval bounds).
_NOT_COLOURS = {"row", "kic_id", "lamost_obsid", "gaia_source_id", "ra_deg", "dec_deg"}


#: Unit suffixes of catalogue column names, dropped from labels (the unit is shown in brackets).
_UNIT_SUFFIXES = ("_mag", "_kms", "_mas", "_deg", "_gyr", "_k", "_d")


def _tidy(df: pd.DataFrame) -> pd.DataFrame:
    """Float32 numerics, int32 ``row``, categorical labels; identifiers left as int64."""
    out = {}
    for name, col in df.items():
        if name == "row":
            out[name] = col.astype(np.int32)
        elif name in ("kic_id", "lamost_obsid", "gaia_source_id"):
            out[name] = col
        elif pd.api.types.is_bool_dtype(col):
            out[name] = col.astype(bool)
        elif pd.api.types.is_float_dtype(col) or pd.api.types.is_integer_dtype(col):
            # RA/Dec keep float64: float32 is only ~0.01 arcsec at these values, enough for
            # plotting, but exports should not lose what the catalogue had.
            out[name] = col if name in ("ra_deg", "dec_deg") else col.astype(np.float32)
        elif isinstance(col.dtype, pd.CategoricalDtype) or name.endswith("_path"):
            out[name] = col
        else:
            out[name] = col.astype("category")
    return pd.DataFrame(out)


@pn.cache(max_items=4)
def _load(path: str) -> pd.DataFrame:
    store = SurveyStore(Path(path))
    df = store.read_catalog()
    truth = store.read_truth()
    if truth is not None:
        truth = truth.rename(columns={c: f"{TRUTH_PREFIX}{c}" for c in truth.columns if c != "row"})
        truth["row"] = truth["row"].astype(np.int32)
        df = df.merge(truth, on="row", how="left", validate="one_to_one")
    return _tidy(df)


def load_catalog(survey_dir: Path) -> pd.DataFrame:
    """The catalogue of one survey joined with its truth (columns prefixed ``true_``).

    Cached per process: every session gets the same frame, which must not be modified.

    Raises
    ------
    data.errors.DataError
        When the survey has no catalogue.
    """
    return _load(str(Path(survey_dir).expanduser().resolve()))


def categorical_columns(df: pd.DataFrame) -> list[str]:
    """Label columns to colour by (``count_cat``), e.g. ``true_population``."""
    return [
        name
        for name, col in df.items()
        if isinstance(col.dtype, pd.CategoricalDtype)
        and name != "split"
        and 1 < col.cat.categories.size <= 12
    ]


def continuous_columns(df: pd.DataFrame) -> list[str]:
    """Numeric columns to colour by (mean per pixel): predictions, uncertainties' bounds aside."""
    names = []
    for name, col in df.items():
        if name in _NOT_COLOURS or name.endswith(("_lo", "_hi")) or name.endswith("_path"):
            continue
        if pd.api.types.is_float_dtype(col) and col.notna().any():
            names.append(name)
    return names


def column_label(name: str) -> str:
    """Human label of a column, with its unit from the catalogue schema where known."""
    base = name.removeprefix(TRUTH_PREFIX)
    stem = base.removeprefix("pred_")
    unit = ""
    if base in schema.BY_NAME:
        unit = schema.BY_NAME[base].unit
    elif stem in schema.PREDICTED:
        unit = schema.PREDICTED[stem][0]
    for suffix in _UNIT_SUFFIXES:
        if stem.endswith(suffix):
            stem = stem.removesuffix(suffix)
            break
    text = stem.replace("_", " ")
    kind = "true " if name.startswith(TRUTH_PREFIX) else ("predicted " if base.startswith("pred_") else "")
    return f"{kind}{text}" + (f" [{unit}]" if unit else "")


def color_options(df: pd.DataFrame) -> dict[str, str]:
    """Colour-by choices, label -> column; ``"density"`` first, then labels, then numbers."""
    options = {"density (count)": "density"}
    for name in [*categorical_columns(df), *continuous_columns(df)]:
        label = column_label(name)
        options[name if label in options else label] = name
    return options


def default_color(df: pd.DataFrame) -> str:
    """The first view's colouring: the true population when known, else density."""
    return (
        f"{TRUTH_PREFIX}population" if f"{TRUTH_PREFIX}population" in categorical_columns(df) else "density"
    )
