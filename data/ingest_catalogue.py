"""The catalogue of an ingest: one row per kept star, from its Gaia row, files and light-curve span."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd

from data import preprocess, schema
from data.gaia import NO_ID
from data.ingest_plan import IngestPlan
from data.splits import assign_splits

log = logging.getLogger(__name__)


def _relative(paths: tuple[Path, ...], root: Path) -> str:
    return ";".join(Path(os.path.relpath(p, root)).as_posix() for p in paths)


def _split_keys(mission: np.ndarray, target: np.ndarray, obsid: np.ndarray, source: np.ndarray) -> list[str]:
    """The identifier each star's split is hashed from: the KIC (as always), else a mission-named id."""
    out = []
    for m, t, o, s in zip(mission, target, obsid, source, strict=True):
        if t != NO_ID:
            out.append(str(int(t)) if m == schema.KEPLER else f"{m} {int(t)}")
        elif s != NO_ID:
            out.append(f"Gaia DR3 {int(s)}")
        else:
            out.append(f"LAMOST {int(o)}")
    return out


def _catalogue(plan: IngestPlan, kept: list[int], spans: list[float], root: Path, seed: int) -> pd.DataFrame:
    n = len(kept)
    idx = np.asarray(kept, dtype=np.int64)
    gaia = (
        plan.gaia.iloc[idx].reset_index(drop=True) if plan.gaia is not None else pd.DataFrame(index=range(n))
    )

    def col(name: str) -> np.ndarray:
        return gaia[name].to_numpy(dtype=np.float64) if name in gaia else np.full(n, np.nan)

    plx, g = col("parallax"), col("phot_g_mean_mag")
    with np.errstate(invalid="ignore", divide="ignore"):
        abs_g = np.where(plx > 0, g + 5 * np.log10(plx) - 10, np.nan)
    # Dereddened as Gaia users do, with each star's GSP-Phot A_G and E(BP−RP); NaN where a table
    # lacks them (GSP-Phot is null for many stars, and absent from tables queried without it).
    ag, ebprp = col("ag_gspphot"), col("ebpminrp_gspphot")
    mission = np.array([plan.mission[i] for i in kept], dtype=object)
    target = plan.target_id[idx] if n else np.zeros(0, np.int64)
    obsid = plan.obsid[idx] if n else np.zeros(0, np.int64)
    source = gaia["source_id"].to_numpy(np.int64) if "source_id" in gaia else np.full(n, NO_ID, np.int64)
    ra, dec = col("ra"), col("dec")
    if plan.ra_dec is not None and n:
        ra, dec = plan.ra_dec[idx, 0], plan.ra_dec[idx, 1]
    has_lc = np.array([bool(plan.lc_files[i]) for i in kept], dtype=bool)
    has_spec = np.array([plan.spec_file[i] is not None for i in kept], dtype=bool)
    cat = pd.DataFrame(
        {
            "row": np.arange(n, dtype=np.int32),
            "kic_id": np.where(mission == schema.KEPLER, target, NO_ID).astype(np.int64),
            "lamost_obsid": obsid.astype(np.int64),
            "gaia_source_id": source,
            "split": assign_splits(_split_keys(mission, target, obsid, source), seed=seed),
            schema.MISSION: pd.array(mission.astype(str), dtype="string"),
            schema.TARGET_ID: target.astype(np.int64),
            schema.HAS_LIGHTCURVE: has_lc,
            schema.HAS_SPECTRUM: has_spec,
            "ra_deg": ra,
            "dec_deg": dec,
            "parallax_mas": plx,
            "parallax_error_mas": col("parallax_error"),
            "phot_g_mean_mag": g,
            "phot_bp_mean_mag": col("phot_bp_mean_mag"),
            "phot_rp_mean_mag": col("phot_rp_mean_mag"),
            "bp_rp_mag": col("bp_rp"),
            "abs_g_mag": abs_g,
            "ag_gspphot_mag": ag,
            "ebpminrp_gspphot_mag": ebprp,
            "bp_rp0_mag": col("bp_rp") - ebprp,
            "abs_g0_mag": abs_g - ag,
            "ruwe": col("ruwe"),
            "radial_velocity_error_kms": col("radial_velocity_error"),
            "kepler_path": [_relative(plan.lc_files[i], root) for i in kept],
            "lamost_path": [_relative((plan.spec_file[i],), root) if plan.spec_file[i] else "" for i in kept],
        }
    )
    cat["split"] = pd.Categorical(cat["split"], categories=["train", "val", "test"])
    _record_lightcurve_spans(cat, np.asarray(spans, dtype=np.float64))
    return cat


def _record_lightcurve_spans(catalog: pd.DataFrame, span: np.ndarray) -> None:
    """Say what of each light curve the model sees: ``lc_span_d`` observed, ``lc_used_d`` kept.

    The model grid covers LC_SPAN_D days from the first valid cadence (data/preprocess.py); longer
    light curves (several quarters) are cut there. Nothing is cut silently: both spans are
    catalogue columns, and the count of cut stars is logged and kept in the manifest. Stars
    without a light curve have NaN in both.
    """
    catalog["lc_span_d"] = span
    catalog["lc_used_d"] = np.minimum(span, preprocess.LC_SPAN_D)
    cut = int(np.sum(span > preprocess.LC_SPAN_D + 1.0))
    if cut:
        log.warning(
            "%d light curves are longer than the model grid: the first %.0f d from the first valid "
            "cadence are used (catalogue columns lc_span_d, lc_used_d)",
            cut,
            preprocess.LC_SPAN_D,
        )
