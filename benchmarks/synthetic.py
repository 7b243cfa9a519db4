"""A synthetic catalogue with every real catalogue column, vectorised for 10^7 rows.

Populations sit in separate UMAP blobs and on plausible CMD/HR loci (like
``benchmarks/fixtures.py``, which builds Python lists and is too slow at 10^7 rows), so
a box in one view lands on a coherent group in the others. Columns follow ``data.catalog.ALL``;
the truth table carries ``population``, ``teff_k``, ``logl``, ``age_gyr``, ``prot_d``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

from data import catalog, extinction, schema
from data.storage import SurveyStore

POPULATIONS = schema.POPULATION_NAMES
_WEIGHTS = (0.45, 0.12, 0.08, 0.12, 0.13, 0.10)
_UMAP_CENTRES = np.array([(0.0, 0.0), (4.0, 3.0), (-4.0, 3.5), (1.5, -4.0), (7.0, -2.0), (-5.0, -3.0)])
_SCALE = {
    "teff_k": 80.0,
    "logg": 0.08,
    "feh": 0.08,
    "logl": 0.05,
    "abs_g_mag": 0.1,
    "bp_rp_mag": 0.03,
    "prot_d": 1.5,
    "age_gyr": 0.8,
}


def _paths(prefix: str, ids: np.ndarray, suffix: str, width: int) -> pd.Series:
    text = pd.Series(ids).astype("str").str.zfill(width)
    return prefix + text + suffix


def _gspphot(bp_rp: np.ndarray, abs_g: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    """GSP-Phot-like A_G, E(BP−RP) (null for 20 %) and the dereddened CMD, from their own generator."""
    rng = np.random.default_rng(seed + 3)
    n = len(bp_rp)
    a0 = np.where(rng.random(n) < 0.2, np.nan, rng.uniform(0.05, 0.6, n))
    a_g = extinction.band_extinction("G", bp_rp, a0)
    e = extinction.band_extinction("BP", bp_rp, a0) - extinction.band_extinction("RP", bp_rp, a0)
    return {
        "ag_gspphot_mag": a_g.astype(np.float32),
        "ebpminrp_gspphot_mag": e.astype(np.float32),
        "bp_rp0_mag": (bp_rp - e).astype(np.float32),
        "abs_g0_mag": (abs_g - a_g).astype(np.float32),
    }


def synthetic_catalog(n: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return ``(catalogue, truth)`` for ``n`` stars from ``np.random.default_rng(seed)``."""
    if n < 1:
        raise ValueError(f"a synthetic catalogue needs at least one star, got n={n}")
    rng = np.random.default_rng(seed)
    f32 = np.float32
    pop = rng.choice(len(POPULATIONS), size=n, p=_WEIGHTS).astype(np.int8)
    giant, sub, young = pop == 4, pop == 5, pop == 1
    binary = (pop == 2) | (pop == 3)
    teff = np.where(
        giant,
        rng.normal(4700, 250, n),
        np.where(sub, rng.normal(5600, 300, n), rng.uniform(3500, 7000, n)),
    )
    ms_logl = 7.6 * np.log10(teff / 5772.0)
    logl = np.where(
        giant,
        rng.normal(1.7, 0.4, n),
        np.where(sub, ms_logl + rng.normal(0.7, 0.15, n), ms_logl + rng.normal(0, 0.08, n)),
    ) + np.where(binary, 0.3, 0.0)
    bp_rp = 0.82 + 2.6 * (5772.0 / teff - 1.0) + rng.normal(0, 0.03, n)
    abs_g = 4.67 - 2.5 * logl + 0.4 * (bp_rp - 0.82) + rng.normal(0, 0.05, n)
    umap = _UMAP_CENTRES[pop] + rng.normal(0, 0.9, (n, 2))
    parallax = rng.uniform(0.5, 5.0, n)
    g = abs_g - 5 * np.log10(parallax) + 10
    rows = np.arange(n, dtype=np.int32)
    kic = 1_000_000 + rows.astype(np.int64)
    obsid = 500_000_000 + rows.astype(np.int64)
    cat = pd.DataFrame(
        {
            "row": rows,
            "kic_id": kic,
            schema.MISSION: pd.Series([schema.KEPLER] * n, dtype="string"),
            schema.TARGET_ID: kic,
            schema.HAS_LIGHTCURVE: np.ones(n, dtype=bool),
            schema.HAS_SPECTRUM: np.ones(n, dtype=bool),
            "lamost_obsid": obsid,
            "gaia_source_id": 2_100_000_000_000_000_000 + rows.astype(np.int64) * 7919,
            "split": pd.Categorical.from_codes(
                rng.choice(3, size=n, p=[0.7, 0.15, 0.15]), ["train", "val", "test"]
            ),
            "ra_deg": rng.uniform(280, 300, n),
            "dec_deg": rng.uniform(36, 52, n),
            "parallax_mas": parallax.astype(f32),
            "parallax_error_mas": (parallax * 0.02).astype(f32),
            "phot_g_mean_mag": g.astype(f32),
            "phot_bp_mean_mag": (g + 0.4 * bp_rp).astype(f32),
            "phot_rp_mean_mag": (g - 0.6 * bp_rp).astype(f32),
            "bp_rp_mag": bp_rp.astype(f32),
            "abs_g_mag": abs_g.astype(f32),
            **_gspphot(bp_rp, abs_g, seed),
            "ruwe": np.where(pop == 2, rng.uniform(1.3, 3, n), rng.uniform(0.8, 1.2, n)).astype(f32),
            "radial_velocity_error_kms": rng.uniform(0.5, 3, n).astype(f32),
            "kepler_path": _paths("raw/kepler/kplr", kic, "_llc.fits", 9),
            "lamost_path": _paths("raw/lamost/spec-", obsid, ".fits", 9),
            "lc_span_d": np.full(n, 89.0, dtype=f32),  # one Kepler quarter
            "lc_used_d": np.full(n, 89.0, dtype=f32),
            "umap_x": umap[:, 0].astype(f32),
            "umap_y": umap[:, 1].astype(f32),
        }
    )
    age = np.where(young, rng.uniform(0.05, 0.5, n), rng.uniform(1, 10, n))
    prot = np.where(young, rng.uniform(0.5, 5, n), rng.uniform(10, 40, n))
    truth_values = {
        "teff_k": teff,
        "logg": 4.4 - 1.0 * (logl - ms_logl),
        "feh": rng.normal(0, 0.2, n),
        "logl": logl,
        "abs_g_mag": abs_g,
        "bp_rp_mag": bp_rp,
        "prot_d": prot,
        "age_gyr": age,
    }
    # Properties without a recipe here are left out, as in a catalogue of an older model.
    for stem in [name for name in schema.PROPERTY_NAMES if name in truth_values]:
        pred = truth_values[stem] + rng.normal(0, _SCALE[stem], n)
        cat[f"pred_{stem}"] = pred.astype(f32)
        cat[f"pred_{stem}_lo"] = (pred - _SCALE[stem]).astype(f32)
        cat[f"pred_{stem}_hi"] = (pred + _SCALE[stem]).astype(f32)
    cat["binary_prob"] = np.clip(binary * 0.7 + rng.uniform(0, 0.3, n), 0, 1).astype(f32)
    truth = pd.DataFrame(
        {
            "row": rows,
            "population": pd.Categorical.from_codes(pop, POPULATIONS),
            "teff_k": teff.astype(f32),
            "logl": logl.astype(f32),
            "age_gyr": age.astype(f32),
            "prot_d": prot.astype(f32),
            "is_binary": binary,
        }
    )
    return cat, truth


def write_synthetic_survey(root: Path, n: int, seed: int = 0) -> SurveyStore:
    """Write the synthetic catalogue and truth into ``root`` (a survey folder); return its store."""
    store = SurveyStore(Path(root))
    cat, truth = synthetic_catalog(n, seed)
    unmade = {c.name for p in schema.PROPERTY_NAMES if p not in _SCALE for c in catalog.prediction_columns(p)}
    missing = [c.name for c in catalog.ALL if c.name not in cat.columns and c.name not in unmade]
    if missing:  # guards against the schema growing without this generator
        raise ValueError(f"benchmarks/synthetic.py lacks catalogue columns {missing}; add them")
    with store.new_generation("ingest", fresh=True) as new:  # readers see both or neither
        new.write_catalog(cat)
        new.write_truth(truth)
    return store


#: A folder shared by the benchmarks of one ``run_all`` run, so each survey size is written once.
CACHE_ENV = "DESA_BENCH_SURVEYS"


@contextmanager
def synthetic_survey(n: int, workdir: Path | None = None) -> Iterator[Path]:
    """A survey folder of ``n`` synthetic stars for the duration of the ``with`` block.

    Under ``run_all`` (``$DESA_BENCH_SURVEYS`` set) the folder is written once per size and kept for
    the other benchmarks of the run (``run_all`` removes it at the end); otherwise it is written
    into a temporary folder and removed afterwards.
    """
    cache = os.environ.get(CACHE_ENV)
    if not cache:
        with tempfile.TemporaryDirectory(dir=workdir) as tmp:
            folder = Path(tmp) / f"survey_{n}"
            write_synthetic_survey(folder, n)
            yield folder
        return
    folder = Path(cache) / f"survey_{n}"
    done = folder / ".complete"
    if not done.is_file():
        partial = Path(cache) / f".survey_{n}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        write_synthetic_survey(partial, n)
        shutil.rmtree(folder, ignore_errors=True)
        partial.rename(folder)  # atomic: a killed run leaves only a .partial folder
        done.touch()
    yield folder
