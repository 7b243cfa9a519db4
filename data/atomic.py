"""Atomic, durable writes: a temporary file beside the target, fsync, rename, fsync of the folder.

A reader never sees a half-written file, even after ``kill -9``, and a finished write survives a
power cut: the data are flushed (``fsync`` of the file) before the rename, and the rename itself
(``fsync`` of the folder) before the call returns. Temporary files are named ``.<name>.<random>.tmp``
so readers skip them; a killed writer's leftovers are removed by the next run of the same step
(:func:`clean_temp_files`). ``data.storage`` re-exports these functions (STYLE.md section 6).
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger(__name__)

#: Temporary files of :func:`atomic_path`: ``.<target name>.<mkstemp's 8 random characters>.tmp``.
TEMP_NAME = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.tmp$")


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


def fsync_file(path: Path) -> None:
    """Flush a written file's data to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    """Flush a folder's entries (a rename, a new name) to the disk."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_path(target: Path, *, mode: int | None = None, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success move it onto ``target`` durably.

    The result keeps the mode of the file it replaces, else gets ``mode``, else the umask's
    default (mkstemp's 0600 would hide reports and exports from the rest of a group). A symlink
    target is followed: the file it points to is replaced and the link stays a link. With
    ``overwrite=False`` an existing target is kept and ``FileExistsError`` raised, decided at the
    moment the file gets its name (a hard link, which never replaces), not by an earlier check.
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
        fsync_file(tmp_path)
        if overwrite:
            os.replace(tmp_path, target)
        else:
            try:
                os.link(tmp_path, target)
            except FileExistsError as exc:
                raise FileExistsError(errno.EEXIST, "already exists", str(target)) from exc
        fsync_dir(target.parent)
    finally:
        tmp_path.unlink(missing_ok=True)


def atomic_write(
    target: Path, writer: Callable[[Path], None], *, mode: int | None = None, overwrite: bool = True
) -> Path:
    """Call ``writer(tmp)`` and atomically move the result onto ``target`` (see atomic_path)."""
    with atomic_path(target, mode=mode, overwrite=overwrite) as tmp:
        writer(tmp)
    return Path(target)


def atomic_write_text(target: Path, text: str, *, mode: int | None = None) -> Path:
    """Write text atomically."""
    return atomic_write(target, lambda tmp: tmp.write_text(text, encoding="utf-8"), mode=mode)


def clean_temp_files(folder: Path, *, recursive: bool = True) -> list[Path]:
    """Remove the temporary files a killed writer left in ``folder``; returns what was removed.

    Call it only where no other process writes at the same time (a step holding the folder's
    :func:`exclusive_lock`, or the one process of a step that owns the folder).
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = folder.rglob(".*.tmp") if recursive else folder.glob(".*.tmp")
    removed = [p for p in found if p.is_file() and TEMP_NAME.match(p.name)]
    for path in removed:
        path.unlink(missing_ok=True)
    if removed:
        log.info("removed %d temporary files of an interrupted run in %s", len(removed), folder)
    return removed


class LockedError(RuntimeError):
    """Another process holds the lock of a folder this step would write."""


@contextmanager
def exclusive_lock(path: Path, what: str) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created) for the ``with`` block, or raise at once.

    The kernel drops the lock when its process dies (even by ``kill -9``), so a killed step never
    leaves a stale lock. The holder's pid is written into the file for the message.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            raise LockedError(
                f"{path}: another desa command (pid {holder}) is writing {what}; wait for it to end"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock
