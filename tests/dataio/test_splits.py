"""Star-level splits."""

from __future__ import annotations

import numpy as np

from data.splits import assign_splits


def test_splits_are_stable_disjoint_and_sized() -> None:
    ids = np.arange(10_000_000, 10_005_000)
    splits = assign_splits(ids, seed=0)
    assert set(splits) == {"train", "val", "test"}
    fractions = {s: float(np.mean(splits == s)) for s in ("train", "val", "test")}
    assert abs(fractions["train"] - 0.7) < 0.03 and abs(fractions["test"] - 0.15) < 0.03
    perm = np.random.default_rng(0).permutation(ids.size)
    np.testing.assert_array_equal(assign_splits(ids[perm], seed=0), splits[perm])
    by_split = {s: set(ids[splits == s]) for s in ("train", "val", "test")}
    assert not (by_split["train"] & by_split["val"]) and not (by_split["train"] & by_split["test"])
    assert not (by_split["val"] & by_split["test"])
    assert (assign_splits(ids, seed=1) != splits).mean() > 0.2
