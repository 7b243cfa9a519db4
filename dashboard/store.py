"""Cached loaders: one tidy catalogue table per server process.

``panel serve`` re-runs ``app.py`` for every browser session, so the catalogue is read once per
process through ``pn.cache`` and shared, read-only, by all sessions (DASHBOARD.md section 2.3).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import panel as pn

from data import catalog, schema
from data.schema import TRUTH_PREFIX
from data.storage import SurveyStore

#: Observable derived at load: M_G of the single-star main sequence at the star's BP-RP minus its
#: M_G (positive above the sequence; an equal-mass binary sits ~0.75 mag above). Measured in the
#: dereddened CMD (GSP-Phot; NaN for a star without GSP-Phot values), as the unreddened MIST
#: sequence needs; in the observed CMD only when the catalogue has no dereddened values at all.
CMD_EXCESS = "cmd_excess_mag"
#: (colour, magnitude) catalogue columns of the CMD: dereddened with GSP-Phot, and as observed.
CMD_DEREDDENED, CMD_OBSERVED = ("bp_rp0_mag", "abs_g0_mag"), schema.CMD_PROPERTIES
#: Derived at load: the widest 68 % interval of a star, in units of that property's median width.
UNCERTAINTY_SCORE = "uncertainty_score"

#: Columns never offered for colouring (identifiers, paths, interval bounds).
_NOT_COLOURS = {"row", "kic_id", "lamost_obsid", "gaia_source_id", schema.TARGET_ID, "ra_deg", "dec_deg"}


#: Unit suffixes of catalogue column names, dropped from labels (the unit is shown in brackets).
_UNIT_SUFFIXES = ("_mag", "_kms", "_mas", "_deg", "_gyr", "_k", "_d")


def _tidy(df: pd.DataFrame) -> pd.DataFrame:
    """Float32 numerics, int32 ``row``, categorical labels; identifiers left as int64."""
    out = {}
    for name, col in df.items():
        if name == "row":
            out[name] = col.astype(np.int32)
        elif name in ("kic_id", "lamost_obsid", "gaia_source_id", schema.TARGET_ID):
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
def _load(path: str, generation: str) -> pd.DataFrame:
    store = SurveyStore(Path(path), generation=generation)
    return _tidy(add_derived_columns(store.read_catalog_with_truth()))


def cmd_excess(bp_rp_mag: np.ndarray, abs_g_mag: np.ndarray) -> np.ndarray:
    """Height above the single-star main sequence, ``M_G,MS(BP-RP) - M_G`` in mag (NaN off grid)."""
    from data.isochrones import main_sequence_abs_g

    colour = np.asarray(bp_rp_mag, dtype=np.float64)
    return main_sequence_abs_g(colour) - np.asarray(abs_g_mag, dtype=np.float64)


def uncertainty_score(df: pd.DataFrame) -> np.ndarray:
    """Per star, the largest ``(hi - lo) / median(hi - lo)`` over the predicted properties.

    1 is a typical interval, 3 an interval three times wider than usual for that property; NaN
    where a star has no interval at all.
    """
    ratios = []
    for stem in schema.PROPERTY_NAMES:
        lo, hi = f"pred_{stem}_lo", f"pred_{stem}_hi"
        if lo not in df.columns or hi not in df.columns:
            continue
        width = (df[hi] - df[lo]).to_numpy(dtype=np.float64)
        typical = np.nanmedian(width) if np.isfinite(width).any() else np.nan
        if np.isfinite(typical) and typical > 0:
            ratios.append(width / typical)
    if not ratios:
        return np.full(len(df), np.nan)
    stacked = np.vstack(ratios)
    out = np.full(len(df), np.nan)
    finite = np.isfinite(stacked).any(axis=0)
    out[finite] = np.nanmax(stacked[:, finite], axis=0)
    return out


def _has_values(df: pd.DataFrame, columns: tuple[str, ...]) -> bool:
    return all(c in df.columns and df[c].notna().any() for c in columns)


def add_derived_columns(df: pd.DataFrame) -> pd.DataFrame:
    """Add the observables templates use: ``cmd_excess_mag`` and ``uncertainty_score``."""
    derived = {}
    cmd = next((pair for pair in (CMD_DEREDDENED, CMD_OBSERVED) if _has_values(df, pair)), None)
    if cmd is not None:
        derived[CMD_EXCESS] = cmd_excess(df[cmd[0]].to_numpy(), df[cmd[1]].to_numpy())
    if any(f"pred_{stem}_lo" in df.columns for stem in schema.PROPERTY_NAMES):
        derived[UNCERTAINTY_SCORE] = uncertainty_score(df)
    return df.assign(**derived)


def median_reddening(df: pd.DataFrame) -> tuple[float, float]:
    """(E(BP−RP), A_G): the catalogue's median GSP-Phot reddening, (0, 0) where it has none.

    Shifts the unreddened isochrones onto the observed CMD, where a typical star sits.
    """
    pair = ("ebpminrp_gspphot_mag", "ag_gspphot_mag")
    if not all(c in df.columns for c in pair):
        return 0.0, 0.0
    values = df[list(pair)].to_numpy(dtype=np.float64)
    values = values[np.isfinite(values).all(axis=1)]
    if not len(values):
        return 0.0, 0.0
    return float(np.median(values[:, 0])), float(np.median(values[:, 1]))


def session_generation(survey_dir: Path) -> str:
    """The store generation a new session shows: the current one ("" for a store without them).

    Read once per session, so a session never mixes two generations; the next session after
    ``desa ingest`` or ``desa embed`` gets the new one (data/generations.py).
    """
    return SurveyStore(Path(survey_dir)).generation or ""


def load_catalog(survey_dir: Path, generation: str | None = None) -> pd.DataFrame:
    """The catalogue of one survey joined with its truth (columns prefixed ``true_``).

    ``generation`` pins the store generation (``session_generation``); None: the current one.
    Cached per process and generation: every session gets the same frame, which must not be
    modified.

    Raises
    ------
    data.errors.DataError
        When the survey has no catalogue.
    """
    if generation is None:
        generation = session_generation(survey_dir)
    return _load(str(Path(survey_dir).expanduser().resolve()), generation)


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


_DERIVED_LABELS = {
    CMD_EXCESS: "height above main sequence [mag]",
    UNCERTAINTY_SCORE: "uncertainty (widest interval / median)",
}


def column_label(name: str) -> str:
    """Human label of a column, with its unit from the catalogue schema where known."""
    if name in _DERIVED_LABELS:
        return _DERIVED_LABELS[name]
    base = name.removeprefix(TRUTH_PREFIX)
    stem = base.removeprefix("pred_")
    unit = ""
    if base in catalog.BY_NAME:
        unit = catalog.BY_NAME[base].unit
    elif stem in schema.PROPERTY:
        unit = schema.PROPERTY[stem].unit
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
    population = TRUTH_PREFIX + schema.POPULATION
    return population if population in categorical_columns(df) else "density"
