"""A small synthetic survey store for training tests: arrays with a signal tied to the labels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from data import preprocess
from data.storage import SurveyStore

N_STARS = 96


def write_synthetic_store(root: Path, *, n: int = N_STARS, seed: int = 0) -> SurveyStore:
    """Write catalogue, truth and the four input arrays; periods and line depths follow labels."""
    rng = np.random.default_rng(seed)
    store = SurveyStore(root)
    prot = rng.uniform(1, 30, n)
    teff = rng.uniform(4000, 6500, n)
    t = np.arange(1024) * 90 / 1024
    flux = np.sin(2 * np.pi * t[None] / prot[:, None]) + 0.1 * rng.normal(size=(n, 1024))
    lc = np.stack([flux, np.cos(2 * np.pi * t[None] / prot[:, None]), flux**2], axis=1)
    pixel = np.arange(preprocess.SPEC_LENGTH)[None]
    spec = 1 - 0.3 * np.exp(-0.5 * ((pixel - teff[:, None] / 5) / 5) ** 2)
    spec = spec + 0.01 * rng.normal(size=(n, preprocess.SPEC_LENGTH))
    split = np.where(np.arange(n) % 5 == 0, "test", np.where(np.arange(n) % 5 == 1, "val", "train"))
    bp_rp = 3.5 - teff / 2500
    catalog = pd.DataFrame(
        {
            "row": np.arange(n, dtype=np.int32),
            "kic_id": 10_000_000 + np.arange(n),
            "lamost_obsid": 500_000_000 + np.arange(n),
            "gaia_source_id": 2**60 + np.arange(n),
            "split": pd.Categorical(split),
            "ra_deg": rng.uniform(280, 300, n),
            "dec_deg": rng.uniform(36, 52, n),
            "parallax_mas": rng.uniform(1, 5, n),
            "parallax_error_mas": np.full(n, 0.02),
            "phot_g_mean_mag": rng.uniform(10, 15, n),
            "phot_bp_mean_mag": rng.uniform(10, 15, n),
            "phot_rp_mean_mag": rng.uniform(10, 15, n),
            "bp_rp_mag": bp_rp,
            "abs_g_mag": 4.6 + 3 * (bp_rp - 0.8),
            "ruwe": np.ones(n),
            "radial_velocity_error_kms": np.ones(n),
            "kepler_path": [f"raw/kepler/{i}.fits" for i in range(n)],
            "lamost_path": [f"raw/lamost/{i}.fits" for i in range(n)],
        }
    )
    population = np.where(prot < 5, np.where(np.arange(n) % 2, "young", "sync_binary"), "single")
    truth = pd.DataFrame(
        {
            "row": np.arange(n, dtype=np.int32),
            "population": population,
            "is_binary": population == "sync_binary",
            "teff_k": teff,
            "logg": rng.uniform(4, 4.6, n),
            "feh": rng.normal(-0.1, 0.2, n),
            "logl": (teff - 5772) / 2000,
            "prot_d": prot,
            "age_gyr": prot / 5,
        }
    )
    store.write_catalog(catalog)
    store.write_truth(truth)
    store.write_array("lc_channels", lc.astype(np.float32))
    store.write_array("lc_mask", np.ones((n, 1024), bool))
    store.write_array("spec_flux", spec.astype(np.float32))
    store.write_array("spec_mask", np.ones((n, preprocess.SPEC_LENGTH), bool))
    store.update_manifest(grids=preprocess.grid_description())
    return store


@pytest.fixture
def synthetic_store(tmp_path: Path) -> SurveyStore:
    return write_synthetic_store(tmp_path / "survey")


@pytest.fixture
def make_store():
    """``write_synthetic_store`` for tests that need several stores."""
    return write_synthetic_store
