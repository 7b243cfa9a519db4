"""The on-disk layout of one survey, and atomic writes.

A survey folder holds everything about one set of stars::

    <survey>/raw/             files in archive formats (Kepler LLC FITS, LAMOST FITS, Gaia table)
    <survey>/store/catalog.parquet     one row per star, keyed by int32 ``row`` (data.catalog)
    <survey>/store/truth.parquet       ground truth for simulated stars, keyed by ``row``
    <survey>/store/quarantine.parquet  every rejected file or star with its reason
    <survey>/store/manifest.json       versions, seed, configs and grids of what was written
    <survey>/store/arrays/<name>.npy   per-star arrays, first axis = ``row`` (memory-mapped)
    <survey>/models/<run>/             checkpoints and logs of a training run
    <survey>/reports/                  evaluation reports

Every write goes to a temporary file beside its target and is then renamed with ``os.replace``,
so a reader never sees a half-written file, even after ``kill -9``.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from data import catalog as schema
from data.errors import DataError

STORE_FORMAT_VERSION = 1

QUARANTINE_COLUMNS = ("star_id", "path", "field", "reason", "stage")


def _umask() -> int:
    """The process umask, read without changing it where Linux allows (``/proc/self/status``)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    old = os.umask(0o022)  # elsewhere: read by setting (not thread-safe, so only as a fallback)
    os.umask(old)
    return old


@contextmanager
def atomic_path(target: Path, *, mode: int | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success rename it onto ``target``.

    The result keeps the mode of the file it replaces, else gets ``mode``, else the umask's
    default (mkstemp's 0600 would hide reports and exports from the rest of a group). A symlink
    target is followed: the file it points to is replaced and the link stays a link.
    """
    target = Path(target)
    if target.is_symlink():
        target = target.resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if mode is None:
            mode = target.stat().st_mode & 0o7777 if target.exists() else 0o666 & ~_umask()
        os.chmod(tmp_path, mode)
        os.replace(tmp_path, target)
    finally:
        tmp_path.unlink(missing_ok=True)


def atomic_write(target: Path, writer: Callable[[Path], None], *, mode: int | None = None) -> Path:
    """Call ``writer(tmp)`` and atomically move the result onto ``target`` (mode: see atomic_path)."""
    with atomic_path(target, mode=mode) as tmp:
        writer(tmp)
    return Path(target)


def atomic_write_text(target: Path, text: str, *, mode: int | None = None) -> Path:
    """Write text atomically."""
    return atomic_write(target, lambda tmp: tmp.write_text(text, encoding="utf-8"), mode=mode)


class SurveyStore:
    """Paths and readers/writers for one survey folder.

    Parameters
    ----------
    root
        The survey folder (see the module docstring). It need not exist yet.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    # --- paths -----------------------------------------------------------------------------
    @property
    def raw_dir(self) -> Path:
        return self.root / "raw"

    @property
    def store_dir(self) -> Path:
        return self.root / "store"

    @property
    def arrays_dir(self) -> Path:
        return self.store_dir / "arrays"

    @property
    def catalog_path(self) -> Path:
        return self.store_dir / "catalog.parquet"

    @property
    def truth_path(self) -> Path:
        return self.store_dir / "truth.parquet"

    @property
    def quarantine_path(self) -> Path:
        return self.store_dir / "quarantine.parquet"

    @property
    def manifest_path(self) -> Path:
        return self.store_dir / "manifest.json"

    @property
    def models_dir(self) -> Path:
        return self.root / "models"

    @property
    def reports_dir(self) -> Path:
        return self.root / "reports"

    def array_path(self, name: str) -> Path:
        return self.arrays_dir / f"{name}.npy"

    def has_catalog(self) -> bool:
        return self.catalog_path.is_file()

    # --- catalogue -------------------------------------------------------------------------
    def write_catalog(self, df: pd.DataFrame) -> Path:
        """Validate and atomically write the catalogue."""
        df = schema.coerce(df)
        schema.validate(df, source=str(self.catalog_path))
        return atomic_write(self.catalog_path, lambda tmp: df.to_parquet(tmp, index=False))

    def read_catalog(self, columns: list[str] | None = None) -> pd.DataFrame:
        """Read the catalogue (optionally a subset of columns)."""
        if not self.catalog_path.is_file():
            raise DataError(self.catalog_path, "catalog", "not found; run `desa ingest` first")
        df = pd.read_parquet(self.catalog_path, columns=columns)
        if columns is None or "row" in columns:
            schema.validate(df, source=str(self.catalog_path), require=schema.IDENTITY[:1])
        return df

    def update_catalog(self, new_columns: pd.DataFrame) -> Path:
        """Add or replace columns (aligned on ``row``) and write the catalogue atomically."""
        df = self.read_catalog()
        if len(new_columns) != len(df):
            raise DataError(self.catalog_path, "row", f"{len(new_columns)} rows given, {len(df)} stored")
        for name in new_columns.columns:
            if name != "row":
                df[name] = new_columns[name].to_numpy()
        return self.write_catalog(df)

    # --- truth and quarantine ----------------------------------------------------------------
    def write_truth(self, df: pd.DataFrame) -> Path:
        return atomic_write(self.truth_path, lambda tmp: df.to_parquet(tmp, index=False))

    def read_truth(self) -> pd.DataFrame | None:
        """Ground truth keyed by ``row``, or None for a real (not simulated) survey."""
        return pd.read_parquet(self.truth_path) if self.truth_path.is_file() else None

    def write_quarantine(self, df: pd.DataFrame) -> Path:
        missing = set(QUARANTINE_COLUMNS) - set(df.columns)
        if missing:
            raise DataError(self.quarantine_path, ",".join(sorted(missing)), "quarantine columns missing")
        return atomic_write(self.quarantine_path, lambda tmp: df.to_parquet(tmp, index=False))

    def read_quarantine(self) -> pd.DataFrame:
        if not self.quarantine_path.is_file():
            return pd.DataFrame({name: pd.Series(dtype="string") for name in QUARANTINE_COLUMNS})
        return pd.read_parquet(self.quarantine_path)

    # --- arrays ------------------------------------------------------------------------------
    def write_array(self, name: str, array: np.ndarray) -> Path:
        """Write one per-star array (first axis = row) atomically as ``.npy``."""

        def _save(tmp: Path) -> None:
            with tmp.open("wb") as fh:
                np.save(fh, np.ascontiguousarray(array))

        return atomic_write(self.array_path(name), _save)

    def read_array(self, name: str, *, mmap: bool = True) -> np.ndarray:
        """Read one per-star array, memory-mapped by default (rows are read lazily)."""
        path = self.array_path(name)
        if not path.is_file():
            raise DataError(path, name, "array not in the store; run the step that writes it")
        return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)

    def has_array(self, name: str) -> bool:
        return self.array_path(name).is_file()

    # --- manifest ----------------------------------------------------------------------------
    def read_manifest(self) -> dict[str, Any]:
        if not self.manifest_path.is_file():
            return {"format_version": STORE_FORMAT_VERSION}
        manifest = json.loads(self.manifest_path.read_text(encoding="utf-8"))
        if manifest.get("format_version") != STORE_FORMAT_VERSION:
            raise DataError(
                self.manifest_path,
                "format_version",
                f"{manifest.get('format_version')} found, {STORE_FORMAT_VERSION} expected; re-ingest",
            )
        return manifest

    def update_manifest(self, **sections: Any) -> Path:
        """Merge top-level sections into the manifest and write it atomically."""
        manifest = self.read_manifest()
        manifest.update(sections)
        manifest["format_version"] = STORE_FORMAT_VERSION
        text = json.dumps(manifest, indent=2, sort_keys=True, default=str)
        return atomic_write_text(self.manifest_path, text)


#: Output formats for ``export_table``: CLI/UI name -> (astropy format, file suffix).
EXPORT_FORMATS = {
    "csv": ("ascii.csv", ".csv"),
    "ecsv": ("ascii.ecsv", ".ecsv"),
    "votable": ("votable", ".xml"),
    "fits": ("fits", ".fits"),
}


def to_astropy_table(df: pd.DataFrame, *, meta: dict[str, Any] | None = None) -> Any:
    """Catalogue rows -> ``astropy.table.Table`` with units, descriptions and UCDs from the schema.

    Identifiers stay int64 (Gaia source_id exceeds 2**53); categoricals become strings.
    """
    from astropy import units as u
    from astropy.table import Table

    table = Table()
    for name in df.columns:
        values = df[name]
        if isinstance(values.dtype, pd.CategoricalDtype) or values.dtype == object:
            values = values.astype(str)
        elif str(values.dtype) == "string":
            values = values.astype(object).fillna("").astype(str)
        col = schema.BY_NAME.get(name)
        # Text as a fixed-width numpy array: FITS cannot write an object column.
        text = pd.api.types.is_string_dtype(values.dtype) or values.dtype == object
        table[name] = values.to_numpy(dtype=str) if text else values.to_numpy()
        if col is not None:
            if col.unit:
                table[name].unit = u.Unit(col.unit)
            table[name].description = col.description
            if col.ucd:
                table[name].meta["ucd"] = col.ucd
    table.meta.update(meta or {})
    return table


def export_table(df: pd.DataFrame, path: Path, *, fmt: str, meta: dict[str, Any] | None = None) -> Path:
    """Write catalogue rows atomically as CSV, ECSV, VOTable or FITS with units and provenance."""
    if fmt not in EXPORT_FORMATS:
        raise DataError(path, "format", f"{fmt!r} unknown; choose one of {sorted(EXPORT_FORMATS)}")
    table = to_astropy_table(df, meta=meta)
    if fmt in ("votable", "fits"):
        # VOUnit and FITS have no "dex"; such columns keep their unit in the description instead
        # of making the writer warn (astropy W50). UCDs travel through column meta.
        for name in table.colnames:
            unit = table[name].unit
            if unit is None:
                continue
            try:
                unit.to_string("vounit" if fmt == "votable" else "fits")
            except ValueError:
                table[name].unit = None
                table[name].description = f"{table[name].description or ''} [{unit}]".strip()
    astropy_format, _ = EXPORT_FORMATS[fmt]
    if fmt == "votable":
        return atomic_write(Path(path), lambda tmp: _write_votable(table, tmp))
    options: dict[str, Any] = {}
    if fmt == "fits":
        # FITS headers take short keys only; provenance goes in as HIERARCH cards. A key of at
        # most 8 characters keeps its whole value (long strings continue on CONTINUE cards).
        table.meta = {k.upper()[:60]: str(v) if len(k) <= 8 else str(v)[:60] for k, v in table.meta.items()}
    elif fmt == "csv":
        # Plain CSV has no metadata block: provenance goes in "# key: value" lines above the
        # header (read back with Table.read(path, format="ascii.csv", comment="#")).
        table.meta = {"comments": [f"{k}: {v}" for k, v in table.meta.items()]}
        options["comment"] = "# "
    return atomic_write(
        Path(path), lambda tmp: table.write(tmp, format=astropy_format, overwrite=True, **options)
    )


def _write_votable(table: Any, path: Path) -> None:
    """VOTable with provenance as RESOURCE INFO elements (what TOPCAT shows as parameters)."""
    from astropy.io.votable import from_table
    from astropy.io.votable.tree import Info

    votable = from_table(table)
    for key, value in table.meta.items():
        votable.resources[0].infos.append(Info(name=str(key), value=str(value)))
    # BINARY2 (VOTable 1.3; TOPCAT and astropy read it) is ~3x smaller than TABLEDATA.
    votable.to_xml(str(path), tabledata_format="binary2")
