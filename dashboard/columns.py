"""The dashboard's column files: the catalogue as the server reads it, one memory-mapped file a column.

``panel serve`` holds one catalogue table per process (dashboard/store.py). Read from Parquet into
pandas, a table of 10^7 stars and its truth is several GiB per process, and ``--num-procs N``
holds N copies. Here the table is written once per store generation as one ``.npy`` file per
column, in the dtypes the dashboard uses (float32 numbers, RA/Dec and identifiers as stored,
categorical labels as int8/int16/int32 codes with their categories in ``columns.json``), with the
derived observables (dashboard/store.py) computed once. Every process maps the same files: a
column's pages are read when a view first touches it, and the page cache holds them once for all
processes on the machine, so a column nobody plots or filters costs nothing.

Layout, in the generation's folder (``<survey>/store/generations/<g>/``)::

    dashboard_columns/columns.json    format, rows, the column list, categories, stamps of the sources
    dashboard_columns/<i>.npy         column i of the list (values, or codes of a categorical)

The folder is built column by column (a column of 10^7 stars at a time in memory), in a temporary
folder renamed into place, so a reader sees a complete folder or none, and two processes building
at once each get a complete one. It is rebuilt when its catalogue or truth file changes (a store
from before generations, whose files are replaced in place). Where the survey folder is read-only
it is built under ``$DESA_CACHE_DIR`` (default ``~/.cache/desa``). The local file paths
(``*_path``) are left out: nothing in the dashboard plots, filters or exports them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from data import schema
from data.errors import DataError
from data.storage import SurveyStore

log = logging.getLogger(__name__)

#: Version of the folder's layout; a folder of another version is rebuilt.
FORMAT = 1
FOLDER = "dashboard_columns"
INDEX = "columns.json"
#: A temporary build folder this old (seconds) was left by a killed build and is removed.
LEFTOVER_S = 6 * 3600
#: Where the column files go when the survey folder cannot be written.
CACHE_ENV = "DESA_CACHE_DIR"
#: Column files at least this large are memory-mapped; smaller ones (under 262,144 float32 rows)
#: are read: each open map holds a file descriptor, and a small one shares almost nothing.
MAP_MIN_BYTES = 1 << 20
#: Identifier columns: kept as stored (int64), never cast to float.
IDENTIFIERS = ("kic_id", "lamost_obsid", "gaia_source_id", schema.TARGET_ID)
#: Kept in float64: float32 is ~0.01 arcsec at these values, enough to plot, too little to export.
FLOAT64 = ("ra_deg", "dec_deg")

#: Reads one source column by name as float64 (NaN for a gap), or None where there is no such column.
Reader = Callable[[str], "np.ndarray | None"]
#: A derived column: its name and how it is computed from source columns (None: not computable).
Derived = tuple[str, Callable[[Reader, int], "np.ndarray | None"]]


def tidy_column(name: str, col: pd.Series) -> pd.Series:
    """The dashboard dtype of one column.

    float32 numbers, int32 ``row``, categorical labels; identifiers int64 and RA/Dec float64, as
    stored.
    """
    if name == schema.ROW:
        return col.astype(np.int32)
    if name in IDENTIFIERS:
        return col
    if pd.api.types.is_bool_dtype(col):
        return col.astype(bool)
    if pd.api.types.is_float_dtype(col) or pd.api.types.is_integer_dtype(col):
        return col if name in FLOAT64 else col.astype(np.float32)
    if isinstance(col.dtype, pd.CategoricalDtype) or name.endswith("_path"):
        return col
    return col.astype("category")


def _stamp(path: Path) -> list[int] | None:
    """What identifies one version of a source file: size and modification time (ns), or None."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return [st.st_size, st.st_mtime_ns, st.st_ino]


def source_stamps(store: SurveyStore) -> dict[str, Any]:
    """The stamps of the files the column files are made from (catalogue and truth)."""
    return {"catalog": _stamp(store.catalog_path), "truth": _stamp(store.truth_path)}


def _parquet_columns(path: Path) -> list[str]:
    return list(pq.read_schema(path).names)


def _read_column(path: Path, name: str) -> pd.Series:
    return pd.read_parquet(path, columns=[name])[name]


def _truth_positions(store: SurveyStore, n_rows: int) -> np.ndarray | None:
    """For each catalogue row, its truth row's position in the truth file (-1: none); None: no truth."""
    if not store.truth_path.is_file():
        return None
    rows = _read_column(store.truth_path, schema.ROW).to_numpy()
    if len(np.unique(rows)) != len(rows):
        raise DataError(
            store.truth_path, schema.ROW, "a row appears twice in the truth; re-run `desa ingest`"
        )
    positions = np.full(n_rows, -1, dtype=np.int64)
    inside = (rows >= 0) & (rows < n_rows)
    positions[rows[inside].astype(np.int64)] = np.flatnonzero(inside)
    return positions


def _align(values: pd.Series, positions: np.ndarray) -> pd.Series:
    """Truth values in catalogue row order, missing where a row has no truth (a left join)."""
    if (positions >= 0).all():
        return values.take(positions).reset_index(drop=True)
    taken = values.take(np.where(positions >= 0, positions, 0)).reset_index(drop=True)
    missing = positions < 0
    if isinstance(taken.dtype, pd.CategoricalDtype):
        codes = taken.cat.codes.to_numpy().copy()
        codes[missing] = -1
        return pd.Series(pd.Categorical.from_codes(codes, dtype=taken.dtype))
    if pd.api.types.is_numeric_dtype(taken) and not pd.api.types.is_bool_dtype(taken):
        return taken.astype(np.float64).mask(missing)
    return taken.astype(object).mask(missing)


def _save(folder: Path, index: int, col: pd.Series) -> dict[str, Any]:
    """Write one tidied column as ``<index>.npy``; its record for the index."""
    record: dict[str, Any] = {"file": f"{index}.npy"}
    if isinstance(col.dtype, pd.CategoricalDtype):
        codes = col.cat.codes.to_numpy()
        record["categories"] = [c.item() if hasattr(c, "item") else c for c in col.cat.categories]
        record["ordered"] = bool(col.cat.ordered)
        values = codes
    else:
        values = col.to_numpy()
    if values.dtype == object:
        raise TypeError(f"column {col.name!r} has no fixed-size dtype ({col.dtype})")
    present = values >= 0 if "categories" in record else pd.notna(values)
    record["has_values"] = bool(np.any(present))
    np.save(folder / record["file"], np.ascontiguousarray(values), allow_pickle=False)
    return record


def _plan(store: SurveyStore) -> tuple[list[tuple[str, str, str]], int]:
    """The columns to write, as (output name, source table, source column), and the row count."""
    if not store.has_catalog():
        raise DataError(store.catalog_path, "catalog", "not found; run `desa ingest` first")
    names = _parquet_columns(store.catalog_path)
    if schema.ROW not in names:
        raise DataError(store.catalog_path, schema.ROW, "missing catalogue column; re-run `desa ingest`")
    n_rows = pq.ParquetFile(store.catalog_path).metadata.num_rows
    plan = [(name, "catalog", name) for name in names if not name.endswith("_path")]
    if store.truth_path.is_file():
        plan += [
            (f"{schema.TRUTH_PREFIX}{name}", "truth", name)
            for name in _parquet_columns(store.truth_path)
            if name != schema.ROW and f"{schema.TRUTH_PREFIX}{name}" not in names
        ]
    return plan, n_rows


def write_columns(store: SurveyStore, folder: Path, derived: list[Derived]) -> dict[str, Any]:
    """Write the column files of ``store`` (one generation) into the new ``folder``; return the index.

    ``derived`` columns follow the stored ones, each computed from source columns as read from the
    catalogue (the truth joined), before their dashboard dtypes, one or two columns at a time.
    """
    plan, n_rows = _plan(store)
    rows = _read_column(store.catalog_path, schema.ROW).to_numpy()
    if rows.dtype != np.int32 or not np.array_equal(rows, np.arange(n_rows, dtype=np.int32)):
        raise DataError(store.catalog_path, schema.ROW, "must be int32 0..N-1 in order; re-run `desa ingest`")
    del rows
    positions = _truth_positions(store, n_rows)
    paths = {"catalog": store.catalog_path, "truth": store.truth_path}

    def read(table: str, source: str) -> pd.Series:
        values = _read_column(paths[table], source)
        return values if table == "catalog" else _align(values, positions)

    index: dict[str, Any] = {"format": FORMAT, "n_rows": n_rows, "columns": []}
    for i, (name, table, source) in enumerate(plan):
        record = _save(folder, i, tidy_column(name, read(table, source).rename(name)))
        index["columns"].append({"name": name, **record})
    by_name = {name: (table, source) for name, table, source in plan}

    def reader(name: str) -> np.ndarray | None:
        if name not in by_name:
            return None
        return read(*by_name[name]).to_numpy(dtype=np.float64, na_value=np.nan)

    for name, compute in derived:
        values = compute(reader, n_rows)
        if values is None:
            continue
        col = pd.Series(np.asarray(values, dtype=np.float32), name=name)
        index["columns"].append({"name": name, **_save(folder, len(index["columns"]), col)})
    return index


def open_columns(folder: Path) -> pd.DataFrame:
    """The table of a column folder, every column a read-only view of its memory-mapped file.

    Files smaller than :data:`MAP_MIN_BYTES` are read into memory instead (still read-only): a
    map of a small column saves nothing and holds a file descriptor for as long as it lives.
    ``frame.attrs["has_values"]`` lists the columns holding at least one value, so the colour
    choices need not read every column.
    """
    index = json.loads((folder / INDEX).read_text(encoding="utf-8"))
    data = {}
    for record in index["columns"]:
        path = folder / record["file"]
        if path.stat().st_size >= MAP_MIN_BYTES:
            values = np.load(path, mmap_mode="r", allow_pickle=False)
        else:
            values = np.load(path, allow_pickle=False)
            values.flags.writeable = False
        if len(values) != index["n_rows"]:
            raise DataError(folder / record["file"], record["name"], "wrong length; remove the folder")
        if "categories" in record:
            dtype = pd.CategoricalDtype(pd.Index(record["categories"]), ordered=record["ordered"])
            data[record["name"]] = pd.Categorical.from_codes(values, dtype=dtype)
        else:
            data[record["name"]] = values
    # copy=False: the columns stay views of the maps (pandas neither copies nor consolidates them).
    frame = pd.DataFrame(data, copy=False)
    frame.attrs["has_values"] = [r["name"] for r in index["columns"] if r["has_values"]]
    return frame


def candidates(store: SurveyStore, name: str = FOLDER) -> Iterator[Path]:
    """Where the folder ``name`` may live: in the generation, else in the user's cache."""
    yield store.data_dir / name
    key = hashlib.sha256(str(store.data_dir.resolve()).encode()).hexdigest()[:16]
    cache = Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "desa")
    yield cache / name / key


def is_current(folder: Path, sources: dict[str, Any], *, index: str = INDEX, fmt: int = FORMAT) -> bool:
    """Whether ``folder`` holds a finished build (its ``index`` file, format ``fmt``) of ``sources``."""
    try:
        record = json.loads((folder / index).read_text(encoding="utf-8"))
    except (FileNotFoundError, NotADirectoryError, json.JSONDecodeError):
        return False
    return record.get("format") == fmt and record.get("sources") == sources


def _current(folder: Path, sources: dict[str, Any]) -> bool:
    return is_current(folder, sources)


def _remove_leftovers(folder: Path) -> None:
    """Temporary folders of builds killed long ago (a running build is younger)."""
    now = time.time()
    for left in folder.parent.glob(f".{folder.name}.*"):
        try:
            if left.is_dir() and now - left.stat().st_mtime > LEFTOVER_S:
                shutil.rmtree(left, ignore_errors=True)
        except FileNotFoundError:  # removed meanwhile by another process
            continue


def _build(store: SurveyStore, folder: Path, sources: dict[str, Any], derived: list[Derived]) -> None:
    """Write the folder beside ``folder`` and rename it into place (replacing a stale one)."""

    def write(tmp: Path) -> None:
        index = write_columns(store, tmp, derived)
        index["sources"] = sources
        (tmp / INDEX).write_text(json.dumps(index), encoding="utf-8")

    publish(folder, write, lambda: _current(folder, sources))


def publish(folder: Path, write: Callable[[Path], None], current: Callable[[], bool]) -> None:
    """Fill a temporary folder beside ``folder`` with ``write(tmp)``, then rename it into place.

    A reader sees the complete folder or none. Where a folder is already there, it stays if
    ``current()`` (another process just built it) and is replaced otherwise; open maps of the
    replaced files stay valid. Build folders left by killed builds are removed first.
    """
    folder.parent.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(folder)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".building", dir=folder.parent))
    try:
        write(tmp)
        for path in tmp.iterdir():
            with path.open("rb") as fh:
                os.fsync(fh.fileno())
        os.chmod(tmp, 0o777 & ~_umask())
        try:
            os.rename(tmp, folder)
        except OSError:  # a folder is there: stale (replace it) or just built by another process
            if current():
                return
            old = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".old", dir=folder.parent))
            os.rename(folder, old / folder.name)
            os.rename(tmp, folder)
            shutil.rmtree(old, ignore_errors=True)  # open maps of its files stay valid
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def load_columns(store: SurveyStore, derived: list[Derived]) -> pd.DataFrame:
    """The dashboard table of ``store`` (pin it to a generation), built first where missing or stale.

    Raises
    ------
    data.errors.DataError
        When the store has no catalogue, or its ``row`` column is not 0..N-1.
    OSError
        When neither the survey folder nor the cache folder can be written.
    """
    if not store.has_catalog():
        raise DataError(store.catalog_path, "catalog", "not found; run `desa ingest` first")
    sources = source_stamps(store)
    problems = []
    for folder in candidates(store):
        if not _current(folder, sources):
            try:
                _build(store, folder, sources, derived)
            except OSError as exc:  # a read-only survey folder (or a full disk): try the next place
                problems.append(str(exc))
                continue
            log.info("wrote the dashboard's column files of %s to %s", store.root, folder)
        return open_columns(folder)
    raise OSError("cannot write the dashboard's column files: " + "; ".join(problems))
