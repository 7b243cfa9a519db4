"""Ingest a folder of archive files into a survey store, streaming, quarantining what cannot be used.

1. **Scan.** Every file under the raw folder is identified by its content (``data.registry``):
   Kepler, K2 and TESS light curves and LAMOST spectra, whatever their names and folders (MAST's
   nested downloads included). Light-curve files are grouped by their star key ``(mission, id)``
   from the header (the quarters, campaigns or sectors of one star); spectra are keyed by OBSID.
   A FITS file no reader accepts is quarantined; files that are not FITS (notes, checksums) are
   not ours and are left alone.
2. **Match.** With a Gaia table (optional), each Gaia row is a star; its cross-match columns
   (``kic_id``, ``epic_id``, ``tic_id``, ``lamost_obsid``; ``data.gaia``) name the observations
   it should have. A null or absent column means the star has no such observation: the star is
   kept with the other modality alone (``has_lightcurve``/``has_spectrum`` in the catalogue). A
   named observation that is missing or unusable quarantines the star. Without a Gaia table every
   light-curve group and every spectrum is a star of its own, placed by its header's RA/Dec.
3. **Stream.** Stars are read and preprocessed (``data.preprocess``) in worker processes, chunk
   by chunk, and their rows written straight into preallocated memory-mapped ``.npy`` files, so
   memory does not grow with the number of stars. After each chunk the files are flushed and the
   chunk's record written; a killed ingest run again with the same inputs resumes after the last
   finished chunk (the folder ``store/generations/.ingest-resume``). The catalogue, the arrays
   (cut to the stars kept), truth and quarantine then become one new store generation
   (``data.generations``), so readers see all of them or none.

Every unreadable file, unmatched file and incomplete star gets a quarantine row (star_id, path,
field, reason, stage) instead of a silent drop. A Kepler star's ``star_id`` is its KIC; other
stars are named with their mission (``EPIC …``, ``TIC …``, ``LAMOST …``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing as mp
import os
import shutil
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from data import preprocess, quality, registry, schema
from data.errors import DataError
from data.gaia import CROSSMATCH_COLUMNS, NO_ID, is_gaia_table, read_gaia_table
from data.splits import assign_splits
from data.storage import (
    QUARANTINE_COLUMNS,
    SurveyStore,
    atomic_write_text,
    open_array_for_writing,
    preallocate_array,
    shrink_array,
)

log = logging.getLogger(__name__)

#: Stars per chunk: the unit of streaming (about 48 KB of arrays per star in memory at once) and of
#: resumption.
CHUNK_STARS = 1024
#: Folder (under ``store/generations``) of an unfinished ingest's arrays and chunk records.
RESUME_DIR = ".ingest-resume"
#: Files that are never archive data even when they look like it.
_NOT_DATA = ("truth.parquet",)
Problem = tuple[str, str, str, str]  # path, field, reason, stage


@dataclass(frozen=True)
class IngestSummary:
    """Counts of one ingest: stars kept, quarantine rows and their reasons."""

    n_stars: int
    n_quarantined: int
    reasons: dict[str, int] = field(default_factory=dict)
    n_rejected_stars: int = 0
    seconds: float = 0.0
    n_lightcurve_only: int = 0
    n_spectrum_only: int = 0
    n_chunks_resumed: int = 0


def star_label(mission: str, target_id: int, obsid: int = NO_ID) -> str:
    """The quarantine's ``star_id``: the bare KIC for Kepler stars, else ``EPIC …``/``TIC …``/``LAMOST …``."""
    if target_id != NO_ID:
        prefix = {schema.KEPLER: "", schema.K2: "EPIC ", schema.TESS: "TIC "}.get(mission, f"{mission} ")
        return f"{prefix}{int(target_id)}"
    return f"LAMOST {int(obsid)}" if obsid != NO_ID else ""


def _problem(category: str, path: Path | str, fld: str, reason: str, stage: str) -> Problem:
    return (str(path), fld, f"{category}: {reason}", stage)


def _read_problem(path: Path, exc: DataError) -> Problem:
    """Quarantine entry of a reader error: unreadable file, missing field or bad values."""
    prefix = f"{quality.REASON_BAD_VALUES}: "
    if exc.reason.startswith(prefix):
        return _problem(quality.REASON_BAD_VALUES, path, exc.field, exc.reason[len(prefix) :], "read")
    category = quality.REASON_UNREADABLE if exc.field == "file" else quality.REASON_MISSING_FIELD
    return _problem(category, path, exc.field, exc.reason, "read")


def _name_problem(path: Path) -> Problem | None:
    """The catalogue stores ';'-separated relative paths: a name that cannot be stored is refused."""
    if ";" in path.name or not path.name.isprintable():
        reason = f"name {path.name!r} holds ';' or a control character; rename the file"
        return _problem(quality.REASON_UNREADABLE, path, "file name", reason, "read")
    return None


# --- 1. scan ---------------------------------------------------------------------------------------
def _scan_one(path: Path) -> registry.Scanned | None:
    scanned = registry.scan_file(path)
    if scanned is not None and scanned.problem is None and (problem := _name_problem(path)):
        return registry.Scanned(path, scanned.product, scanned.key, (problem[1], problem[2]))
    return scanned


def _candidate_files(raw_dir: Path, skip: set[Path]) -> list[Path]:
    """Every visible file under ``raw_dir`` (hidden names are temporary files of atomic writes)."""
    out = []
    for folder, dirs, files in os.walk(raw_dir):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            path = Path(folder) / name
            if not name.startswith(".") and name not in _NOT_DATA and path not in skip:
                out.append(path)
    return out


@contextmanager
def _pool(workers: int, n_tasks: int) -> Iterator[ProcessPoolExecutor | None]:
    if workers <= 1 or n_tasks <= 64:
        yield None
        return
    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        yield pool


def _map(pool: ProcessPoolExecutor | None, fn, items: list, chunksize: int = 16) -> Iterator:
    return map(fn, items) if pool is None else pool.map(fn, items, chunksize=chunksize)


@dataclass
class _Scan:
    """The scan's findings: light-curve groups, spectra and the files no reader can use."""

    lightcurves: dict[tuple[str, int], list[registry.Scanned]] = field(default_factory=dict)
    spectra: dict[int, registry.Scanned] = field(default_factory=dict)
    failed_keys: set[tuple[str, int]] = field(default_factory=set)
    quarantine: list[dict] = field(default_factory=list)
    n_files: int = 0


def _category(fld: str, reason: str) -> str:
    if reason.startswith("not a product we read") or reason.startswith("ambiguous"):
        return quality.REASON_UNRECOGNISED
    return quality.REASON_UNREADABLE if fld in ("file", "file name") else quality.REASON_MISSING_FIELD


def _scan(files: list[Path], pool, progress: bool) -> _Scan:
    out = _Scan()
    kinds = {r.product: r.modality for r in registry.readers()}
    with tqdm(total=len(files), desc="scan", unit="file", disable=not progress) as bar:
        for scanned in _map(pool, _scan_one, files, chunksize=64):
            bar.update()
            if scanned is None:
                continue
            out.n_files += 1
            modality = kinds.get(scanned.product or "")
            if scanned.problem is None and scanned.key is None:
                id_key = {"lightcurve": "PRIMARY.KEPLERID/TICID", "spectrum": "PRIMARY.OBSID"}[modality]
                scanned = registry.Scanned(
                    scanned.path, scanned.product, None, (id_key, "missing target identifier keyword")
                )
            if scanned.problem is not None:
                fld, reason = scanned.problem
                label = star_label(*scanned.key) if scanned.key and modality == "lightcurve" else ""
                if scanned.key and modality == "lightcurve":
                    out.failed_keys.add(scanned.key)
                category = _category(fld, reason)
                out.quarantine.append(_row(label, _problem(category, scanned.path, fld, reason, "read")))
            elif modality == "lightcurve":
                out.lightcurves.setdefault(scanned.key, []).append(scanned)
            elif scanned.key[1] in out.spectra:
                first = out.spectra[scanned.key[1]].path
                reason = f"{quality.REASON_DUPLICATE}: {scanned.key[1]} already read from {first}"
                out.quarantine.append(_row("", (str(scanned.path), "OBSID", reason, "match")))
            else:
                out.spectra[scanned.key[1]] = scanned
    return out


# --- 2. match ------------------------------------------------------------------------------------
def _row(star_id: object, problem: Problem) -> dict[str, str]:
    path, fld, reason, stage = problem
    return {
        "star_id": "" if star_id is None else str(star_id),
        "path": path,
        "field": fld,
        "reason": reason,
        "stage": stage,
    }


def _find_gaia(raw_dir: Path) -> Path | None:
    """The Gaia table: ``gaia*`` in the raw folder, else any table with ``source_id``; None if none."""
    named = sorted(p for p in raw_dir.glob("gaia*") if p.is_file() and not p.name.startswith("."))
    if named:
        return named[0]
    tables = sorted(
        p
        for p in raw_dir.iterdir()
        if p.is_file()
        and p.suffix.lower() in (".csv", ".ecsv", ".xml", ".vot", ".parquet")
        and is_gaia_table(p)
    )
    return tables[0] if tables else None


def _bad_gaia_rows(gaia: pd.DataFrame) -> dict[int, tuple[str, str]]:
    """Row position -> (column, reason) of Gaia rows that cannot be placed on the sky or in the CMD.

    NaN parallaxes stay (two-parameter solutions are real stars); infinities never do.
    """
    checks = {
        "ra": (lambda v: np.isfinite(v) & (v >= 0) & (v < 360), "not a finite RA in [0, 360) deg"),
        "dec": (lambda v: np.isfinite(v) & (v >= -90) & (v <= 90), "not a finite Dec in [-90, 90] deg"),
        "phot_g_mean_mag": (np.isfinite, "not a finite G magnitude"),
        "parallax_error": (lambda v: ~(v < 0), "negative uncertainty"),
    }
    bad: dict[int, tuple[str, str]] = {}
    for name in gaia.columns:
        if name in ("source_id", *CROSSMATCH_COLUMNS) or not pd.api.types.is_numeric_dtype(gaia[name]):
            continue
        values = gaia[name].to_numpy(dtype=np.float64)
        ok, why = checks.get(name, (lambda v: ~np.isinf(v), "infinite value"))
        with np.errstate(invalid="ignore"):
            ok = ok(values) & ~np.isinf(values)
        for pos in np.flatnonzero(~ok):
            bad.setdefault(int(pos), (name, f"{why} ({values[pos]})"))
    return bad


def _lc_columns() -> dict[str, str]:
    """Light-curve cross-match column by mission, from the registered light-curve readers."""
    return {r.mission: r.id_column for r in registry.readers("lightcurve") if r.mission and r.id_column}


@dataclass
class _Plan:
    """The candidate stars, in catalogue order: Gaia rows (or none), files and keys."""

    gaia: pd.DataFrame | None  # one row per candidate (None without a Gaia table)
    mission: list[str]
    target_id: np.ndarray
    obsid: np.ndarray
    lc_files: list[tuple[Path, ...]]
    spec_file: list[Path | None]
    lc_products: list[tuple[str, ...]]
    ra_dec: np.ndarray | None  # (N, 2) from headers, without a Gaia table
    n_rejected: int = 0

    def __len__(self) -> int:
        return len(self.mission)


def _match(gaia: pd.DataFrame | None, gaia_path: Path | None, scan: _Scan, quarantine: list[dict]) -> _Plan:
    lc_cols = _lc_columns()
    if gaia is None:
        keys = sorted(k for k in scan.lightcurves if k not in scan.failed_keys)
        obsids = sorted(scan.spectra)
        lc_files = [tuple(s.path for s in scan.lightcurves[k]) for k in keys]
        products = [tuple(s.product for s in scan.lightcurves[k]) for k in keys]
        positions = [(scan.lightcurves[k][0].ra_deg, scan.lightcurves[k][0].dec_deg) for k in keys]
        positions += [(scan.spectra[o].ra_deg, scan.spectra[o].dec_deg) for o in obsids]
        return _Plan(
            None,
            [k[0] for k in keys] + [""] * len(obsids),
            np.array([k[1] for k in keys] + [NO_ID] * len(obsids), dtype=np.int64),
            np.array([NO_ID] * len(keys) + obsids, dtype=np.int64),
            lc_files + [()] * len(obsids),
            [None] * len(keys) + [scan.spectra[o].path for o in obsids],
            products + [()] * len(obsids),
            np.array(positions, dtype=np.float64).reshape(-1, 2),
        )

    n_rows = len(gaia)
    dup_source = gaia["source_id"].duplicated(keep="first").to_numpy()
    dup = dup_source.copy()
    for col in lc_cols.values():
        if col in gaia:
            ids = gaia[col].to_numpy(np.int64)
            dup |= (ids != NO_ID) & gaia[col].duplicated(keep="first").to_numpy()
    bad = _bad_gaia_rows(gaia)

    def ids(col: str) -> np.ndarray:
        return gaia[col].to_numpy(np.int64) if col in gaia else np.full(n_rows, NO_ID, dtype=np.int64)

    lc_ids = {mission: ids(col) for mission, col in lc_cols.items()}
    obsids = ids("lamost_obsid")
    keep_rows, missions, targets, lc_files, spec_files, products = [], [], [], [], [], []
    used_lc: set[tuple[str, int]] = set()
    used_spec: set[int] = set()
    for i in range(n_rows):
        key = next(((m, int(v[i])) for m, v in lc_ids.items() if v[i] != NO_ID), None)
        obsid = int(obsids[i])
        label = star_label(*(key or ("", NO_ID)), obsid)
        if dup[i]:
            fld = "source_id" if dup_source[i] else lc_cols.get(key[0], "id")
            quarantine.append(
                _row(label, (str(gaia_path), fld, f"{quality.REASON_DUPLICATE}: Gaia row", "match"))
            )
            continue
        if i in bad:
            fld, why = bad[i]
            quarantine.append(
                _row(label, (str(gaia_path), fld, f"{quality.REASON_BAD_GAIA}: {why}", "match"))
            )
            if key:
                used_lc.add(key)
            if obsid != NO_ID:
                used_spec.add(obsid)
            continue
        ok = True
        if key is None and obsid == NO_ID:
            reason = f"{quality.REASON_NO_LIGHTCURVE} and no spectrum: the row names no observation"
            quarantine.append(
                _row(f"Gaia DR3 {int(gaia['source_id'].iloc[i])}", ("", "cross-match", reason, "match"))
            )
            continue
        if key is not None:
            used_lc.add(key)
            if key not in scan.lightcurves or key in scan.failed_keys:
                ok = False
                if key not in scan.failed_keys:
                    quarantine.append(_row(label, ("", "lightcurve", quality.REASON_NO_LIGHTCURVE, "match")))
        if obsid != NO_ID:
            used_spec.add(obsid)
            if obsid not in scan.spectra:
                ok = False
                reason = f"{quality.REASON_NO_SPECTRUM} (obsid {obsid})"
                quarantine.append(_row(label, ("", "lamost", reason, "match")))
        if ok:
            keep_rows.append(i)
            missions.append(key[0] if key else "")
            targets.append(key[1] if key else NO_ID)
            lc_files.append(tuple(s.path for s in scan.lightcurves[key]) if key else ())
            products.append(tuple(s.product for s in scan.lightcurves[key]) if key else ())
            spec_files.append(scan.spectra[obsid].path if obsid != NO_ID else None)
    for key in sorted(set(scan.lightcurves) - used_lc - scan.failed_keys):
        path = scan.lightcurves[key][0].path
        quarantine.append(
            _row(star_label(*key), (str(path), "KEPLERID/TICID", quality.REASON_UNMATCHED_FILE, "match"))
        )
    for obsid in sorted(set(scan.spectra) - used_spec):
        quarantine.append(
            _row("", (str(scan.spectra[obsid].path), "OBSID", quality.REASON_UNMATCHED_FILE, "match"))
        )
    kept = gaia.iloc[keep_rows].reset_index(drop=True)
    return _Plan(
        kept,
        missions,
        np.array(targets, dtype=np.int64),
        obsids[keep_rows].astype(np.int64),
        lc_files,
        spec_files,
        products,
        None,
        n_rejected=n_rows - len(keep_rows),
    )


# --- 3. read and preprocess one star -------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class _Result:
    """One star's model inputs, or the problems that keep it out."""

    lc: tuple[np.ndarray, np.ndarray] | None = None
    spec: tuple[np.ndarray, np.ndarray] | None = None
    span_d: float = float("nan")
    problems: tuple[Problem, ...] = ()


def _read_lightcurves(
    paths: tuple[Path, ...], products: tuple[str, ...]
) -> tuple[tuple[np.ndarray, np.ndarray] | None, float, Problem | None]:
    """Read the quarters/sectors of one star, normalise each by its median, bin and build channels."""
    times, fluxes, valids = [], [], []
    for path, product in zip(paths, products, strict=True):
        try:
            rec = registry.READERS[product].read(path)
        except DataError as exc:
            return None, float("nan"), _read_problem(path, exc)
        good = rec.valid & np.isfinite(rec.flux)
        median = np.median(rec.flux[good]) if good.any() else np.nan
        times.append(rec.time_bkjd)
        fluxes.append(rec.flux / median)
        valids.append(good)
    time_all, valid_all = np.concatenate(times), np.concatenate(valids)
    order = np.argsort(time_all, kind="stable")  # sectors or quarters in any file order
    time_all, valid_all, flux_all = time_all[order], valid_all[order], np.concatenate(fluxes)[order]
    channels, mask = preprocess.lightcurve_channels(time_all, flux_all, valid_all)
    t_valid = time_all[valid_all & np.isfinite(time_all)]
    span = float(t_valid.max() - t_valid.min()) if t_valid.size else float("nan")
    if reason := preprocess.lightcurve_problem(mask):
        return (
            None,
            span,
            _problem(quality.REASON_TOO_FEW_VALID, paths[0], "LIGHTCURVE", reason, "preprocess"),
        )
    return (channels, mask), span, None


def _read_spectrum(path: Path) -> tuple[tuple[np.ndarray, np.ndarray] | None, Problem | None]:
    try:
        rec = registry.READERS["lamost_spectrum"].read(path)
    except DataError as exc:
        return None, _read_problem(path, exc)
    flux, mask = preprocess.spectrum_to_grid(rec.wavelength_aa, rec.flux, rec.mask, rec.helio_rv_kms)
    if reason := preprocess.spectrum_problem(mask):
        return None, _problem(quality.REASON_TOO_FEW_VALID, path, "FLUX", reason, "preprocess")
    return (flux, mask), None


def _process(task: tuple[tuple[Path, ...], tuple[str, ...], Path | None]) -> _Result:
    lc_paths, lc_products, spec_path = task
    problems: list[Problem] = []
    lc = spec = None
    span = float("nan")
    if lc_paths:
        lc, span, problem = _read_lightcurves(lc_paths, lc_products)
        problems += [problem] if problem else []
    if spec_path is not None:
        spec, problem = _read_spectrum(spec_path)
        problems += [problem] if problem else []
    return _Result(lc, spec, span, tuple(problems))


# --- streaming into preallocated arrays, resumable ---------------------------------------------------
def _row_shapes() -> dict[str, tuple[tuple[int, ...], str]]:
    """Per input array: its row shape on the model grid and its dtype (``data.schema``)."""
    lengths = {
        "lc_channels": len(schema.LC_CHANNELS),
        "lc_length": schema.LC_LENGTH,
        "spec_length": schema.SPEC_LENGTH,
    }
    return {a.name: (tuple(lengths[axis] for axis in a.axes[1:]), a.dtype) for a in schema.INPUT_ARRAYS}


def _fingerprint(plan: _Plan, gaia_path: Path | None, chunk: int) -> str:
    """What the arrays of a resumed ingest depend on: every file (name, size, mtime), grid, chunk."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(json.dumps([preprocess.grid_description(), chunk, len(plan)], default=str).encode())
    for path in [gaia_path] if gaia_path else []:
        st = path.stat()
        digest.update(f"{path}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    for lc_paths, spec in zip(plan.lc_files, plan.spec_file, strict=True):
        for path in (*lc_paths, spec):
            if path is not None:
                st = path.stat()
                digest.update(f"{path}|{st.st_size}|{st.st_mtime_ns}\n".encode())
        digest.update(b";")
    return digest.hexdigest()


class _Resume:
    """Preallocated arrays and finished-chunk records of one ingest, kept across a kill.

    Each chunk's rows are written through a memory map of that chunk's block of rows only, which
    is flushed and unmapped before the chunk is recorded: written pages do not stay mapped, so the
    process's resident memory does not grow with the number of stars.
    """

    def __init__(self, store: SurveyStore, fingerprint: str, n_rows: int) -> None:
        self.folder = store.store_dir / "generations" / RESUME_DIR
        self.state_path = self.folder / "state.json"
        self.shapes = _row_shapes()
        self.n_rows = n_rows
        state = self._state()
        self.offsets: dict[str, int] = {}
        if state.get("fingerprint") == fingerprint and state.get("n_rows") == n_rows:
            self.offsets = self._offsets()
        if len(self.offsets) != len(self.shapes):
            if self.folder.exists():
                log.info("discarding the unfinished ingest in %s: its inputs differ", self.folder)
                shutil.rmtree(self.folder)
            (self.folder / "chunks").mkdir(parents=True)
            for name, (row_shape, dtype) in self.shapes.items():
                mm = preallocate_array(self.array_path(name), n_rows, row_shape, dtype)
                mm.flush()
                del mm
            atomic_write_text(self.state_path, json.dumps({"fingerprint": fingerprint, "n_rows": n_rows}))
            self.offsets = self._offsets()
        self.chunks = self._finished_chunks()

    def _offsets(self) -> dict[str, int]:
        """Byte offset of row 0 in each array file; {} if a file is missing or has another shape."""
        out = {}
        for name, (row_shape, _) in self.shapes.items():
            try:
                mm = open_array_for_writing(self.array_path(name))
            except (OSError, ValueError):
                return {}
            ok = mm.shape == (self.n_rows, *row_shape)  # cut by a run killed while committing: not
            out[name] = int(mm.offset)
            del mm
            if not ok:
                return {}
        return out

    def _state(self) -> dict:
        try:
            return json.loads(self.state_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}

    def array_path(self, name: str) -> Path:
        return self.folder / "arrays" / f"{name}.npy"

    def _chunk_path(self, index: int) -> Path:
        return self.folder / "chunks" / f"{index:07d}.json"

    def _finished_chunks(self) -> list[dict]:
        out = []
        while True:
            try:
                out.append(json.loads(self._chunk_path(len(out)).read_text(encoding="utf-8")))
            except (OSError, ValueError):
                return out

    def write_rows(self, start: int, rows: dict[str, np.ndarray]) -> None:
        """Write rows ``start…`` of every array through a map of those rows, flushed and unmapped."""
        for name, values in rows.items():
            row_shape, dtype = self.shapes[name]
            row_bytes = int(np.prod(row_shape, dtype=np.int64)) * np.dtype(dtype).itemsize
            block = np.memmap(
                self.array_path(name),
                dtype=dtype,
                mode="r+",
                offset=self.offsets[name] + start * row_bytes,
                shape=(len(values), *row_shape),
            )
            block[:] = values
            block.flush()
            del block

    def finish_chunk(self, record: dict) -> None:
        """Record a chunk whose rows are on disk (the resume point)."""
        atomic_write_text(self._chunk_path(len(self.chunks)), json.dumps(record))
        self.chunks.append(record)

    def discard(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def _chunk_record(
    plan: _Plan, start: int, results: list[_Result], resume: _Resume, cursor: int
) -> tuple[dict, int]:
    """Write one chunk's kept rows at ``cursor``; its record lists kept stars and quarantine rows."""
    kept, spans, rows = [], [], []
    arrays: dict[str, list[np.ndarray]] = {name: [] for name in resume.shapes}
    (lc_shape, lc_dtype), (lm_shape, _), (sp_shape, sp_dtype), (sm_shape, _) = resume.shapes.values()
    for offset, res in enumerate(results):
        i = start + offset
        label = star_label(plan.mission[i], int(plan.target_id[i]), int(plan.obsid[i]))
        if res.problems:
            rows += [_row(label, p) for p in res.problems]
            continue
        kept.append(i)
        spans.append(res.span_d)
        lc = res.lc or (np.full(lc_shape, preprocess.LC_FILL_VALUE, lc_dtype), np.zeros(lm_shape, bool))
        spec = res.spec or (np.full(sp_shape, preprocess.SPEC_FILL_VALUE, sp_dtype), np.zeros(sm_shape, bool))
        for name, value in zip(resume.shapes, (*lc, *spec), strict=True):
            arrays[name].append(value)
    if kept:
        resume.write_rows(
            cursor, {name: np.stack(v).astype(resume.shapes[name][1]) for name, v in arrays.items()}
        )
    return {"start": start, "kept": kept, "span_d": spans, "quarantine": rows}, cursor + len(kept)


def _stream(
    plan: _Plan, resume: _Resume, pool, chunk: int, progress: bool
) -> tuple[list[int], list[float], list[dict]]:
    """Process every candidate star chunk by chunk (resuming after finished chunks)."""
    kept: list[int] = []
    spans: list[float] = []
    quarantine: list[dict] = []
    for record in resume.chunks:
        kept += record["kept"]
        spans += record["span_d"]
        quarantine += record["quarantine"]
    cursor = len(kept)
    done = len(resume.chunks) * chunk
    tasks = list(zip(plan.lc_files, plan.lc_products, plan.spec_file, strict=True))
    with tqdm(
        total=len(plan), initial=min(done, len(plan)), desc="ingest", unit="star", disable=not progress
    ) as bar:
        for start in range(done, len(plan), chunk):
            results = []
            for res in _map(pool, _process, tasks[start : start + chunk], chunksize=8):
                results.append(res)
                bar.update()
            record, cursor = _chunk_record(plan, start, results, resume, cursor)
            resume.finish_chunk(record)
            kept += record["kept"]
            spans += record["span_d"]
            quarantine += record["quarantine"]
    return kept, spans, quarantine


# --- catalogue ---------------------------------------------------------------------------------------
def _relative(paths: tuple[Path, ...], root: Path) -> str:
    return ";".join(Path(os.path.relpath(p, root)).as_posix() for p in paths)


def _split_keys(mission: np.ndarray, target: np.ndarray, obsid: np.ndarray, source: np.ndarray) -> list[str]:
    """The identifier each star's split is hashed from: the KIC (as always), else a mission-named id."""
    out = []
    for m, t, o, s in zip(mission, target, obsid, source, strict=True):
        if t != NO_ID:
            out.append(str(int(t)) if m == schema.KEPLER else f"{m} {int(t)}")
        elif s != NO_ID:
            out.append(f"Gaia DR3 {int(s)}")
        else:
            out.append(f"LAMOST {int(o)}")
    return out


def _catalogue(plan: _Plan, kept: list[int], spans: list[float], root: Path, seed: int) -> pd.DataFrame:
    n = len(kept)
    idx = np.asarray(kept, dtype=np.int64)
    gaia = (
        plan.gaia.iloc[idx].reset_index(drop=True) if plan.gaia is not None else pd.DataFrame(index=range(n))
    )

    def col(name: str) -> np.ndarray:
        return gaia[name].to_numpy(dtype=np.float64) if name in gaia else np.full(n, np.nan)

    plx, g = col("parallax"), col("phot_g_mean_mag")
    with np.errstate(invalid="ignore", divide="ignore"):
        abs_g = np.where(plx > 0, g + 5 * np.log10(plx) - 10, np.nan)
    # Dereddened as Gaia users do, with each star's GSP-Phot A_G and E(BP−RP); NaN where a table
    # lacks them (GSP-Phot is null for many stars, and absent from tables queried without it).
    ag, ebprp = col("ag_gspphot"), col("ebpminrp_gspphot")
    mission = np.array([plan.mission[i] for i in kept], dtype=object)
    target = plan.target_id[idx] if n else np.zeros(0, np.int64)
    obsid = plan.obsid[idx] if n else np.zeros(0, np.int64)
    source = gaia["source_id"].to_numpy(np.int64) if "source_id" in gaia else np.full(n, NO_ID, np.int64)
    ra, dec = col("ra"), col("dec")
    if plan.ra_dec is not None and n:
        ra, dec = plan.ra_dec[idx, 0], plan.ra_dec[idx, 1]
    has_lc = np.array([bool(plan.lc_files[i]) for i in kept], dtype=bool)
    has_spec = np.array([plan.spec_file[i] is not None for i in kept], dtype=bool)
    cat = pd.DataFrame(
        {
            "row": np.arange(n, dtype=np.int32),
            "kic_id": np.where(mission == schema.KEPLER, target, NO_ID).astype(np.int64),
            "lamost_obsid": obsid.astype(np.int64),
            "gaia_source_id": source,
            "split": assign_splits(_split_keys(mission, target, obsid, source), seed=seed),
            schema.MISSION: pd.array(mission.astype(str), dtype="string"),
            schema.TARGET_ID: target.astype(np.int64),
            schema.HAS_LIGHTCURVE: has_lc,
            schema.HAS_SPECTRUM: has_spec,
            "ra_deg": ra,
            "dec_deg": dec,
            "parallax_mas": plx,
            "parallax_error_mas": col("parallax_error"),
            "phot_g_mean_mag": g,
            "phot_bp_mean_mag": col("phot_bp_mean_mag"),
            "phot_rp_mean_mag": col("phot_rp_mean_mag"),
            "bp_rp_mag": col("bp_rp"),
            "abs_g_mag": abs_g,
            "ag_gspphot_mag": ag,
            "ebpminrp_gspphot_mag": ebprp,
            "bp_rp0_mag": col("bp_rp") - ebprp,
            "abs_g0_mag": abs_g - ag,
            "ruwe": col("ruwe"),
            "radial_velocity_error_kms": col("radial_velocity_error"),
            "kepler_path": [_relative(plan.lc_files[i], root) for i in kept],
            "lamost_path": [_relative((plan.spec_file[i],), root) if plan.spec_file[i] else "" for i in kept],
        }
    )
    cat["split"] = pd.Categorical(cat["split"], categories=["train", "val", "test"])
    _record_lightcurve_spans(cat, np.asarray(spans, dtype=np.float64))
    return cat


def _record_lightcurve_spans(catalog: pd.DataFrame, span: np.ndarray) -> None:
    """Say what of each light curve the model sees: ``lc_span_d`` observed, ``lc_used_d`` kept.

    The model grid covers LC_SPAN_D days from the first valid cadence (data/preprocess.py); longer
    light curves (several quarters) are cut there. Nothing is cut silently: both spans are
    catalogue columns, and the count of cut stars is logged and kept in the manifest. Stars
    without a light curve have NaN in both.
    """
    catalog["lc_span_d"] = span
    catalog["lc_used_d"] = np.minimum(span, preprocess.LC_SPAN_D)
    cut = int(np.sum(span > preprocess.LC_SPAN_D + 1.0))
    if cut:
        log.warning(
            "%d light curves are longer than the model grid: the first %.0f d from the first valid "
            "cadence are used (catalogue columns lc_span_d, lc_used_d)",
            cut,
            preprocess.LC_SPAN_D,
        )


def ingest_survey(
    raw_dir: Path,
    store: SurveyStore,
    *,
    seed: int = 0,
    progress: bool = True,
    workers: int = 2,
    chunk_stars: int = CHUNK_STARS,
) -> IngestSummary:
    """Read ``raw_dir``, preprocess every star and write catalogue, arrays, truth and quarantine.

    Parameters
    ----------
    raw_dir
        Folder with archive files in any layout (searched recursively, identified by content)
        and, optionally, a Gaia table (``gaia*`` or any table with ``source_id``) at its top.
    store
        Destination store; its catalogue, arrays, truth, quarantine and manifest are replaced by
        a new generation, without the previous embedding, layout or predictions.
    seed
        Seed of the star-level split (recorded in the manifest).
    progress
        Show tqdm bars (``scan`` over files, ``ingest`` over stars).
    workers
        Processes used to identify, read and preprocess files.
    chunk_stars
        Stars per streamed chunk (the unit of resumption).

    Raises
    ------
    DataError
        An unreadable Gaia table, or no star with a usable light curve or spectrum.
    """
    start_time = time.perf_counter()
    raw_dir = Path(raw_dir)
    if not raw_dir.is_dir():
        raise DataError(raw_dir, "raw", "not a folder")
    gaia_path = _find_gaia(raw_dir)
    gaia = read_gaia_table(gaia_path) if gaia_path is not None else None
    if gaia is None:
        log.warning("%s: no Gaia table; every light curve and spectrum is a star of its own", raw_dir)
    with store.new_generation("ingest", fresh=True) as new:
        files = _candidate_files(raw_dir, {gaia_path} if gaia_path else set())
        with _pool(workers, len(files)) as pool:
            scan = _scan(files, pool, progress)
            quarantine = list(scan.quarantine)
            plan = _match(gaia, gaia_path, scan, quarantine)
            n_files = scan.n_files
            del files, scan, gaia  # the plan holds what streaming needs: memory per star stays small
            resume = _Resume(store, _fingerprint(plan, gaia_path, chunk_stars), len(plan))
            resumed = len(resume.chunks)
            if resumed:
                log.info("resuming an interrupted ingest after %d finished chunks", resumed)
            kept, spans, problems = _stream(plan, resume, pool, chunk_stars, progress)
        quarantine += problems
        if not kept:
            resume.discard()
            raise DataError(raw_dir, "stars", "no star has a usable light curve or spectrum")
        catalog = _catalogue(plan, kept, spans, store.root, seed)
        qdf = pd.DataFrame(quarantine, columns=list(QUARANTINE_COLUMNS)).astype("string")
        reasons = Counter(reason.split(":")[0].split(" (")[0] for reason in qdf["reason"])
        # A fresh generation: the embedding, layout and predictions of the previous catalogue go, and
        # readers see the new catalogue, arrays, truth and quarantine together (data/generations.py).
        new.write_catalog(catalog)
        for name in resume.shapes:
            shrink_array(resume.array_path(name), len(kept))
            new.arrays_dir.mkdir(parents=True, exist_ok=True)
            os.replace(resume.array_path(name), new.array_path(name))
        truth_path = raw_dir / "truth.parquet"
        if truth_path.is_file():
            truth = pd.read_parquet(truth_path)
            truth = catalog[["row", "kic_id"]].merge(truth, on="kic_id", how="left", validate="many_to_one")
            new.write_truth(truth.sort_values("row").reset_index(drop=True))
        new.write_quarantine(qdf)
        seconds = time.perf_counter() - start_time
        n_rejected = plan.n_rejected + len(plan) - len(kept)
        summary = IngestSummary(
            len(catalog),
            len(qdf),
            dict(reasons),
            int(n_rejected),
            seconds,
            int((catalog[schema.HAS_LIGHTCURVE] & ~catalog[schema.HAS_SPECTRUM]).sum()),
            int((~catalog[schema.HAS_LIGHTCURVE] & catalog[schema.HAS_SPECTRUM]).sum()),
            resumed,
        )
        new.update_manifest(
            ingest={
                "raw_dir": str(raw_dir),
                "gaia_table": str(gaia_path) if gaia_path else None,
                "n_files": n_files,
                "n_stars": summary.n_stars,
                "n_lightcurve_only": summary.n_lightcurve_only,
                "n_spectrum_only": summary.n_spectrum_only,
                "n_quarantined": summary.n_quarantined,
                "n_rejected_stars": summary.n_rejected_stars,
                "reasons": summary.reasons,
                "seed": seed,
                "split_fractions": [0.7, 0.15, 0.15],
                "n_lightcurves_cut": int(np.sum(catalog["lc_span_d"] > preprocess.LC_SPAN_D + 1.0)),
                "chunk_stars": chunk_stars,
                "n_chunks_resumed": resumed,
                "seconds": round(seconds, 2),
            },
            grids=preprocess.grid_description(),
        )
    resume.discard()  # committed: the unfinished-ingest folder has served
    log.info(
        "ingested %d stars (%d light curve only, %d spectrum only), %d quarantine rows in %.1f s",
        summary.n_stars,
        summary.n_lightcurve_only,
        summary.n_spectrum_only,
        summary.n_quarantined,
        seconds,
    )
    return summary
