"""Provenance of everything we write for users: which model, which catalogue, which selection.

One implementation for the dashboard's downloads and ``desa export`` (and the checkpoint hash
that ``desa embed`` records), so a file's metadata means the same wherever it was made.
"""

from __future__ import annotations

import datetime
import hashlib
import importlib.metadata
import threading
from pathlib import Path

from data.storage import SurveyStore


def software_version() -> str:
    """``desa-explorer <version>`` as installed, for provenance records."""
    try:
        return f"desa-explorer {importlib.metadata.version('desa-explorer')}"
    except importlib.metadata.PackageNotFoundError:
        return "desa-explorer (not installed)"


_HASHES: dict[tuple[str, int, int], str] = {}
_HASH_LOCK = threading.Lock()


def file_sha256(path: Path) -> str:
    """sha256 of a file, computed once per process per file version (path, mtime, size)."""
    stat = path.stat()
    key = (str(path), stat.st_mtime_ns, stat.st_size)
    with _HASH_LOCK:
        if key not in _HASHES:
            digest = hashlib.sha256()
            with path.open("rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(block)
            _HASHES[key] = digest.hexdigest()
        return _HASHES[key]


def provenance(
    survey_dir: Path,
    expression: str,
    n_rows: int,
    *,
    user: str | None = None,
    now: datetime.datetime | None = None,
    generation: str | None = None,
) -> dict[str, str]:
    """The provenance of an export of ``n_rows`` stars selected by ``expression``.

    ``generation`` is the store generation the rows come from; None: the current one.
    """
    store = SurveyStore(Path(survey_dir), generation=generation)
    manifest = store.read_manifest()
    embed = manifest.get("embed", {})
    now = now or datetime.datetime.now(datetime.UTC)
    meta = {
        "selection": expression or "all stars",
        "n_rows": str(n_rows),
        "checkpoint_sha256": str(embed.get("checkpoint_sha256", "none (no model has embedded this survey)")),
        "model_run": str(embed.get("run", "none")),
        "catalogue": Path(survey_dir).name,
        "catalogue_sha256": file_sha256(store.catalog_path) if store.catalog_path.is_file() else "none",
        "store_format": str(manifest.get("format_version", "unknown")),
        "date": now.astimezone(datetime.UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "software": software_version(),
    }
    if user:
        meta["user"] = str(user)
    return meta
