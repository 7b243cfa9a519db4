"""Plan an ingest: scan the raw folder for archive files, match them to Gaia rows, list the stars.

Steps 1 and 2 of ``data.ingest``. Every file under the raw folder is identified by its content
(``data.registry``); light-curve files are grouped by their star key ``(mission, id)`` and
spectra keyed by OBSID. With a Gaia table each row names the observations it should have;
without one every light-curve group and spectrum is a star of its own. The result is one
:class:`IngestPlan` (the candidate stars in catalogue order) and the quarantine rows of every file
or Gaia row that cannot become a star.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from data import quality, registry, schema
from data.engine import Engine, apply_each, chunked
from data.errors import DataError
from data.gaia import CROSSMATCH_COLUMNS, NO_ID, is_gaia_table

#: Files that are never archive data even when they look like it.
_NOT_DATA = ("truth.parquet",)
Problem = tuple[str, str, str, str]  # path, field, reason, stage


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


def _row(star_id: object, problem: Problem) -> dict[str, str]:
    path, fld, reason, stage = problem
    return {
        "star_id": "" if star_id is None else str(star_id),
        "path": path,
        "field": fld,
        "reason": reason,
        "stage": stage,
    }


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


#: Files identified per engine task.
SCAN_TASK_FILES = 64


def _scan(files: list[Path], engine: Engine, progress: bool) -> _Scan:
    out = _Scan()
    kinds = {r.product: r.modality for r in registry.readers()}
    with tqdm(total=len(files), desc="scan", unit="file", disable=not progress) as bar:
        found = engine.map_chunks(partial(apply_each, _scan_one), chunked(files, SCAN_TASK_FILES), bar=bar)
        for scanned in (s for part in found for s in part):
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


@dataclass(frozen=True, eq=False)
class IngestPlan:
    """The candidate stars, in catalogue order: Gaia rows (or none), files and keys.

    Shared by the planning, streaming and catalogue steps instead of long argument lists; frozen,
    because every later step reads it and none may change it.
    """

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


def _match(
    gaia: pd.DataFrame | None, gaia_path: Path | None, scan: _Scan, quarantine: list[dict]
) -> IngestPlan:
    lc_cols = _lc_columns()
    if gaia is None:
        keys = sorted(k for k in scan.lightcurves if k not in scan.failed_keys)
        obsids = sorted(scan.spectra)
        lc_files = [tuple(s.path for s in scan.lightcurves[k]) for k in keys]
        products = [tuple(s.product for s in scan.lightcurves[k]) for k in keys]
        positions = [(scan.lightcurves[k][0].ra_deg, scan.lightcurves[k][0].dec_deg) for k in keys]
        positions += [(scan.spectra[o].ra_deg, scan.spectra[o].dec_deg) for o in obsids]
        return IngestPlan(
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
    return IngestPlan(
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
