"""Star-level splits and the torch dataset."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import torch

from data.dataset import StarDataset, assign_splits
from data.ingest import ingest_survey
from data.preprocess import SPEC_LENGTH
from data.storage import SurveyStore


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


def test_star_dataset(tmp_path: Path, simulated_raw: Path) -> None:
    store = SurveyStore(tmp_path / "survey")
    shutil.copytree(simulated_raw, store.raw_dir)
    ingest_survey(store.raw_dir, store, progress=False, workers=1)
    ds = StarDataset(store, rows=[0, 3, 5], label_columns=["teff_k", "prot_d", "porb_d"])
    assert len(ds) == 3
    item = ds[1]
    assert item["lc_channels"].shape == (3, 1024) and item["lc_channels"].dtype == torch.float32
    assert item["lc_mask"].dtype == torch.bool and item["spec_flux"].shape == (SPEC_LENGTH,)
    assert item["labels"].shape == (3,) and int(item["row"]) == 3
    truth = store.read_truth().set_index("row")
    assert float(item["labels"][0]) == np.float32(truth.loc[3, "teff_k"])
    assert bool(item["label_mask"][2]) == bool(np.isfinite(truth.loc[3, "porb_d"]))
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=3)))
    assert batch["spec_flux"].shape == (3, SPEC_LENGTH)
