"""Read, write and recognise Gaia DR3 source tables (CSV, ECSV, VOTable, FITS, Parquet).

Column names are the Gaia archive's (``docs/SCIENCE.md`` section 5.3), plus cross-match columns
naming each star's observations: ``kic_id`` (Kepler), ``epic_id`` (K2), ``tic_id`` (TESS) and
``lamost_obsid`` (LAMOST). A table needs at least one of them; a star without an observation of a
kind has a null there (or the table lacks the column), read as :data:`NO_ID`.
``source_id`` reaches 6.9×10¹⁸, above 2⁵³, so it is read
as int64 in every format and never passes through float64 (a float column is refused).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from astropy import units as u
from astropy.io import fits
from astropy.table import Table

from data import schema
from data.errors import DataError

#: Gaia DR3 columns we read, with their units.
GAIA_COLUMNS: dict[str, str] = {
    "source_id": "",
    "ra": "deg",
    "dec": "deg",
    "parallax": "mas",
    "parallax_error": "mas",
    "phot_g_mean_mag": "mag",
    "phot_bp_mean_mag": "mag",
    "phot_rp_mean_mag": "mag",
    "bp_rp": "mag",
    # GSP-Phot extinction and reddening with their 16th/84th percentiles (Andrae et al. 2023); null
    # for many stars and absent from some tables: optional, never required.
    "ag_gspphot": "mag",
    "ag_gspphot_lower": "mag",
    "ag_gspphot_upper": "mag",
    "ebpminrp_gspphot": "mag",
    "ebpminrp_gspphot_lower": "mag",
    "ebpminrp_gspphot_upper": "mag",
    # Renormalised unit weight error: ~1.0 ± 0.05 for well-behaved single sources, raised by the
    # photocentre wobble of orbits of months to years and by partially resolved pairs (cut 1.4).
    "ruwe": "",
    "pmra": "mas / yr",
    "pmdec": "mas / yr",
    # Null where the star is too faint for RVS: radial_velocity(_error) beyond G_RVS = 14,
    # rv_amplitude_robust beyond G_RVS = 12 (Katz et al. 2023, A&A 674, A5).
    "radial_velocity": "km / s",
    "radial_velocity_error": "km / s",
    "rv_amplitude_robust": "km / s",
    # Bit field: 1 astrometric, 2 spectroscopic (SB1/SB2), 4 eclipsing orbit found by the DR3
    # non-single-star pipelines (Gaia Collaboration, Arenou et al. 2023, A&A 674, A34); 0 otherwise.
    "non_single_star": "",
}
#: Integer flag columns: read as int16, never through float (a null or fraction is refused).
FLAG_COLUMNS = ("non_single_star",)
#: Cross-match columns: the identifier of a star's light curve (per mission) and of its spectrum.
#: Each registered reader names its column (``data.registry.Reader.id_column``).
CROSSMATCH_COLUMNS = ("kic_id", "epic_id", "tic_id", "lamost_obsid")
#: Identifier columns: int64 always.
ID_COLUMNS = ("source_id", *CROSSMATCH_COLUMNS)
REQUIRED_COLUMNS = ("source_id", "ra", "dec", "parallax", "phot_g_mean_mag")
#: A null cross-match identifier (no such observation of the star) reads as this value.
NO_ID = schema.NO_ID

_FORMATS = {
    ".csv": "csv",
    ".ecsv": "ecsv",
    ".xml": "votable",
    ".vot": "votable",
    ".fits": "fits",
    ".fit": "fits",
    ".parquet": "parquet",
}


def _format(path: Path) -> str:
    fmt = _FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        raise DataError(path, "suffix", f"unknown table format; expected one of {sorted(_FORMATS)}")
    return fmt


def _to_table(df: pd.DataFrame) -> Table:
    table = Table.from_pandas(df.reset_index(drop=True))
    for name, unit in GAIA_COLUMNS.items():
        if unit and name in table.colnames:
            table[name].unit = u.Unit(unit)
    return table


def write_gaia_table(path: Path, df: pd.DataFrame, *, table_format: str | None = None) -> Path:
    """Write a Gaia-like table; the format follows the suffix (.csv .ecsv .xml/.vot .fits .parquet).

    ``table_format`` (one of csv, ecsv, votable, fits, parquet) overrides the suffix, e.g. when
    writing to a temporary file.
    """
    path = Path(path)
    fmt = table_format or _format(path)
    df = df.copy()
    for name in ID_COLUMNS:
        if name in df.columns:
            # A null cross-match identifier (a star without that observation) stays null.
            df[name] = df[name].astype("Int64" if df[name].isna().any() else np.int64)
    if fmt == "csv":
        df.to_csv(path, index=False)
    elif fmt == "parquet":
        df.to_parquet(path, index=False)
    else:
        _to_table(df).write(
            path,
            format={"votable": "votable", "fits": "fits"}.get(fmt, "ascii.ecsv"),
            overwrite=True,
        )
    return path


def _read_raw(path: Path, fmt: str) -> pd.DataFrame:
    if fmt == "csv":
        # Identifiers as strings first, so no parser ever routes them through float64.
        df = pd.read_csv(path, dtype={name: "string" for name in ID_COLUMNS})
        for name in ID_COLUMNS:
            if name in df.columns:
                digits = df[name].str.fullmatch(r"\s*-?\d+\s*")
                if not digits.fillna(True).all():
                    bad = df[name][~digits.fillna(True)].iloc[0]
                    raise DataError(path, name, f"{bad!r} is not an integer; digits lost to float64?")
                df[name] = pd.to_numeric(df[name], errors="raise").astype("Int64")
        return df
    if fmt == "parquet":
        return pd.read_parquet(path)
    if fmt == "fits":
        # Our own handle: astropy leaks its file object when a damaged file fails to open.
        with path.open("rb") as fh:
            return Table.read(fh, format="fits").to_pandas()
    astro_fmt = {"votable": "votable", "fits": "fits", "ecsv": "ascii.ecsv"}[fmt]
    return Table.read(path, format=astro_fmt).to_pandas()


def _check_ids(df: pd.DataFrame, path: Path) -> pd.DataFrame:
    for name in ID_COLUMNS:
        if name not in df.columns:
            continue
        col = df[name]
        if not pd.api.types.is_integer_dtype(col.dtype):
            raise DataError(
                path,
                name,
                f"stored as {col.dtype}; int64 expected (float64 loses digits above 2**53)",
            )
        if col.isna().any():
            if name not in CROSSMATCH_COLUMNS:
                raise DataError(path, name, f"{int(col.isna().sum())} missing identifiers")
            col = col.astype("Int64").fillna(NO_ID)  # no observation of this kind for the star
        if name in CROSSMATCH_COLUMNS and (col < NO_ID).any():
            raise DataError(path, name, f"negative identifier {int(col[col < NO_ID].iloc[0])}; null = none")
        df[name] = col.astype(np.int64)
    return df


def _check_flags(df: pd.DataFrame, path: Path) -> pd.DataFrame:
    for name in FLAG_COLUMNS:
        if name not in df.columns:
            continue
        col = df[name]
        if not pd.api.types.is_integer_dtype(col.dtype) or col.isna().any():
            raise DataError(
                path, name, f"stored as {col.dtype} with {int(col.isna().sum())} nulls; integer bits expected"
            )
        if ((col < 0) | (col > 7)).any():
            raise DataError(
                path, name, f"value {int(col[(col < 0) | (col > 7)].iloc[0])} outside the DR3 bits 0-7"
            )
        df[name] = col.astype(np.int16)
    return df


def read_gaia_table(path: Path) -> pd.DataFrame:
    """Read a Gaia DR3 table with int64 identifiers.

    Null cross-match identifiers read as :data:`NO_ID` (the star has no such observation).

    Raises
    ------
    DataError
        Unknown suffix, unreadable file, missing required columns or every cross-match column,
        non-integer identifiers, a null ``source_id`` or ``non_single_star`` values that are not
        DR3 bits.
    """
    path = Path(path)
    fmt = _format(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            df = _read_raw(path, fmt)
        except (OSError, ValueError, TypeError, KeyError, UserWarning, fits.VerifyError) as exc:
            raise DataError(path, "file", f"unreadable {fmt} table ({exc})") from exc
    missing = [name for name in REQUIRED_COLUMNS if name not in df.columns]
    if missing:
        raise DataError(path, ",".join(missing), "missing Gaia columns")
    if not any(name in df.columns for name in CROSSMATCH_COLUMNS):
        raise DataError(
            path, ",".join(CROSSMATCH_COLUMNS), "no cross-match column: at least one names the stars' files"
        )
    return _check_flags(_check_ids(df, path), path)


def is_gaia_table(path: Path) -> bool:
    """True if ``path`` has a table suffix and a ``source_id`` column (reads the header only)."""
    path = Path(path)
    fmt = _FORMATS.get(path.suffix.lower())
    try:
        if fmt == "csv":
            with path.open(encoding="utf-8") as fh:
                return "source_id" in fh.readline().strip().split(",")
        if fmt == "parquet":
            return "source_id" in pq.read_schema(path).names
        if fmt == "fits":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # a damaged header only warns; reading it decides
                with path.open("rb") as fh, fits.open(fh, memmap=False) as hdul:
                    return any(
                        isinstance(hdu, fits.BinTableHDU) and "source_id" in hdu.columns.names for hdu in hdul
                    )
        if fmt in ("ecsv", "votable"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return "source_id" in _read_raw(path, fmt).columns
    except (OSError, ValueError, TypeError, KeyError, IndexError, UnicodeDecodeError, fits.VerifyError):
        return False
    return False
