"""The label table behind the heads: which binary label the binary head trains on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

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


def test_cmd_labels_are_dereddened() -> None:
    """The heads learn the intrinsic CMD (truth), else GSP-Phot-dereddened values, never observed."""
    from training.tensors import label_values

    truth = pd.DataFrame(
        {
            "abs_g_mag": [4.0, 5.0],
            "abs_g_intrinsic_mag": [4.0, 5.0],
            "bp_rp_mag": [1.2, 1.5],
            "bp_rp_intrinsic_mag": [0.9, 1.1],
        }
    )
    catalog = pd.DataFrame(
        {
            "abs_g_mag": [3.6, 4.4],
            "bp_rp_mag": [1.2, 1.5],
            "abs_g0_mag": [4.1, np.nan],
            "bp_rp0_mag": [0.95, np.nan],
        }
    )
    values, source = label_values("bp_rp_mag", {"truth": truth, "catalog": catalog})
    assert source == "truth.bp_rp_intrinsic_mag" and values.tolist() == [0.9, 1.1]
    values, source = label_values("bp_rp_mag", {"truth": None, "catalog": catalog})
    assert source == "catalog.bp_rp0_mag" and values[0] == 0.95 and np.isnan(values[1])
    values, source = label_values("abs_g_mag", {"truth": None, "catalog": catalog.drop(columns="abs_g0_mag")})
    assert values is None and source is None
