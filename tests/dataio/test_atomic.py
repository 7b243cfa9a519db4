"""Atomic writes keep what the user set up: the replaced file's mode, symlinks, a sane default."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from data.storage import atomic_write_text


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_file_gets_the_umask_default_not_0600(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        path = atomic_write_text(tmp_path / "report.md", "hello")
    finally:
        os.umask(old)
    assert _mode(path) == 0o644 and path.read_text() == "hello"


def test_a_replaced_file_keeps_its_mode(tmp_path: Path) -> None:
    path = tmp_path / "shared.json"
    path.write_text("old")
    path.chmod(0o640)
    atomic_write_text(path, "new")
    assert _mode(path) == 0o640 and path.read_text() == "new"


def test_an_explicit_mode_is_set_before_the_file_has_its_name(tmp_path: Path) -> None:
    path = atomic_write_text(tmp_path / "secret", "s3cret", mode=0o600)
    assert _mode(path) == 0o600


def test_a_symlink_stays_a_link_and_its_target_is_replaced(tmp_path: Path) -> None:
    real = tmp_path / "data" / "catalog.json"
    real.parent.mkdir()
    real.write_text("old")
    link = tmp_path / "catalog.json"
    link.symlink_to(real)
    atomic_write_text(link, "new")
    assert link.is_symlink() and real.read_text() == "new" and link.read_text() == "new"
    assert not list(tmp_path.glob(".*.tmp")) and not list(real.parent.glob(".*.tmp"))
