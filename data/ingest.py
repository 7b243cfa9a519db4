"""Ingest a folder of archive-format files into a survey store, quarantining what cannot be used.

``<survey>/raw`` holds a Gaia table (with the cross-match columns ``kic_id`` and ``lamost_obsid``),
Kepler light curves and LAMOST spectra. Files are read with the product readers and preprocessed
onto the model grids (:mod:`data.preprocess`) in worker processes. A star enters the catalogue only
with both modalities; every unreadable file, unmatched file and incomplete star gets a quarantine
row (star_id, path, field, reason, stage) instead of a silent drop.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import re
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from data import preprocess, quality, schema
from data.errors import DataError
from data.gaia import is_gaia_table, read_gaia_table
from data.kepler import read_kepler_lightcurve
from data.lamost import read_lamost_spectrum
from data.splits import assign_splits
from data.storage import QUARANTINE_COLUMNS, SurveyStore

log = logging.getLogger(__name__)

_KEPLER_NAME = re.compile(r"^(?:kplr|ktwo)(\d+)-.*\.fits(?:\.gz)?$")
_LAMOST_NAME = re.compile(r"^spec-.*\.fits(?:\.gz)?$")


@dataclass(frozen=True)
class IngestSummary:
    """Counts of one ingest: stars kept, quarantine rows and their reasons."""

    n_stars: int
    n_quarantined: int
    reasons: dict[str, int] = field(default_factory=dict)
    n_rejected_stars: int = 0
    seconds: float = 0.0


@dataclass(frozen=True, eq=False)
class _Result:
    kind: str  # "lc" or "spec"
    key: int | None  # kic_id or obsid
    paths: tuple[Path, ...]
    arrays: tuple[np.ndarray, np.ndarray] | None = None
    problem: tuple[str, str, str, str] | None = None  # path, field, reason, stage
    span_d: float = float("nan")  # light curves: days from first to last valid cadence, all quarters


def _problem(category: str, path: Path, fld: str, reason: str, stage: str) -> tuple[str, str, str, str]:
    return (str(path), fld, f"{category}: {reason}", stage)


def _read_problem(path: Path, exc: DataError) -> tuple[str, str, str, str]:
    """Quarantine entry of a reader error: unreadable file, missing field or bad values."""
    prefix = f"{quality.REASON_BAD_VALUES}: "
    if exc.reason.startswith(prefix):
        return _problem(quality.REASON_BAD_VALUES, path, exc.field, exc.reason[len(prefix) :], "read")
    category = quality.REASON_UNREADABLE if exc.field == "file" else quality.REASON_MISSING_FIELD
    return _problem(category, path, exc.field, exc.reason, "read")


def _name_problem(path: Path) -> tuple[str, str, str, str] | None:
    """The catalogue stores ';'-separated relative paths: a name that cannot be stored is refused."""
    if ";" in path.name or not path.name.isprintable():
        reason = f"name {path.name!r} holds ';' or a control character; rename the file"
        return _problem(quality.REASON_UNREADABLE, path, "file name", reason, "read")
    return None


def _read_lightcurves(paths: tuple[Path, ...]) -> _Result:
    """Read the quarters of one star, normalise each by its median, bin and build channels."""
    times, fluxes, valids, kic = [], [], [], None
    for path in paths:
        if problem := _name_problem(path):
            return _Result("lc", kic, paths, problem=problem)
        try:
            rec = read_kepler_lightcurve(path)
        except DataError as exc:
            return _Result("lc", kic, paths, problem=_read_problem(path, exc))
        kic = rec.kic_id
        good = rec.valid & np.isfinite(rec.flux)
        median = np.median(rec.flux[good]) if good.any() else np.nan
        times.append(rec.time_bkjd)
        fluxes.append(rec.flux / median)
        valids.append(good)
    time_all, valid_all = np.concatenate(times), np.concatenate(valids)
    channels, mask = preprocess.lightcurve_channels(time_all, np.concatenate(fluxes), valid_all)
    t_valid = time_all[valid_all & np.isfinite(time_all)]
    span = float(t_valid.max() - t_valid.min()) if t_valid.size else float("nan")
    reason = preprocess.lightcurve_problem(mask)
    if reason:
        return _Result(
            "lc",
            kic,
            paths,
            problem=_problem(quality.REASON_TOO_FEW_VALID, paths[0], "LIGHTCURVE", reason, "preprocess"),
        )
    return _Result("lc", kic, paths, arrays=(channels, mask), span_d=span)


def _read_spectrum(paths: tuple[Path, ...]) -> _Result:
    path = paths[0]
    if problem := _name_problem(path):
        return _Result("spec", None, paths, problem=problem)
    try:
        rec = read_lamost_spectrum(path)
    except DataError as exc:
        return _Result("spec", None, paths, problem=_read_problem(path, exc))
    flux, mask = preprocess.spectrum_to_grid(rec.wavelength_aa, rec.flux, rec.mask, rec.helio_rv_kms)
    reason = preprocess.spectrum_problem(mask)
    if reason:
        return _Result(
            "spec",
            rec.obsid,
            paths,
            problem=_problem(quality.REASON_TOO_FEW_VALID, path, "FLUX", reason, "preprocess"),
        )
    return _Result("spec", rec.obsid, paths, arrays=(flux, mask))


def _process(task: tuple[str, tuple[Path, ...]]) -> _Result:
    kind, paths = task
    return _read_lightcurves(paths) if kind == "lc" else _read_spectrum(paths)


def _find_gaia(raw_dir: Path) -> Path:
    candidates = sorted(p for p in raw_dir.glob("gaia*") if p.is_file()) or sorted(
        p for p in raw_dir.iterdir() if p.is_file() and is_gaia_table(p)
    )
    if not candidates:
        raise DataError(
            raw_dir,
            "gaia",
            "no Gaia table (gaia_source.ecsv/csv/xml/fits/parquet) in the raw folder",
        )
    return candidates[0]


def _tasks(raw_dir: Path) -> list[tuple[str, tuple[Path, ...]]]:
    """Group Kepler quarters by the KIC id in their name; one task per spectrum."""
    groups: dict[str, list[Path]] = {}
    spectra = []
    for path in sorted(raw_dir.rglob("*.fits*")):
        if path.name.startswith("."):
            continue  # temporary file of an interrupted atomic write
        if match := _KEPLER_NAME.match(path.name):
            groups.setdefault(match.group(1), []).append(path)
        elif _LAMOST_NAME.match(path.name):
            spectra.append(path)
    return [("lc", tuple(p)) for p in groups.values()] + [("spec", (p,)) for p in spectra]


def _run(tasks: list, workers: int, progress: bool) -> list[_Result]:
    with tqdm(total=len(tasks), desc="ingest", unit="file", disable=not progress) as bar:
        if workers > 1 and len(tasks) > 64:
            ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
            with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
                out = []
                for result in pool.map(_process, tasks, chunksize=32):
                    out.append(result)
                    bar.update()
                return out
        out = []
        for task in tasks:
            out.append(_process(task))
            bar.update()
        return out


def _relative(paths: tuple[Path, ...], root: Path) -> str:
    return ";".join(Path(os.path.relpath(p, root)).as_posix() for p in paths)


def _quarantine_row(star_id: object, problem: tuple[str, str, str, str]) -> dict[str, str]:
    path, fld, reason, stage = problem
    return {
        "star_id": "" if star_id is None else str(star_id),
        "path": path,
        "field": fld,
        "reason": reason,
        "stage": stage,
    }


def _index(results: list[_Result], kind: str, quarantine: list[dict]) -> dict[int, _Result]:
    """Good results of one kind keyed by identifier; problems and duplicates go to quarantine."""
    good: dict[int, _Result] = {}
    for res in (r for r in results if r.kind == kind):
        if res.problem is not None:
            star = res.key
            if star is None and kind == "lc" and (m := _KEPLER_NAME.match(res.paths[0].name)):
                star = int(m.group(1))
            quarantine.append(_quarantine_row(star, res.problem))
        elif res.key in good:
            quarantine.append(
                _quarantine_row(
                    res.key,
                    (
                        str(res.paths[0]),
                        "id",
                        f"{quality.REASON_DUPLICATE}: {res.key} already read from {good[res.key].paths[0]}",
                        "match",
                    ),
                )
            )
        else:
            good[int(res.key)] = res
    return good


def _bad_gaia_rows(gaia: pd.DataFrame) -> dict[int, tuple[str, str]]:
    """kic_id -> (column, reason) of Gaia rows that cannot be placed on the sky or in the CMD.

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
        if name in ("source_id", "kic_id", "lamost_obsid") or not pd.api.types.is_numeric_dtype(gaia[name]):
            continue
        values = gaia[name].to_numpy(dtype=np.float64)
        ok, why = checks.get(name, (lambda v: ~np.isinf(v), "infinite value"))
        with np.errstate(invalid="ignore"):
            ok = ok(values) & ~np.isinf(values)
        for kic, value in zip(gaia["kic_id"].to_numpy()[~ok], values[~ok], strict=True):
            bad.setdefault(int(kic), (name, f"{why} ({value})"))
    return bad


def _catalogue(gaia: pd.DataFrame, lcs: dict, specs: dict, root: Path, seed: int) -> pd.DataFrame:
    plx = gaia["parallax"].to_numpy(dtype=np.float64)
    g = gaia["phot_g_mean_mag"].to_numpy(dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        abs_g = np.where(plx > 0, g + 5 * np.log10(plx) - 10, np.nan)

    def col(name: str) -> np.ndarray:
        return gaia[name].to_numpy(dtype=np.float64) if name in gaia else np.full(len(gaia), np.nan)

    # Dereddened as Gaia users do, with each star's GSP-Phot A_G and E(BP−RP); NaN where a table
    # lacks them (GSP-Phot is null for many stars, and absent from tables queried without it).
    ag, ebprp = col("ag_gspphot"), col("ebpminrp_gspphot")

    cat = pd.DataFrame(
        {
            "row": np.arange(len(gaia), dtype=np.int32),
            "kic_id": gaia["kic_id"].to_numpy(np.int64),
            "lamost_obsid": gaia["lamost_obsid"].to_numpy(np.int64),
            "gaia_source_id": gaia["source_id"].to_numpy(np.int64),
            "split": assign_splits(gaia["kic_id"].to_numpy(), seed=seed),
            "ra_deg": col("ra"),
            "dec_deg": col("dec"),
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
            "kepler_path": [_relative(lcs[k].paths, root) for k in gaia["kic_id"]],
            "lamost_path": [_relative(specs[o].paths, root) for o in gaia["lamost_obsid"]],
        }
    )
    cat["split"] = pd.Categorical(cat["split"], categories=["train", "val", "test"])
    return cat


def _record_lightcurve_spans(catalog: pd.DataFrame, lcs: list[_Result]) -> None:
    """Say what of each light curve the model sees: ``lc_span_d`` observed, ``lc_used_d`` kept.

    The model grid covers LC_SPAN_D days from the first valid cadence (data/preprocess.py); longer
    light curves (several quarters) are cut there. Nothing is cut silently: both spans are
    catalogue columns, and the count of cut stars is logged and kept in the manifest.
    """
    span = np.array([res.span_d for res in lcs], dtype=np.float64)
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
    raw_dir: Path, store: SurveyStore, *, seed: int = 0, progress: bool = True, workers: int = 2
) -> IngestSummary:
    """Read ``raw_dir``, preprocess every star and write catalogue, arrays, truth and quarantine.

    Parameters
    ----------
    raw_dir
        Folder with a Gaia table and Kepler/LAMOST FITS files (searched recursively).
    store
        Destination store; its catalogue, arrays, truth, quarantine and manifest are replaced by
        a new generation, without the previous embedding, layout or predictions.
    seed
        Seed of the star-level split (recorded in the manifest).
    progress
        Show a tqdm bar.
    workers
        Processes used to read and preprocess files.

    Raises
    ------
    DataError
        No readable Gaia table, or no star with both modalities.
    """
    start = time.perf_counter()
    raw_dir = Path(raw_dir)
    gaia_path = _find_gaia(raw_dir)
    gaia = read_gaia_table(gaia_path)
    for name in ("lamost_obsid",):
        if name not in gaia.columns:
            raise DataError(gaia_path, name, "cross-match column missing")
    tasks = _tasks(raw_dir)
    results = _run(tasks, workers, progress)
    quarantine: list[dict] = []
    lcs, specs = _index(results, "lc", quarantine), _index(results, "spec", quarantine)
    failed = {row["star_id"] for row in quarantine}

    dup = gaia["kic_id"].duplicated(keep="first") | gaia["source_id"].duplicated(keep="first")
    for kic in gaia.loc[dup, "kic_id"]:
        quarantine.append(
            _quarantine_row(kic, (str(gaia_path), "kic_id", f"{quality.REASON_DUPLICATE}: Gaia row", "match"))
        )
    gaia = gaia.loc[~dup]
    bad_rows = _bad_gaia_rows(gaia)
    for kic, (fld, why) in bad_rows.items():
        quarantine.append(
            _quarantine_row(kic, (str(gaia_path), fld, f"{quality.REASON_BAD_GAIA}: {why}", "match"))
        )
    gaia = gaia.loc[~gaia["kic_id"].isin(list(bad_rows))]
    has_lc = gaia["kic_id"].isin(list(lcs)).to_numpy()
    has_spec = gaia["lamost_obsid"].isin(list(specs)).to_numpy()
    for (_, row), lc_ok, spec_ok in zip(gaia.iterrows(), has_lc, has_spec, strict=True):
        star = str(int(row["kic_id"]))
        if not lc_ok and star not in failed:
            quarantine.append(_quarantine_row(star, ("", "kepler", quality.REASON_NO_LIGHTCURVE, "match")))
        if not spec_ok:
            quarantine.append(
                _quarantine_row(
                    star,
                    (
                        "",
                        "lamost",
                        f"{quality.REASON_NO_SPECTRUM} (obsid {int(row['lamost_obsid'])})",
                        "match",
                    ),
                )
            )
    for key in set(lcs) - set(gaia["kic_id"]):
        quarantine.append(
            _quarantine_row(key, (str(lcs[key].paths[0]), "KEPLERID", quality.REASON_UNMATCHED_FILE, "match"))
        )
    for key in set(specs) - set(gaia["lamost_obsid"]):
        quarantine.append(
            _quarantine_row("", (str(specs[key].paths[0]), "OBSID", quality.REASON_UNMATCHED_FILE, "match"))
        )

    keep = gaia.loc[has_lc & has_spec].reset_index(drop=True)
    if keep.empty:
        raise DataError(raw_dir, "stars", "no star has both a light curve and a spectrum")
    catalog = _catalogue(keep, lcs, specs, store.root, seed)
    _record_lightcurve_spans(catalog, [lcs[k] for k in keep["kic_id"]])
    qdf = pd.DataFrame(quarantine, columns=list(QUARANTINE_COLUMNS)).astype("string")
    reasons = Counter(reason.split(":")[0].split(" (")[0] for reason in qdf["reason"])
    # A fresh generation: the embedding, layout and predictions of the previous catalogue go, and
    # readers see the new catalogue, arrays, truth and quarantine together (data/generations.py).
    with store.new_generation("ingest", fresh=True) as new:
        new.write_catalog(catalog)
        kics, obsids = keep["kic_id"], keep["lamost_obsid"]
        lc, spec = [lcs[k].arrays for k in kics], [specs[o].arrays for o in obsids]
        new.write_array(schema.LC.name, np.stack([a[0] for a in lc]).astype(schema.LC.dtype))
        new.write_array(schema.LC_MASK.name, np.stack([a[1] for a in lc]).astype(schema.LC_MASK.dtype))
        new.write_array(schema.SPEC.name, np.stack([a[0] for a in spec]).astype(schema.SPEC.dtype))
        new.write_array(schema.SPEC_MASK.name, np.stack([a[1] for a in spec]).astype(schema.SPEC_MASK.dtype))
        truth_path = raw_dir / "truth.parquet"
        if truth_path.is_file():
            truth = pd.read_parquet(truth_path)
            truth = catalog[["row", "kic_id"]].merge(truth, on="kic_id", how="left", validate="one_to_one")
            new.write_truth(truth.sort_values("row").reset_index(drop=True))
        new.write_quarantine(qdf)
        seconds = time.perf_counter() - start
        summary = IngestSummary(
            len(catalog), len(qdf), dict(reasons), int(len(gaia) - len(catalog) + dup.sum()), seconds
        )
        new.update_manifest(
            ingest={
                "raw_dir": str(raw_dir),
                "gaia_table": str(gaia_path),
                "n_files": len(tasks),
                "n_stars": summary.n_stars,
                "n_quarantined": summary.n_quarantined,
                "n_rejected_stars": summary.n_rejected_stars,
                "reasons": summary.reasons,
                "seed": seed,
                "split_fractions": [0.7, 0.15, 0.15],
                "n_lightcurves_cut": int(np.sum(catalog["lc_span_d"] > preprocess.LC_SPAN_D + 1.0)),
                "seconds": round(seconds, 2),
            },
            grids=preprocess.grid_description(),
        )
    log.info(
        "ingested %d stars, %d quarantine rows in %.1f s",
        summary.n_stars,
        summary.n_quarantined,
        seconds,
    )
    return summary
