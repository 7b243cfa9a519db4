"""The catalogue schema: one row per star, keyed by the int32 ``row`` index.

Column names carry their units. Producers fill the groups they own: ingest writes the identity,
Gaia, extinction and file columns; ``desa embed`` adds the layout and the predictions. ``validate`` checks a
table against the schema before it is written, so a store never holds a half-shaped catalogue.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from data import schema
from data.errors import DataError


@dataclass(frozen=True)
class Column:
    """One catalogue column: name, dtype, unit and a short description."""

    name: str
    dtype: str
    unit: str = ""
    description: str = ""
    ucd: str = ""


IDENTITY = (
    Column(schema.ROW, "int32", "", "catalogue row index (0..N-1)", "meta.id;meta.main"),
    Column("kic_id", "int64", "", "Kepler Input Catalog identifier (-1: none)", "meta.id"),
    Column("lamost_obsid", "int64", "", "LAMOST observation identifier (-1: no spectrum)", "meta.id"),
    Column("gaia_source_id", "int64", "", "Gaia DR3 source_id (-1: no Gaia row)", "meta.id"),
    Column("split", "category", "", "star-level split: train, val or test", "meta.code"),
)

GAIA = (
    Column("ra_deg", "float64", "deg", "right ascension (ICRS)", "pos.eq.ra"),
    Column("dec_deg", "float64", "deg", "declination (ICRS)", "pos.eq.dec"),
    Column("parallax_mas", "float32", "mas", "parallax", "pos.parallax"),
    Column("parallax_error_mas", "float32", "mas", "parallax error", "stat.error;pos.parallax"),
    Column("phot_g_mean_mag", "float32", "mag", "Gaia G", "phot.mag;em.opt"),
    Column("phot_bp_mean_mag", "float32", "mag", "Gaia BP", "phot.mag;em.opt.B"),
    Column("phot_rp_mean_mag", "float32", "mag", "Gaia RP", "phot.mag;em.opt.R"),
    Column("bp_rp_mag", "float32", "mag", "Gaia BP-RP colour", "phot.color"),
    Column("abs_g_mag", "float32", "mag", "M_G = G + 5 log10(parallax/mas) - 10", "phys.magAbs"),
    Column("ruwe", "float32", "", "Gaia renormalised unit weight error", "stat.fit.goodness"),
    Column("radial_velocity_error_kms", "float32", "km/s", "Gaia RV error", "stat.error;spect.dopplerVeloc"),
)

#: Dereddened photometry from Gaia GSP-Phot (Andrae et al. 2023), as Gaia users deredden: NaN where
#: the Gaia table has no GSP-Phot values for the star (or no such columns). Written by every ingest
#: since these columns exist, so not required of older catalogues.
EXTINCTION = (
    Column("ag_gspphot_mag", "float32", "mag", "GSP-Phot extinction in G", "phys.absorption;em.opt"),
    Column("ebpminrp_gspphot_mag", "float32", "mag", "GSP-Phot reddening E(BP-RP)", "phot.color.excess"),
    Column("bp_rp0_mag", "float32", "mag", "dereddened colour BP-RP - E(BP-RP)_GSP-Phot", "phot.color"),
    Column("abs_g0_mag", "float32", "mag", "dereddened M_G - A_G,GSP-Phot", "phys.magAbs"),
)

FILES = (
    Column("kepler_path", "string", "", "light-curve file, relative to the survey folder", "meta.ref"),
    Column("lamost_path", "string", "", "spectrum file, relative to the survey folder", "meta.ref"),
)

#: Which observations a star has, and its light curve's star key (``data.schema``). Written by
#: every ingest since one-modality stars exist; a catalogue without them has both for every star.
MODALITIES = (
    Column(
        schema.MISSION, "string", "", "mission of the light curve: Kepler, K2, TESS or empty", "meta.code"
    ),
    Column(schema.TARGET_ID, "int64", "", "KIC, EPIC or TIC of the light curve (-1: none)", "meta.id"),
    Column(schema.HAS_LIGHTCURVE, "bool", "", "the star has a light curve", "meta.code"),
    Column(schema.HAS_SPECTRUM, "bool", "", "the star has a LAMOST spectrum", "meta.code"),
)

#: What of each light curve the model sees (written by ingest; absent in stores from before it).
LIGHTCURVE = (
    Column("lc_span_d", "float32", "d", "light curve: first to last valid cadence", "time.interval"),
    Column("lc_used_d", "float32", "d", "light curve: days on the model grid", "time.interval"),
)

LAYOUT = (
    Column("umap_x", "float32", "", "2-D UMAP layout of the DESA embedding", "pos.cartesian.x"),
    Column("umap_y", "float32", "", "2-D UMAP layout of the DESA embedding", "pos.cartesian.y"),
)


def prediction_columns(stem: str) -> tuple[Column, Column, Column]:
    """The median, lower and upper (68 % interval) columns of one predicted property (``data.schema``)."""
    prop = schema.PROPERTY[stem]
    unit, description, ucd = prop.unit, prop.description, prop.ucd
    return (
        Column(f"pred_{stem}", "float32", unit, f"predicted {description}", ucd),
        Column(f"pred_{stem}_lo", "float32", unit, f"predicted {description}, 16th pct", ucd),
        Column(f"pred_{stem}_hi", "float32", unit, f"predicted {description}, 84th pct", ucd),
    )


PREDICTIONS = (
    *(col for stem in schema.PROPERTY_NAMES for col in prediction_columns(stem)),
    Column("binary_prob", "float32", "", "probability of a detectable binary", "stat.probability"),
)

REQUIRED = IDENTITY + GAIA + FILES
ALL = REQUIRED + MODALITIES + LIGHTCURVE + EXTINCTION + LAYOUT + PREDICTIONS
BY_NAME = {col.name: col for col in ALL}


def coerce(df: pd.DataFrame) -> pd.DataFrame:
    """Return ``df`` with known columns cast to their schema dtype (other columns kept as they are)."""
    out = df.copy()
    for name in out.columns.intersection(list(BY_NAME)):
        out[name] = out[name].astype(BY_NAME[name].dtype)
    return out


def validate(df: pd.DataFrame, *, source: str = "catalogue", require: Iterable[Column] = REQUIRED) -> None:
    """Raise ``DataError`` unless ``df`` has the required columns and a dense int32 ``row`` index.

    Parameters
    ----------
    df
        The catalogue table.
    source
        What to name in the error (usually the file path).
    require
        Columns that must be present.
    """
    missing = [col.name for col in require if col.name not in df.columns]
    if missing:
        raise DataError(source, ",".join(missing), "missing catalogue columns; re-run `desa ingest`")
    rows = df["row"].to_numpy()
    if rows.dtype != np.int32 or not np.array_equal(rows, np.arange(len(df), dtype=np.int32)):
        raise DataError(source, "row", "must be int32 0..N-1 in order; re-run `desa ingest`")
    for name in ("kic_id", "gaia_source_id"):
        if name not in df.columns:
            continue
        ids = df.loc[df[name] != schema.NO_ID, name]  # -1: the star has none
        if ids.duplicated().any():
            dup = ids[ids.duplicated()].iloc[0]
            raise DataError(source, name, f"duplicate identifier {dup}: one row per star expected")
    if schema.MISSION in df.columns and schema.TARGET_ID in df.columns:
        keyed = df.loc[df[schema.TARGET_ID] != schema.NO_ID, [schema.MISSION, schema.TARGET_ID]]
        if keyed.duplicated().any():
            dup = keyed[keyed.duplicated()].iloc[0].tolist()
            raise DataError(source, schema.TARGET_ID, f"duplicate star key {dup}: one row per star expected")
