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
3. **Stream.** Stars are read and preprocessed (``data.preprocess``) as Dask tasks (``data.engine``),
   chunk by chunk, and their rows written straight into preallocated memory-mapped ``.npy`` files, so
   memory does not grow with the number of stars. After each chunk the files are flushed and the
   chunk's record written; a killed ingest run again with the same inputs resumes after the last
   finished chunk (the folder ``store/generations/.ingest-resume``). The catalogue, the arrays
   (cut to the stars kept), truth and quarantine then become one new store generation
   (``data.generations``), so readers see all of them or none.

Every unreadable file, unmatched file and incomplete star gets a quarantine row (star_id, path,
field, reason, stage) instead of a silent drop. A Kepler star's ``star_id`` is its KIC; other
stars are named with their mission (``EPIC …``, ``TIC …``, ``LAMOST …``).

This module runs the steps; each lives in its own module: ``data.ingest_plan`` (scan and match,
giving one frozen :class:`~data.ingest_plan.IngestPlan`), ``data.ingest_star`` (read and
preprocess one star), ``data.ingest_stream`` (the resumable chunk writer) and
``data.ingest_catalogue`` (the catalogue of the kept stars).
"""

from __future__ import annotations

import logging
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from data import preprocess, schema
from data.engine import open_engine
from data.errors import DataError
from data.gaia import read_gaia_table
from data.ingest_catalogue import _catalogue
from data.ingest_plan import IngestPlan, _candidate_files, _find_gaia, _match, _scan, star_label
from data.ingest_star import _process
from data.ingest_stream import CHUNK_STARS, RESUME_DIR, _fingerprint, _Resume, _stream
from data.storage import QUARANTINE_COLUMNS, SurveyStore, shrink_array

__all__ = ["CHUNK_STARS", "RESUME_DIR", "IngestPlan", "IngestSummary", "ingest_survey", "star_label"]

log = logging.getLogger(__name__)


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


def ingest_survey(
    raw_dir: Path,
    store: SurveyStore,
    *,
    seed: int = 0,
    progress: bool = True,
    workers: int | None = None,
    chunk_stars: int = CHUNK_STARS,
    scheduler: str | None = None,
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
        Worker processes of the local Dask cluster that identifies, reads and preprocesses the files
        (default: every CPU core; 1, or a folder of at most 64 files, runs them in this process).
    chunk_stars
        Stars per streamed chunk (the unit of resumption).
    scheduler
        Address of a running Dask scheduler to run on instead (default: ``DESA_DASK_SCHEDULER``;
        ``data.engine``); its workers must see ``raw_dir``.

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
        with open_engine(workers if len(files) > 64 else 1, scheduler) as engine:
            scan = _scan(files, engine, progress)
            quarantine = list(scan.quarantine)
            plan = _match(gaia, gaia_path, scan, quarantine)
            n_files = scan.n_files
            del files, scan, gaia  # the plan holds what streaming needs: memory per star stays small
            resume = _Resume(store, _fingerprint(plan, gaia_path, chunk_stars), len(plan))
            resumed = len(resume.chunks)
            if resumed:
                log.info("resuming an interrupted ingest after %d finished chunks", resumed)
            kept, spans, problems = _stream(plan, resume, engine, chunk_stars, progress, _process)
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
