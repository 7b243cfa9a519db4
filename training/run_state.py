"""Save and resume the full state of a training stage atomically.

A state file holds the model and optimiser tensors, the epoch and step reached, the best
validation loss with its weights, and the random generator state, so that ``--resume`` after
``kill -9`` continues from the last checkpoint. Loading uses ``weights_only=True``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch


def save_state(path: Path, state: dict[str, Any]) -> None:
    """Write ``state`` (tensors, numbers, strings, nested containers) via a temporary file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        torch.save(state, tmp)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def load_state(path: Path) -> dict[str, Any] | None:
    """Return the saved state, or None when there is none."""
    if not path.is_file():
        return None
    return torch.load(path, map_location="cpu", weights_only=True)
