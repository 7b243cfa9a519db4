"""Store generations: the outputs of a step become visible together or not at all.

Inside ``<survey>/store``::

    CURRENT                        name of the current generation ("g000004"), replaced atomically
    generations/g000004/           catalog.parquet, truth.parquet, quarantine.parquet,
                                   manifest.json, arrays/<name>.npy, and COMPLETE (written last)
    generations/.g000005.building  a step at work; the next step removes it if its writer died
    ingest.complete, embed.complete
                                   completion markers of the current generation (for ``make``),
                                   written after CURRENT
    .lock                          held (``flock``) by the one step writing the store

A step builds the next generation in a ``.building`` folder. Files it does not write are hard links
to the current generation's (every store write replaces a file by rename, so a link is never
written through); ``ingest`` starts empty, so the embedding, layout and predictions of an older
catalogue do not survive it. The commit fsyncs the files, writes COMPLETE, renames the folder into
place, fsyncs ``generations/``, then replaces CURRENT (temporary file, fsync, rename, fsync of
``store/``). A reader that reads CURRENT once (``SurveyStore.snapshot``) sees the files of one
generation; a kill at any point leaves CURRENT on the old one. The newest :data:`KEEP` generations
stay on disk, so a server session still showing an older one keeps reading it.

A store written before generations (files directly in ``store/``) reads as before; its first new
generation links those files and they leave ``store/``.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from data.atomic import atomic_write_text, clean_temp_files, exclusive_lock, fsync_dir, fsync_file
from data.errors import DataError

log = logging.getLogger(__name__)

CURRENT = "CURRENT"
GENERATIONS = "generations"
COMPLETE = "COMPLETE"
LOCK = ".lock"
NAME = re.compile(r"^g(\d{6,})$")
#: Steps with a completion marker ``store/<step>.complete`` (what ``make demo`` checks).
MARKED_STEPS = ("ingest", "embed")
#: Generations kept on disk, newest first: the current one and the two before it (our choice: a
#: session opened before two later commits still reads its own files).
KEEP = 3
#: What a generation holds (and what a store from before generations held in ``store/``).
_FILES = ("catalog.parquet", "truth.parquet", "quarantine.parquet", "manifest.json")
_ARRAYS = "arrays"


def current_name(store_dir: Path) -> str | None:
    """The current generation's name, or None for a store without generations (old or empty)."""
    path = Path(store_dir) / CURRENT
    try:
        name = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    if not NAME.match(name) or not (Path(store_dir) / GENERATIONS / name / COMPLETE).is_file():
        reason = f"{name[:40]!r} is not a complete generation; re-run `desa ingest`"
        raise DataError(path, "generation", reason)
    return name


def generation_dir(store_dir: Path, name: str) -> Path:
    """The folder of generation ``name``."""
    return Path(store_dir) / GENERATIONS / name


def marker_path(store_dir: Path, step: str) -> Path:
    """The completion marker ``<step>.complete`` of the store (what ``make demo`` keys on)."""
    return Path(store_dir) / f"{step}.complete"


def steps_done(folder: Path) -> list[str]:
    """The marked steps whose outputs a generation (or a store from before generations) holds."""
    complete = Path(folder) / COMPLETE
    if complete.is_file():
        return list(json.loads(complete.read_text(encoding="utf-8")).get("steps", []))
    done = ["ingest"] if (Path(folder) / "catalog.parquet").is_file() else []
    return done + (["embed"] if (Path(folder) / _ARRAYS / "embedding.npy").is_file() else [])


def _store_files(folder: Path) -> list[Path]:
    """The store files in ``folder`` (a generation or an old flat store), relative."""
    found = [Path(name) for name in _FILES if (folder / name).is_file()]
    arrays = folder / _ARRAYS
    if arrays.is_dir():
        found += [p.relative_to(folder) for p in sorted(arrays.glob("*.npy")) if not p.name.startswith(".")]
    return found


def _link(source: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, dest)
    except OSError:  # a file system without hard links: a copy costs space, not safety
        shutil.copy2(source, dest)


def _number(name: str) -> int:
    match = NAME.match(name.removeprefix(".").removesuffix(".building"))
    return int(match.group(1)) if match else 0


def _remove_leftovers(store_dir: Path) -> None:
    """Folders of killed steps and temporary files (only called by the lock holder)."""
    for folder in (Path(store_dir) / GENERATIONS).glob(".*.building"):
        log.info("removing %s, left by an interrupted step", folder)
        shutil.rmtree(folder, ignore_errors=True)
    clean_temp_files(store_dir)


def _collect(store_dir: Path, current: str) -> None:
    """Remove complete generations older than the newest :data:`KEEP` (never the current one)."""
    folder = Path(store_dir) / GENERATIONS
    names = sorted((p.name for p in folder.iterdir() if NAME.match(p.name)), key=_number, reverse=True)
    for name in names[KEEP:]:
        if name != current:
            shutil.rmtree(folder / name, ignore_errors=True)


@contextmanager
def building(store_dir: Path, step: str, *, fresh: bool) -> Iterator[Path]:
    """The folder of the next generation, committed when the ``with`` block ends without error.

    Raises
    ------
    data.atomic.LockedError
        When another step is writing the store.
    """
    store_dir = Path(store_dir)
    with exclusive_lock(store_dir / LOCK, f"the store {store_dir}"):
        _remove_leftovers(store_dir)
        base = current_name(store_dir)
        base_dir = store_dir if base is None else generation_dir(store_dir, base)
        generations = store_dir / GENERATIONS
        generations.mkdir(exist_ok=True)
        number = max([_number(p.name) for p in generations.iterdir()] + [0]) + 1
        name = f"g{number:06d}"
        folder = generations / f".{name}.building"
        folder.mkdir()
        try:
            if not fresh:
                for rel in _store_files(base_dir):
                    _link(base_dir / rel, folder / rel)
            yield folder
            steps = [] if fresh else [s for s in steps_done(base_dir) if s != step]
            if step in MARKED_STEPS:
                steps.append(step)
            _commit(store_dir, folder, name, step=step, steps=steps, base=base)
        finally:
            if folder.exists():
                shutil.rmtree(folder, ignore_errors=True)


def _commit(
    store_dir: Path, folder: Path, name: str, *, step: str, steps: list[str], base: str | None
) -> None:
    """Flush, seal with COMPLETE, rename into place, switch CURRENT, then markers and cleanup."""
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    for path in files:
        fsync_file(path)
    record: dict[str, Any] = {
        "generation": name,
        "step": step,
        "steps": steps,
        "base": base,
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "files": {p.relative_to(folder).as_posix(): p.stat().st_size for p in files},
    }
    if (folder / _ARRAYS).is_dir():
        fsync_dir(folder / _ARRAYS)
    atomic_write_text(folder / COMPLETE, json.dumps(record, indent=2))  # last: fsyncs the folder too
    final = generation_dir(store_dir, name)
    os.rename(folder, final)
    fsync_dir(final.parent)
    for other in MARKED_STEPS:  # a marker never outlives the outputs it vouches for
        if other not in steps:
            marker_path(store_dir, other).unlink(missing_ok=True)
    atomic_write_text(store_dir / CURRENT, name + "\n")
    for done in steps:
        atomic_write_text(marker_path(store_dir, done), json.dumps({"generation": name, "step": done}) + "\n")
    if base is None:
        _retire_flat_files(store_dir)
    _collect(store_dir, name)
    log.info("store generation %s (%s) is current", name, step)


def _retire_flat_files(store_dir: Path) -> None:
    """After the first generation: the files of a store from before generations (now linked)."""
    for rel in _store_files(store_dir):
        (store_dir / rel).unlink(missing_ok=True)
    arrays = store_dir / _ARRAYS
    if arrays.is_dir() and not any(arrays.iterdir()):
        arrays.rmdir()
