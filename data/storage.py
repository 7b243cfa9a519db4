"""The on-disk layout of one survey, and atomic writes.

A survey folder holds everything about one set of stars::

    <survey>/raw/             files in archive formats (Kepler LLC FITS, LAMOST FITS, Gaia table)
    <survey>/store/           the catalogue store, in generations (data/generations.py):
        CURRENT                            the current generation's name
        generations/<g>/catalog.parquet    one row per star, keyed by int32 ``row`` (data.catalog)
        generations/<g>/truth.parquet      ground truth for simulated stars, keyed by ``row``
        generations/<g>/quarantine.parquet every rejected file or star with its reason
        generations/<g>/manifest.json      versions, seed, configs and grids of what was written
        generations/<g>/arrays/<name>.npy  per-star arrays, first axis = ``row`` (memory-mapped)
    <survey>/models/<run>/             checkpoints and logs of a training run
    <survey>/reports/                  evaluation reports

A step writes a new generation and switches ``CURRENT`` to it when all its files are written
(``SurveyStore.new_generation``), so readers see one step's outputs together or not at all. A
store from before generations (the same files directly in ``store/``) reads as before.

Every file is written to a temporary file beside its target, fsynced and renamed with
``os.replace`` (data/atomic.py, re-exported here), so a reader never sees a half-written file,
even after ``kill -9`` or a power cut.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from data import catalog, generations, schema
from data.atomic import atomic_path, atomic_write, atomic_write_text, clean_temp_files
from data.errors import DataError

__all__ = [
    "EXPORT_FORMATS",
    "QUARANTINE_COLUMNS",
    "STORE_FORMAT_VERSION",
    "SurveyStore",
    "atomic_path",
    "atomic_write",
    "atomic_write_text",
    "clean_temp_files",
    "export_table",
    "to_astropy_table",
]

STORE_FORMAT_VERSION = 1

QUARANTINE_COLUMNS = ("star_id", "path", "field", "reason", "stage")

#: Step name of a single write outside a step's generation (tests, one-off fixes).
EDIT = "edit"


class SurveyStore:
    """Paths and readers/writers for one survey folder.

    Parameters
    ----------
    root
        The survey folder (see the module docstring). It need not exist yet.
    generation
        Read this generation only (see :meth:`snapshot`); None follows ``CURRENT`` on every access.
    """

    def __init__(self, root: Path, *, generation: str | None = None) -> None:
        self.root = Path(root)
        self._generation = generation  # "" = pinned to a store from before generations
        self._building: Path | None = None  # set inside new_generation: writes go there

    def __repr__(self) -> str:
        return f"SurveyStore({str(self.root)!r}, generation={self.generation!r})"

    # --- generations -------------------------------------------------------------------------
    @property
    def generation(self) -> str | None:
        """The generation read: pinned, else the current one; None without generations."""
        if self._building is not None:
            return self._building.name
        if self._generation is not None:
            return self._generation or None
        return generations.current_name(self.store_dir)

    @property
    def data_dir(self) -> Path:
        """The folder holding the catalogue, truth, quarantine, manifest and arrays read now."""
        if self._building is not None:
            return self._building
        name = self.generation
        return self.store_dir if name is None else generations.generation_dir(self.store_dir, name)

    def snapshot(self) -> SurveyStore:
        """The store pinned to its current generation: later reads never see a newer one."""
        return SurveyStore(self.root, generation=self.generation or "")

    def steps_done(self) -> list[str]:
        """The steps (``ingest``, ``embed``) whose outputs the generation read holds."""
        return generations.steps_done(self.data_dir)

    @contextmanager
    def new_generation(self, step: str, *, fresh: bool = False) -> Iterator[SurveyStore]:
        """Write a step's outputs as one new generation, made current when the block ends.

        Yields a store whose reads see the current generation and whose writes go to the new one.
        ``fresh`` starts empty instead of from the current generation's files (``ingest``: what
        was derived from an older catalogue goes). An exception or a kill leaves the current
        generation as it was.

        Raises
        ------
        data.atomic.LockedError
            When another step is writing this store.
        """
        if self._building is not None or self._generation is not None:
            raise RuntimeError(f"{self!r} is pinned to one generation and read-only")
        with generations.building(self.store_dir, step, fresh=fresh) as folder:
            staged = SurveyStore(self.root)
            staged._building = folder
            yield staged

    @contextmanager
    def _writing(self) -> Iterator[SurveyStore]:
        """The store to write into: this one inside a step, else a one-write generation."""
        if self._building is not None:
            yield self
            return
        with self.new_generation(EDIT) as staged:
            yield staged

    # --- paths -----------------------------------------------------------------------------
    @property
    def raw_dir(self) -> Path:
        return self.root / "raw"

    @property
    def store_dir(self) -> Path:
        return self.root / "store"

    @property
    def arrays_dir(self) -> Path:
        return self.data_dir / "arrays"

    @property
    def catalog_path(self) -> Path:
        return self.data_dir / "catalog.parquet"

    @property
    def truth_path(self) -> Path:
        return self.data_dir / "truth.parquet"

    @property
    def quarantine_path(self) -> Path:
        return self.data_dir / "quarantine.parquet"

    @property
    def manifest_path(self) -> Path:
        return self.data_dir / "manifest.json"

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
        df = catalog.coerce(df)
        catalog.validate(df, source=str(self.catalog_path))
        with self._writing() as store:
            atomic_write(store.catalog_path, lambda tmp: df.to_parquet(tmp, index=False))
        return self.catalog_path

    def read_catalog(self, columns: list[str] | None = None) -> pd.DataFrame:
        """Read the catalogue (optionally a subset of columns)."""
        path = self.catalog_path
        if not path.is_file():
            raise DataError(path, "catalog", "not found; run `desa ingest` first")
        df = pd.read_parquet(path, columns=columns)
        if columns is None or "row" in columns:
            catalog.validate(df, source=str(path), require=catalog.IDENTITY[:1])
        return df

    def update_catalog(self, new_columns: pd.DataFrame) -> Path:
        """Add or replace columns (aligned on ``row``) and write the catalogue atomically."""
        with self._writing() as store:
            df = store.read_catalog()
            if len(new_columns) != len(df):
                raise DataError(store.catalog_path, "row", f"{len(new_columns)} rows given, {len(df)} stored")
            for name in new_columns.columns:
                if name != "row":
                    df[name] = new_columns[name].to_numpy()
            store.write_catalog(df)
        return self.catalog_path

    # --- truth and quarantine ----------------------------------------------------------------
    def write_truth(self, df: pd.DataFrame) -> Path:
        with self._writing() as store:
            atomic_write(store.truth_path, lambda tmp: df.to_parquet(tmp, index=False))
        return self.truth_path

    def read_truth(self) -> pd.DataFrame | None:
        """Ground truth keyed by ``row``, or None for a real (not simulated) survey."""
        path = self.truth_path
        return pd.read_parquet(path) if path.is_file() else None

    def read_catalog_with_truth(self) -> pd.DataFrame:
        """The catalogue with the truth beside it as ``true_<column>`` (``data.schema.join_truth``)."""
        return schema.join_truth(self.read_catalog(), self.read_truth())

    def write_quarantine(self, df: pd.DataFrame) -> Path:
        missing = set(QUARANTINE_COLUMNS) - set(df.columns)
        if missing:
            raise DataError(self.quarantine_path, ",".join(sorted(missing)), "quarantine columns missing")
        with self._writing() as store:
            atomic_write(store.quarantine_path, lambda tmp: df.to_parquet(tmp, index=False))
        return self.quarantine_path

    def read_quarantine(self) -> pd.DataFrame:
        path = self.quarantine_path
        if not path.is_file():
            return pd.DataFrame({name: pd.Series(dtype="string") for name in QUARANTINE_COLUMNS})
        return pd.read_parquet(path)

    # --- arrays ------------------------------------------------------------------------------
    def write_array(self, name: str, array: np.ndarray) -> Path:
        """Write one per-star array (first axis = row) atomically as ``.npy``."""

        def _save(tmp: Path) -> None:
            with tmp.open("wb") as fh:
                np.save(fh, np.ascontiguousarray(array))

        with self._writing() as store:
            atomic_write(store.array_path(name), _save)
        return self.array_path(name)

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
        path = self.manifest_path
        if not path.is_file():
            return {"format_version": STORE_FORMAT_VERSION}
        manifest = json.loads(path.read_text(encoding="utf-8"))
        if manifest.get("format_version") != STORE_FORMAT_VERSION:
            raise DataError(
                path,
                "format_version",
                f"{manifest.get('format_version')} found, {STORE_FORMAT_VERSION} expected; re-ingest",
            )
        return manifest

    def update_manifest(self, **sections: Any) -> Path:
        """Merge top-level sections into the manifest and write it atomically."""
        with self._writing() as store:
            manifest = store.read_manifest()
            manifest.update(sections)
            manifest["format_version"] = STORE_FORMAT_VERSION
            text = json.dumps(manifest, indent=2, sort_keys=True, default=str)
            atomic_write_text(store.manifest_path, text)
        return self.manifest_path


# --- arrays written row block by row block (streaming ingest) --------------------------------------
def preallocate_array(path: Path, n_rows: int, row_shape: tuple[int, ...], dtype: str) -> np.memmap:
    """Create ``path`` as an ``.npy`` of ``n_rows`` rows, memory-mapped for writing in place.

    The file is sparse until rows are written, so preallocating for every candidate star costs
    no disk until their rows arrive; :func:`shrink_array` cuts it to the rows kept.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return np.lib.format.open_memmap(path, mode="w+", dtype=np.dtype(dtype), shape=(int(n_rows), *row_shape))


def open_array_for_writing(path: Path) -> np.memmap:
    """Memory-map an existing ``.npy`` (one of :func:`preallocate_array`) for writing in place."""
    return np.load(Path(path), mmap_mode="r+", allow_pickle=False)


def shrink_array(path: Path, n_rows: int) -> None:
    """Keep the first ``n_rows`` rows of an ``.npy`` file: rewrite its shape, truncate its data.

    The header keeps its length (the shape text is padded with spaces, as numpy pads it), so the
    data stay where they are and nothing is copied.
    """
    path = Path(path)
    with path.open("r+b") as fh:
        version = np.lib.format.read_magic(fh)
        read_header = (
            np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        )
        shape, fortran, dtype = read_header(fh)
        start = fh.tell()
        if n_rows > shape[0] or fortran:
            raise ValueError(f"{path}: cannot shrink {shape} (fortran={fortran}) to {n_rows} rows")
        new_shape = (int(n_rows), *shape[1:])
        text = repr(
            {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": new_shape}
        )
        size_bytes = 2 if version == (1, 0) else 4
        room = start - 8 - size_bytes  # header text including its closing newline
        if len(text) + 1 > room:
            raise ValueError(f"{path}: the new header does not fit")
        fh.seek(8 + size_bytes)
        fh.write((text + " " * (room - len(text) - 1) + "\n").encode("latin1"))
        fh.truncate(start + int(np.prod(new_shape, dtype=np.int64)) * dtype.itemsize)


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
        col = catalog.BY_NAME.get(name)
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


def export_table(
    df: pd.DataFrame,
    path: Path,
    *,
    fmt: str,
    meta: dict[str, Any] | None = None,
    overwrite: bool = True,
) -> Path:
    """Write catalogue rows atomically as CSV, ECSV, VOTable or FITS with units and provenance.

    With ``overwrite=False`` an existing ``path`` is kept and ``FileExistsError`` raised.
    """
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
        return atomic_write(Path(path), lambda tmp: _write_votable(table, tmp), overwrite=overwrite)
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
        Path(path),
        lambda tmp: table.write(tmp, format=astropy_format, overwrite=True, **options),
        overwrite=overwrite,
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
