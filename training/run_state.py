"""Save and resume the full state of a training stage atomically.

A state file holds the model and optimiser tensors, the epoch and step reached, the best
validation loss with its weights, and the random generator state, so that ``--resume`` after
``kill -9`` continues from the last checkpoint. Loading uses ``weights_only=True``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from desa_core.checkpoint import atomic_torch_save


def save_state(path: Path, state: dict[str, Any]) -> None:
    """Write ``state`` (tensors, numbers, strings, nested containers) via a temporary file."""
    atomic_torch_save(state, path)


def load_state(path: Path) -> dict[str, Any] | None:
    """Return the saved state, or None when there is none."""
    if not path.is_file():
        return None
    return torch.load(path, map_location="cpu", weights_only=True)
