"""Cached loaders: one tidy catalogue table per server process.

``panel serve`` re-runs ``app.py`` for every browser session, so the catalogue is read once per
process through ``pn.cache`` and shared, read-only, by all sessions (DASHBOARD.md section 2.3).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import panel as pn

from dashboard import shared
from dashboard.columns import FOLDER, Derived, Reader, load_columns
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


@pn.cache(max_items=4)
def _load(path: str, generation: str) -> pd.DataFrame:
    # Memory-mapped column files shared by every server process (dashboard/columns.py).
    return load_columns(SurveyStore(Path(path), generation=generation), DERIVED)


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
    score = _widest_interval(_reader(df), len(df))
    return np.full(len(df), np.nan) if score is None else score


def _widest_interval(read: Reader, n_rows: int) -> np.ndarray | None:
    """``uncertainty_score`` from columns read one at a time; None when there are no intervals."""
    if not any(read(f"pred_{stem}_lo") is not None for stem in schema.PROPERTY_NAMES):
        return None
    widest = np.full(n_rows, np.nan)
    finite = np.zeros(n_rows, dtype=bool)
    for stem in schema.PROPERTY_NAMES:
        lo, hi = read(f"pred_{stem}_lo"), read(f"pred_{stem}_hi")
        if lo is None or hi is None:
            continue
        width = hi - lo
        typical = np.nanmedian(width) if np.isfinite(width).any() else np.nan
        if np.isfinite(typical) and typical > 0:
            ratio = width / typical
            widest = np.fmax(widest, ratio)  # NaN only where every ratio so far is NaN
            finite |= np.isfinite(ratio)
    widest[~finite] = np.nan
    return widest


def _cmd_excess_of(read: Reader, n_rows: int) -> np.ndarray | None:
    """``cmd_excess`` in the dereddened CMD, else the observed one; None without either."""
    for pair in (CMD_DEREDDENED, CMD_OBSERVED):
        colour, magnitude = read(pair[0]), read(pair[1])
        if all(c is not None and (~np.isnan(c)).any() for c in (colour, magnitude)):
            return cmd_excess(colour, magnitude)
    return None


#: The observables derived at load, written beside the stored columns (dashboard/columns.py).
DERIVED: list[Derived] = [
    (CMD_EXCESS, _cmd_excess_of),
    (UNCERTAINTY_SCORE, _widest_interval),
]


def _reader(df: pd.DataFrame) -> Reader:
    def read(name: str) -> np.ndarray | None:
        return df[name].to_numpy(dtype=np.float64, na_value=np.nan) if name in df.columns else None

    return read


def add_derived_columns(df: pd.DataFrame) -> pd.DataFrame:
    """Add the observables templates use: ``cmd_excess_mag`` and ``uncertainty_score``."""
    derived = {}
    for name, compute in DERIVED:
        values = compute(_reader(df), len(df))
        if values is not None:
            derived[name] = values
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
    modified; values drawn from it are shared between sessions (dashboard/shared.py).

    Raises
    ------
    data.errors.DataError
        When the survey has no catalogue.
    """
    if generation is None:
        generation = session_generation(survey_dir)
    folder = str(Path(survey_dir).expanduser().resolve())
    frame = _load(folder, generation)
    # What every session draws first from this frame is computed once per process (shared.py).
    shared.register(frame, folder, generation)
    return frame


def prepare_catalog(survey_dir: Path) -> Path:
    """Write the column files of the survey's current generation if they are missing or stale.

    ``desa serve`` calls it (in a short-lived process) before the server starts, so its
    ``--num-procs`` workers map finished files instead of each building them for a first session.
    A catalogue of at least ``aggregates.min_rows()`` stars gets its base layers' aggregates too
    (dashboard/aggregates.py). Returns the folder of the column files.
    """
    # The views know their coordinate pairs, and plots.py imports this module: imported here.
    from dashboard import aggregates
    from dashboard.plots import view_pairs

    store = SurveyStore(Path(survey_dir)).snapshot()
    frame = load_columns(store, DERIVED)
    if len(frame) >= aggregates.min_rows():
        aggregates.ensure_aggregates(store, frame, view_pairs(frame), categorical_columns(frame))
    return store.data_dir / FOLDER


def categorical_columns(df: pd.DataFrame) -> list[str]:
    """Label columns to colour by (``count_cat``), e.g. ``true_population``."""
    return [
        name
        for name, col in df.items()
        if isinstance(col.dtype, pd.CategoricalDtype)
        and name != "split"
        and 1 < col.cat.categories.size <= 12
    ]


def has_values(df: pd.DataFrame, name: str) -> bool:
    """Whether column ``name`` holds a value.

    From the column files' index where known (reading a memory-mapped column would bring all its
    pages into this process), else from the values.
    """
    known = df.attrs.get("has_values")
    return name in known if known is not None else bool(df[name].notna().any())


def continuous_columns(df: pd.DataFrame) -> list[str]:
    """Numeric columns to colour by (mean per pixel): predictions, uncertainties' bounds aside."""
    names = []
    for name, col in df.items():
        if name in _NOT_COLOURS or name.endswith(("_lo", "_hi")) or name.endswith("_path"):
            continue
        if pd.api.types.is_float_dtype(col) and has_values(df, name):
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
