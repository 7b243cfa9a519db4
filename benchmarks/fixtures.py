"""Small synthetic surveys shared by the tests and the benchmarks (imported, never loaded by path).

- :func:`write_synthetic_survey`: what the dashboard serves, with plausible columns and no training
  needed (catalogue with predictions and layout, truth, arrays, embedding, manifest). Populations
  sit in separate UMAP blobs and on sensible CMD/HR loci, so box selections in one view land on
  coherent groups in the others. The dashboard, browser and hardening tests and the soak use it.
- :func:`write_synthetic_store`: what training reads, a catalogue, truth and the four input arrays
  whose periods and line depths follow the labels (the training tests, the safe-loading tests).

``benchmarks/synthetic.py`` is the vectorised catalogue of 10^7 rows for the scaling benchmarks.
No work at import time.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from data import extinction, preprocess, schema
from data.storage import SurveyStore

#: Rest wavelengths [Å] of the absorption lines drawn into synthetic spectra (H-alpha, Li, Ca II).
_LINES_AA = (6562.8, 6707.8, 8498.0, 8542.1, 8662.1)

POPULATIONS = schema.POPULATION_NAMES
_WEIGHTS = (0.45, 0.12, 0.08, 0.12, 0.13, 0.10)
_UMAP_CENTRES = {
    "single": (0.0, 0.0),
    "young": (4.0, 3.0),
    "sync_binary": (-4.0, 3.5),
    "wide_binary": (1.5, -4.0),
    "giant": (7.0, -2.0),
    "subgiant": (-5.0, -3.0),
}


def synthetic_extinction(bp_rp0: np.ndarray, seed: int = 0) -> dict[str, np.ndarray]:
    """True A_G and E(BP−RP) at E(B−V) up to 0.18, and GSP-Phot-like estimates (null for 20 %).

    Its own generator, so the catalogue's other columns keep the values they had before
    extinction was added.
    """
    rng = np.random.default_rng(seed + 3)
    n = len(bp_rp0)
    a0 = extinction.A0_PER_EBV * rng.uniform(0.02, 0.18, n)
    a0_est = np.clip(a0 + rng.normal(0.0, 0.08, n), 0.0, None)
    missing = rng.random(n) < 0.2

    def reddening(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        a_g = extinction.band_extinction("G", bp_rp0, values)
        e = extinction.band_extinction("BP", bp_rp0, values) - extinction.band_extinction(
            "RP", bp_rp0, values
        )
        return a_g, e

    (a_g, e), (a_g_est, e_est) = reddening(a0), reddening(a0_est)
    return {
        "a_g": a_g,
        "e_bp_rp": e,
        "ag_gspphot": np.where(missing, np.nan, a_g_est),
        "ebpminrp_gspphot": np.where(missing, np.nan, e_est),
    }


def synthetic_catalog(n: int = 3000, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return ``(catalogue, truth)`` for ``n`` stars drawn with ``np.random.default_rng(seed)``."""
    rng = np.random.default_rng(seed)
    pop = rng.choice(len(POPULATIONS), size=n, p=_WEIGHTS)
    names = np.asarray(POPULATIONS)[pop]
    giant = names == "giant"
    sub = names == "subgiant"
    teff = np.where(
        giant,
        rng.normal(4700, 250, n),
        np.where(sub, rng.normal(5600, 300, n), rng.uniform(3500, 7000, n)),
    )
    ms_logl = 4.0 * np.log10(teff / 5772.0) * 1.9
    logl = np.where(
        giant,
        rng.normal(1.7, 0.4, n),
        np.where(sub, ms_logl + rng.normal(0.7, 0.15, n), ms_logl + rng.normal(0, 0.08, n)),
    )
    logl = logl + np.where(np.isin(names, ["sync_binary", "wide_binary"]), 0.3, 0.0)
    bp_rp = 0.82 + 2.6 * (5772.0 / teff - 1.0) + rng.normal(0, 0.03, n)
    abs_g = 4.67 - 2.5 * logl + 0.4 * (bp_rp - 0.82) + rng.normal(0, 0.05, n)
    centres = np.array([_UMAP_CENTRES[p] for p in names])
    umap = centres + rng.normal(0, 0.9, (n, 2))
    parallax = rng.uniform(0.5, 5.0, n)
    # bp_rp and abs_g lie on the intrinsic loci; Gaia observes them reddened.
    dust = synthetic_extinction(bp_rp, seed)
    bp_rp_obs, abs_g_obs = bp_rp + dust["e_bp_rp"], abs_g + dust["a_g"]
    g = abs_g_obs - 5 * np.log10(parallax) + 10
    rows = np.arange(n, dtype=np.int32)
    cat = pd.DataFrame(
        {
            "row": rows,
            "kic_id": 1_000_000 + rows.astype(np.int64),
            "lamost_obsid": 500_000_000 + rows.astype(np.int64),
            "gaia_source_id": 2_100_000_000_000_000_000 + rows.astype(np.int64) * 7919,
            "split": rng.choice(["train", "val", "test"], size=n, p=[0.7, 0.15, 0.15]),
            "ra_deg": rng.uniform(280, 300, n),
            "dec_deg": rng.uniform(36, 52, n),
            "parallax_mas": parallax,
            "parallax_error_mas": parallax * 0.02,
            "phot_g_mean_mag": g,
            "phot_bp_mean_mag": g + 0.4 * bp_rp_obs,
            "phot_rp_mean_mag": g - 0.6 * bp_rp_obs,
            "bp_rp_mag": bp_rp_obs,
            "abs_g_mag": abs_g_obs,
            "ag_gspphot_mag": dust["ag_gspphot"],
            "ebpminrp_gspphot_mag": dust["ebpminrp_gspphot"],
            "bp_rp0_mag": bp_rp_obs - dust["ebpminrp_gspphot"],
            "abs_g0_mag": abs_g_obs - dust["ag_gspphot"],
            "ruwe": np.where(names == "sync_binary", rng.uniform(1.3, 3, n), rng.uniform(0.8, 1.2, n)),
            "radial_velocity_error_kms": rng.uniform(0.5, 3, n),
            "kepler_path": [f"raw/kepler/kplr{k:09d}_llc.fits" for k in 1_000_000 + rows],
            "lamost_path": [f"raw/lamost/spec-{k}.fits" for k in 500_000_000 + rows],
            "umap_x": umap[:, 0],
            "umap_y": umap[:, 1],
        }
    )
    age = np.where(names == "young", rng.uniform(0.05, 0.5, n), rng.uniform(1, 10, n))
    prot = np.where(names == "young", rng.uniform(0.5, 5, n), rng.uniform(10, 40, n))
    # Synchronized binaries rotate at their short orbital period (no extra draw: the stream of
    # random numbers, and so every other column, stays as it was).
    prot = np.where(names == "sync_binary", prot / 8.0, prot)
    truth_values = {
        "teff_k": teff,
        "logl": logl,
        "age_gyr": age,
        "prot_d": prot,
        "logg": 4.4 - 1.0 * (logl - ms_logl),
        "feh": rng.normal(0, 0.2, n),
        "abs_g_mag": abs_g,
        "bp_rp_mag": bp_rp,
    }
    scale = {
        "teff_k": 80.0,
        "logl": 0.05,
        "age_gyr": 0.8,
        "prot_d": 1.5,
        "logg": 0.08,
        "feh": 0.08,
        "abs_g_mag": 0.1,
        "bp_rp_mag": 0.03,
    }
    # Properties without a recipe here are left out, as in a catalogue of an older model.
    for stem in [name for name in schema.PROPERTY_NAMES if name in truth_values]:
        pred = truth_values[stem] + rng.normal(0, scale[stem], n)
        cat[f"pred_{stem}"] = pred
        cat[f"pred_{stem}_lo"] = pred - scale[stem]
        cat[f"pred_{stem}_hi"] = pred + scale[stem]
    is_binary = np.isin(names, ["sync_binary", "wide_binary"])
    cat["binary_prob"] = np.clip(is_binary * 0.7 + rng.uniform(0, 0.3, n), 0, 1)
    truth = pd.DataFrame(
        {
            "row": rows,
            "population": names,
            "teff_k": teff,
            "logl": logl,
            "age_gyr": age,
            "prot_d": prot,
            "porb_d": np.where(names == "sync_binary", prot, np.nan),
            "is_binary": is_binary,
        }
    )
    return cat, truth


def synthetic_arrays(truth: pd.DataFrame, seed: int = 0) -> dict[str, np.ndarray]:
    """Gridded light curves (spot modulation at the true period) and spectra (five lines).

    The last star has no light curve at all (mask all False), as a star whose Kepler file was
    quarantined would have.
    """
    rng = np.random.default_rng(seed + 1)
    n = len(truth)
    time_d = np.arange(preprocess.LC_LENGTH) * (preprocess.LC_SPAN_D / preprocess.LC_LENGTH)
    period = truth["prot_d"].to_numpy()[:, None]
    flux = 1.0 * np.sin(2 * np.pi * time_d / period) + rng.normal(0, 0.1, (n, time_d.size))
    lc_mask = rng.random((n, time_d.size)) > 0.05
    lc_mask[-1] = False
    lc_channels = np.zeros((n, len(preprocess.LC_CHANNELS), time_d.size), dtype=np.float32)
    lc_channels[:, 0] = np.where(lc_mask, flux, preprocess.LC_FILL_VALUE)
    wave = preprocess.spectrum_grid()
    depth = rng.uniform(0.2, 0.6, (n, len(_LINES_AA)))
    profiles = np.exp(-0.5 * ((wave[None, :] - np.asarray(_LINES_AA)[:, None]) / 2.0) ** 2)
    spec_flux = (1.0 - depth @ profiles + rng.normal(0, 0.01, (n, wave.size))).astype(np.float32)
    spec_mask = np.ones((n, wave.size), dtype=bool)
    return {
        "lc_channels": lc_channels,
        "lc_mask": lc_mask,
        "spec_flux": spec_flux,
        "spec_mask": spec_mask,
        "embedding": synthetic_embedding(truth["population"].to_numpy(), seed),
    }


#: The manifest's ``embed`` section of the synthetic survey (the provenance exports carry).
SYNTHETIC_EMBED = {"checkpoint_sha256": "5e" * 32, "run": "synthetic", "date": "2026-01-01T00:00:00Z"}


def synthetic_embedding(populations: np.ndarray, seed: int = 0, dim: int = 8) -> np.ndarray:
    """An ``(N, dim)`` float32 embedding in row order: one well-separated cluster per population."""
    rng = np.random.default_rng(seed + 2)
    centres = {name: rng.normal(0, 4, dim) for name in POPULATIONS}
    noise = rng.normal(0, 1, (len(populations), dim))
    return (np.array([centres[p] for p in populations]) + noise).astype(np.float32)


# --- the dashboard's survey ------------------------------------------------------------------------
def write_synthetic_survey(root: Path, n: int = 3000, seed: int = 0) -> SurveyStore:
    """Write the synthetic catalogue, truth, arrays and grid manifest as one new store generation."""
    store = SurveyStore(root)
    cat, truth = synthetic_catalog(n, seed)
    with store.new_generation("ingest", fresh=True) as new:
        new.write_catalog(cat)
        new.write_truth(truth)
        for name, array in synthetic_arrays(truth, seed).items():
            new.write_array(name, array)
        new.update_manifest(grids=preprocess.grid_description(), embed=SYNTHETIC_EMBED)
    return store


# --- the training store ---------------------------------------------------------------------------
#: Stars of the training store (enough for every split of every stage, small enough for seconds).
TRAINING_STARS = 96


def write_synthetic_store(root: Path, *, n: int = TRAINING_STARS, seed: int = 0) -> SurveyStore:
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
