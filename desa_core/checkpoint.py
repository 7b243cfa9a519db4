"""Checkpoints: config, format version and tensors; loading never unpickles code.

A checkpoint is a ``torch.save`` of plain containers (strings, numbers, tensors) read back with
``torch.load(weights_only=True)``, which refuses arbitrary pickled objects. Writes go to a
temporary file and are renamed into place, so a crash never leaves a half-written checkpoint.
"""

from __future__ import annotations

import json
import os
import pickle
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from data.schema import grid_mismatch
from desa_core import __version__
from desa_core.config import DesaConfig
from desa_core.model import DesaModel

FORMAT = "desa-checkpoint"
FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint that cannot be used, printed as ``path: problem``."""

    def __init__(self, path: Path | str, problem: str) -> None:
        self.path = Path(path)
        super().__init__(f"{self.path}: {problem}")


def save_checkpoint(path: Path, model: DesaModel, *, metadata: dict[str, Any] | None = None) -> Path:
    """Atomically write ``model`` with its config and JSON-serialisable ``metadata``."""
    path = Path(path)
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "desa_version": __version__,
        "config": json.dumps(model.config.to_dict()),
        "metadata": json.dumps(metadata or {}, default=str),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
    }
    return atomic_torch_save(payload, path)


def atomic_torch_save(payload: Any, path: Path) -> Path:
    """``torch.save`` to a temporary file beside ``path``, fsync, rename into place, fsync the folder.

    As ``data.atomic.atomic_path`` (which desa_core may not import, STYLE.md section 2): after a
    power cut the file is the old one or the whole new one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(payload, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return path


def read_checkpoint(path: Path) -> dict[str, Any]:
    """Read and check the raw payload; every problem raises ``CheckpointError`` naming the file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(path, "no such checkpoint file")
    if not zipfile.is_zipfile(path):
        # torch.save writes a zip archive; anything else is a foreign or truncated file, and
        # torch's legacy (non-zip) loader is never used on it.
        raise CheckpointError(path, "not a DESA checkpoint (not a torch zip archive; truncated or foreign)")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(
            path, f"refused: the file holds pickled code or objects, not a DESA checkpoint ({exc})"
        ) from exc
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError) as exc:
        raise CheckpointError(path, f"not a readable torch checkpoint ({exc})") from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(path, f"not a DESA checkpoint (no format={FORMAT!r} field)")
    if payload.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            path,
            f"format version {payload.get('format_version')} found, {FORMAT_VERSION} expected",
        )
    return payload


def load_checkpoint(
    path: Path, *, grids: Mapping[str, Any] | None = None
) -> tuple[DesaModel, dict[str, Any]]:
    """Build the model from the stored config, load its tensors strictly, return it with metadata.

    ``grids`` (a survey store's manifest record of its model grids) is checked against the grids
    the model's inputs are built for (light-curve channels and length, spectrum length and
    wavelengths; :func:`data.schema.grid_mismatch`): a mismatch raises ``CheckpointError`` here,
    naming both values, not a shape error later.
    """
    payload = read_checkpoint(path)
    try:
        raw = json.loads(payload["config"])
        config = DesaConfig.from_dict(raw)
    except (ValueError, TypeError, KeyError) as exc:
        raise CheckpointError(path, f"bad model config ({exc})") from exc
    if "log10_start" not in raw.get("spectrum", {}):
        raise CheckpointError(
            path,
            "written before the spectrum encoder knew its wavelength grid (spectrum length "
            f"{config.spectrum.length}, no log10 λ grid); retrain it on a store ingested with this code",
        )
    if grids is not None and (problem := grid_mismatch(config.input_grid, grids)):
        raise CheckpointError(path, problem)
    model = DesaModel(config)
    try:
        model.load_state_dict(payload["state_dict"], strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0:3]
        raise CheckpointError(path, f"tensors do not match the stored config: {' '.join(first)}") from exc
    model.eval()
    return model, json.loads(payload.get("metadata", "{}"))
