"""Export a selection for follow-up: CSV, ECSV, VOTable or FITS with units, UCDs and provenance.

Units, descriptions and UCDs come from the catalogue schema (data/catalog.py) through
``data.storage.export_table``; the provenance travels in each format's metadata block:

* ECSV: the YAML ``meta``; VOTable: ``INFO`` elements of the resource (TOPCAT shows them);
* FITS: header cards with 8-character keys (``SELECTN``, ``CKPTSHA``, ...; long values continue
  on ``CONTINUE`` cards); CSV: ``# key: value`` lines above the header.

Provenance: the model checkpoint's sha256 and training run (``store/manifest.json`` ``embed``),
the catalogue (survey name, sha256 of ``catalog.parquet``, store format), the selection
expression, the UTC date, the software version and, when logged in, the user.
"""

from __future__ import annotations

import datetime
import re
import shutil
import tempfile
import weakref
from pathlib import Path
from typing import Any

import pandas as pd

from data.errors import DataError
from data.provenance import provenance
from data.storage import EXPORT_FORMATS, export_table

#: Default largest export, in rows (configurable per call and with ``DESA_EXPORT_MAX_ROWS``).
DEFAULT_MAX_ROWS = 1_000_000

#: Provenance keys -> FITS header keys (8 characters at most, so values are never cut).
FITS_KEYS = {
    "selection": "SELECTN",
    "n_rows": "NROWS",
    "checkpoint_sha256": "CKPTSHA",
    "model_run": "MODELRUN",
    "catalogue": "CATALOG",
    "catalogue_sha256": "CATSHA",
    "store_format": "STOREFMT",
    "date": "DATE",
    "software": "SOFTWARE",
    "user": "USER",
}

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


class ExportError(ValueError):
    """An export that cannot be written: nothing selected, or more rows than the limit."""


def safe_filename(name: str, fmt: str) -> str:
    """A download name of only ``[A-Za-z0-9._-]``, no leading dot, with the format's suffix."""
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; choose one of {sorted(EXPORT_FORMATS)}")
    suffix = EXPORT_FORMATS[fmt][1]
    stem = _SAFE.sub("_", Path(str(name)).name).strip("._-")[:80]
    stem = stem.removesuffix(suffix) or "desa_selection"
    return f"{stem}{suffix}"


def default_filename(survey_dir: Path, fmt: str, now: datetime.datetime | None = None) -> str:
    """``desa_<survey>_<UTC time>`` with the format's suffix, made safe as a file name."""
    now = now or datetime.datetime.now(datetime.UTC)
    return safe_filename(f"desa_{Path(survey_dir).name}_{now:%Y%m%dT%H%M%SZ}", fmt)


def _format_meta(meta: dict[str, str], fmt: str) -> dict[str, str]:
    if fmt != "fits":
        return meta
    # FITS headers are ASCII: anything else is written as a backslash escape.
    return {
        FITS_KEYS.get(k, k[:8].upper()): v.encode("ascii", "backslashreplace").decode("ascii")
        for k, v in meta.items()
    }


def check_size(n_rows: int, max_rows: int = DEFAULT_MAX_ROWS) -> None:
    """Raise ExportError with a readable message when ``n_rows`` exceeds ``max_rows``."""
    if n_rows > max_rows:
        raise ExportError(
            f"the selection has {n_rows:,} stars; exports are limited to {max_rows:,} rows. "
            f"Narrow the selection (e.g. add a condition with 'and')."
        )
    if n_rows == 0:
        raise ExportError("nothing selected: select stars before exporting")


def export_selection(
    frame: pd.DataFrame,
    path: Path,
    *,
    fmt: str,
    survey_dir: Path,
    expression: str,
    max_rows: int = DEFAULT_MAX_ROWS,
    user: str | None = None,
    generation: str | None = None,
) -> Path:
    """Write the selected rows ``frame`` to ``path`` (atomically) with units and provenance.

    ``generation`` is the store generation the rows come from (provenance); None: the current one.

    Raises
    ------
    ExportError
        When ``frame`` is empty or longer than ``max_rows``.
    data.errors.DataError
        For an unknown format.
    """
    if fmt not in EXPORT_FORMATS:
        raise DataError(path, "format", f"{fmt!r} unknown; choose one of {sorted(EXPORT_FORMATS)}")
    check_size(len(frame), max_rows)
    meta = provenance(survey_dir, expression, len(frame), user=user, generation=generation)
    return export_table(frame, Path(path), fmt=fmt, meta=_format_meta(meta, fmt))


class ExportFolder:
    """A private temporary folder for one session's downloads; keeps only the latest few files."""

    def __init__(self, keep: int = 4) -> None:
        self.path = Path(tempfile.mkdtemp(prefix="desa_export_"))
        self.keep = keep
        # Removed when the session's folder object goes (session end), or by ``cleanup``.
        self._finalizer = weakref.finalize(self, shutil.rmtree, self.path, ignore_errors=True)

    def new_path(self, filename: str) -> Path:
        files = sorted(self.path.glob("*/*"), key=lambda p: p.stat().st_mtime)
        for old in files[: max(0, len(files) - self.keep + 1)]:
            old.unlink(missing_ok=True)
            old.parent.rmdir()
        folder = Path(tempfile.mkdtemp(dir=self.path))
        return folder / filename

    def cleanup(self) -> None:
        self._finalizer()


def export_columns(frame: pd.DataFrame) -> list[str]:
    """Columns exported: all catalogue columns except the local file paths (meaningless elsewhere)."""
    return [c for c in frame.columns if not str(c).endswith("_path")]


#: Rows written to estimate a file's size before the whole selection is (our choice: ~20 ms).
SAMPLE_ROWS = 200


def estimate_bytes(sample: pd.DataFrame, n_rows: int, fmt: str) -> int:
    """About how large an export of ``n_rows`` rows like ``sample`` is, from writing the sample."""
    with tempfile.TemporaryDirectory(prefix="desa_estimate_") as tmp:
        path = export_table(sample, Path(tmp) / f"sample{EXPORT_FORMATS[fmt][1]}", fmt=fmt)
        empty = export_table(sample.iloc[:0], Path(tmp) / f"empty{EXPORT_FORMATS[fmt][1]}", fmt=fmt)
        header, body = empty.stat().st_size, path.stat().st_size - empty.stat().st_size
    return header + int(body * n_rows / max(len(sample), 1))


def selection_export(
    state: Any,
    survey_dir: Path,
    fmt: str,
    folder: ExportFolder,
    *,
    max_rows: int = DEFAULT_MAX_ROWS,
    max_bytes: int | None = None,
    **kwargs: Any,
) -> Path:
    """Export ``state``'s selection into ``folder``; returns the written file.

    The size is checked before the selection is copied or written: the row count against
    ``max_rows``, and with ``max_bytes`` the size estimated from a sample (:func:`estimate_bytes`),
    so an oversized request costs milliseconds, not a full export.

    Raises
    ------
    ExportError
        When nothing is selected, or the selection is above ``max_rows`` rows or ``max_bytes``.
    """
    check_size(state.n_selected, max_rows)
    columns = export_columns(state.catalog)
    if max_bytes is not None:
        sample = state.catalog.loc[state.mask, columns].iloc[:SAMPLE_ROWS]
        expected = estimate_bytes(sample, state.n_selected, fmt)
        if expected > max_bytes:
            raise ExportError(
                f"the {fmt.upper()} file of {state.n_selected:,} stars would be about "
                f"{expected / 2**20:.0f} MiB, above the {max_bytes // 2**20} MiB a browser download can "
                f"carry: narrow the selection, try FITS (the most compact), or run 'desa export' on "
                f"the server."
            )
    frame = state.selected_frame(columns)
    path = folder.new_path(default_filename(survey_dir, fmt))
    return export_selection(
        frame,
        path,
        fmt=fmt,
        survey_dir=survey_dir,
        expression=state.expression,
        max_rows=max_rows,
        generation=state.generation,
        **kwargs,
    )
