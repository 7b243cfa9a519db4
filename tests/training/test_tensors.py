"""The label table behind the heads: which binary label the binary head trains on."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from training.tensors import label_table


def test_binary_head_trains_on_the_detectable_label_when_the_truth_has_it(tmp_path: Path, make_store) -> None:
    store = make_store(tmp_path / "s")
    truth = store.read_truth()
    _, binary = label_table(store, ("teff_k",))
    np.testing.assert_array_equal(binary, truth["is_binary"].to_numpy(float))  # older truth: is_binary
    detectable = truth["is_binary"].to_numpy() & (np.arange(len(truth)) % 3 == 0)
    store.write_truth(truth.assign(is_detectable_binary=detectable))
    _, binary = label_table(store, ("teff_k",))
    np.testing.assert_array_equal(binary, detectable.astype(float))
    assert 0 < binary.sum() < truth["is_binary"].sum()
