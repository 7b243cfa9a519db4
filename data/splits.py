"""Star-level splits: train, val or test by a hash of the star identifier.

Splits hash the star identifier (never the row or the file), so a star is in one split in every
training stage, and a star keeps its split when the catalogue is re-ordered or grows.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import numpy as np

SPLITS = ("train", "val", "test")


def _unit_interval(star_id: str, seed: int) -> float:
    digest = hashlib.blake2b(f"{seed}:{star_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64


def assign_splits(
    star_ids: Iterable[object],
    *,
    seed: int,
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15),
) -> np.ndarray:
    """Assign train/val/test by a hash of each star id (stable, order-independent).

    Parameters
    ----------
    star_ids
        One identifier per star (e.g. the KIC id); converted with ``str``.
    seed
        Changes the assignment as a whole.
    fractions
        Expected train, val and test fractions (normalised).

    Returns
    -------
    numpy.ndarray
        (N,) array of ``"train"``, ``"val"`` or ``"test"`` (dtype object).
    """
    edges = np.cumsum(np.asarray(fractions, dtype=float) / float(np.sum(fractions)))
    u = np.array([_unit_interval(str(s), seed) for s in star_ids])
    index = np.minimum(np.searchsorted(edges, u, side="right"), len(SPLITS) - 1)
    return np.asarray(SPLITS, dtype=object)[index]
