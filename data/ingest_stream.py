"""Stream the stars of an ingest plan into preallocated memory-mapped arrays, resumably.

Step 3 of ``data.ingest``: stars are read and preprocessed chunk by chunk, and each chunk's rows
written straight into preallocated ``.npy`` files, so memory does not grow with the number of
stars. After each chunk the files are flushed and the chunk's record written; a killed ingest run
again with the same inputs resumes after the last finished chunk.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from data import preprocess, schema
from data.engine import Engine, apply_each
from data.ingest_plan import IngestPlan, _row, star_label
from data.ingest_star import _Result
from data.storage import SurveyStore, atomic_write_text, open_array_for_writing, preallocate_array

log = logging.getLogger(__name__)

#: Stars per chunk: the unit of streaming (about 48 KB of arrays per star in memory at once) and of
#: resumption.
CHUNK_STARS = 1024
#: Folder (under ``store/generations``) of an unfinished ingest's arrays and chunk records.
RESUME_DIR = ".ingest-resume"
#: Stars per engine task: several tasks make a chunk, so a chunk's stars are read side by side and
#: the progress bar moves every few stars (a task costs the scheduler about a millisecond).
TASK_STARS = 16


def _row_shapes() -> dict[str, tuple[tuple[int, ...], str]]:
    """Per input array: its row shape on the model grid and its dtype (``data.schema``)."""
    lengths = {
        "lc_channels": len(schema.LC_CHANNELS),
        "lc_length": schema.LC_LENGTH,
        "spec_length": schema.SPEC_LENGTH,
    }
    return {a.name: (tuple(lengths[axis] for axis in a.axes[1:]), a.dtype) for a in schema.INPUT_ARRAYS}


def _fingerprint(plan: IngestPlan, gaia_path: Path | None, chunk: int) -> str:
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
    plan: IngestPlan, start: int, results: list[_Result], resume: _Resume, cursor: int
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


def _pieces(tasks: list, done: int, chunk: int) -> Iterator[list]:
    """The engine tasks from star ``done`` on: up to ``TASK_STARS`` stars, never across a chunk's end."""
    for start in range(done, len(tasks), chunk):
        stop = min(start + chunk, len(tasks))
        for first in range(start, stop, TASK_STARS):
            yield tasks[first : min(first + TASK_STARS, stop)]


def _stream(
    plan: IngestPlan,
    resume: _Resume,
    engine: Engine,
    chunk: int,
    progress: bool,
    process: Callable[[tuple], _Result],
) -> tuple[list[int], list[float], list[dict]]:
    """Process every candidate star chunk by chunk (resuming after finished chunks) with ``process``.

    ``process`` runs on the engine's workers, a pure function of one star's files; the rows and
    the chunk records are written here, in chunk order, so a task run twice (its worker died)
    writes nothing twice.
    """
    kept: list[int] = []
    spans: list[float] = []
    quarantine: list[dict] = []
    for record in resume.chunks:
        kept += record["kept"]
        spans += record["span_d"]
        quarantine += record["quarantine"]
    cursor = len(kept)
    start = len(resume.chunks) * chunk
    tasks = list(zip(plan.lc_files, plan.lc_products, plan.spec_file, strict=True))
    results: list[_Result] = []
    with tqdm(
        total=len(plan), initial=min(start, len(plan)), desc="ingest", unit="star", disable=not progress
    ) as bar:
        for part in engine.map_chunks(partial(apply_each, process), _pieces(tasks, start, chunk), bar=bar):
            results += part
            if len(results) < min(chunk, len(plan) - start):
                continue
            record, cursor = _chunk_record(plan, start, results, resume, cursor)
            resume.finish_chunk(record)
            kept += record["kept"]
            spans += record["span_d"]
            quarantine += record["quarantine"]
            start, results = start + chunk, []
    return kept, spans, quarantine
