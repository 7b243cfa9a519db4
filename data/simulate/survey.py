"""Write a simulated Kepler × LAMOST × Gaia survey in the archives' own formats.

``simulate_survey`` draws the population, then simulates every star with its own child generator
(a ``SeedSequence`` spawned per star), so a star's files do not depend on which other stars were
written before: a run killed half-way resumes by skipping stars whose files exist. Output::

    out_dir/kepler/kplr{kic:09d}-{stamp}_llc.fits   one per quarter
    out_dir/lamost/spec-{MJD}-{PLANID}_sp{SS}-{FFF}.fits
    out_dir/gaia_source.ecsv                        Gaia DR3-like table with kic_id, lamost_obsid
    out_dir/truth.parquet                           the truth table (simulation only)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from data import extinction, schema
from data.engine import open_engine
from data.gaia import write_gaia_table
from data.kepler import kepler_filename, write_kepler_lightcurve
from data.lamost import lamost_filename, write_lamost_spectrum
from data.simulate import binarity
from data.simulate.lightcurve import cadence_times, simulate_lightcurve
from data.simulate.population import SurveyConfig, draw_population
from data.simulate.spectrum import simulate_spectrum
from data.storage import atomic_write, clean_temp_files

log = logging.getLogger(__name__)

GAIA_FILENAME = "gaia_source.ecsv"
TRUTH_FILENAME = "truth.parquet"
_CHUNK = 25
_FIBRES_PER_PLAN = 16 * 250


@dataclass(frozen=True)
class SimulationSummary:
    """What ``simulate_survey`` wrote."""

    out_dir: Path
    n_stars: int
    n_written: int
    n_skipped: int
    population_counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def _file_names(truth: pd.DataFrame, config: SurveyConfig) -> pd.DataFrame:
    """Deterministic archive names for every star (needed to resume)."""
    i = np.arange(len(truth))
    plan = i // _FIBRES_PER_PLAN
    names = pd.DataFrame(index=truth.index)
    names["kepler_files"] = [
        ";".join(f"kepler/{kepler_filename(kic, cadence_times(q)[-1])}" for q in range(config.lc_quarters))
        for kic in truth["kic_id"]
    ]
    names["lamost_file"] = [
        "lamost/" + lamost_filename(56000 + 31 * p, f"KP{p + 1:03d}N", (k // 250) % 16 + 1, k % 250 + 1)
        for p, k in zip(plan, i % _FIBRES_PER_PLAN, strict=True)
    ]
    names["lamost_mjd"] = 56000 + 31 * plan
    return names


def _spectral_header(star: dict, helio_rv: float, filename: str) -> dict:
    snr = float(star["snr_g"])
    return {
        "OBSID": int(star["lamost_obsid"]),
        "FILENAME": filename,
        "MJD": int(star["lamost_mjd"]),
        "PLANID": filename.split("-")[2].split("_")[0],
        "RA": float(star["ra_deg"]),
        "DEC": float(star["dec_deg"]),
        "SNRU": round(snr * 0.3, 2),
        "SNRG": round(snr, 2),
        "SNRR": round(snr * 1.4, 2),
        "SNRI": round(snr * 1.6, 2),
        "SNRZ": round(snr * 1.1, 2),
        "HELIO_RV": round(helio_rv, 2),
        "Z": helio_rv / 299792.458,
        "CLASS": "STAR",
    }


def _simulate_star(star: dict, seed: np.random.SeedSequence, out_dir: Path, config: SurveyConfig) -> bool:
    """Write one star's files unless they all exist; True if anything was written."""
    kepler_paths = [out_dir / name for name in star["kepler_files"].split(";")]
    lamost_path = out_dir / star["lamost_file"]
    if lamost_path.is_file() and all(p.is_file() for p in kepler_paths):
        return False
    rng = np.random.default_rng(seed)
    channel = int(star["kic_id"]) % 84 + 1  # a fixed CCD channel per star (rotates by season in reality)
    for q, path in enumerate(kepler_paths):
        lc = simulate_lightcurve(star, rng, quarter_index=q)
        extra = {
            "SEASON": (lc.quarter + 2) % 4,
            "CHANNEL": channel,
            "MODULE": (channel - 1) // 4 + 2,
            "OUTPUT": (channel - 1) % 4 + 1,
            "RA_OBJ": round(star["ra_deg"], 6),
            "DEC_OBJ": round(star["dec_deg"], 6),
            "KEPMAG": round(star["kepmag"], 3),
            # KIC-like stellar parameters: photometric, so noisy (Brown et al. 2011 errors).
            "TEFF": round(float(star["teff_k"]) + float(rng.normal(0, 200))),
            "LOGG": round(float(star["logg"] + rng.normal(0, 0.4)), 3),
            "FEH": round(float(star["feh"] + rng.normal(0, 0.3)), 3),
            "RADIUS": round(float(star["radius_rsun"] * np.exp(rng.normal(0, 0.3))), 3),
        }
        atomic_write(
            path,
            lambda tmp, lc=lc, extra=extra: write_kepler_lightcurve(
                tmp,
                time_bkjd=lc.time_bkjd,
                pdcsap_flux=lc.pdcsap_flux,
                pdcsap_flux_err=lc.pdcsap_flux_err,
                sap_flux=lc.sap_flux,
                sap_quality=lc.sap_quality,
                kic_id=star["kic_id"],
                quarter=lc.quarter,
                header_extra=extra,
                columns_extra=lc.columns_extra,
                table_header_extra=lc.header_extra,
            ),
        )
    spec = simulate_spectrum(star, rng)
    header = _spectral_header(star, spec.helio_rv_kms, lamost_path.name)
    atomic_write(
        lamost_path,
        lambda tmp: write_lamost_spectrum(
            tmp,
            wavelength_aa=spec.wavelength_aa,
            flux=spec.flux,
            ivar=spec.ivar,
            andmask=spec.andmask,
            ormask=spec.ormask,
            header=header,
            layout=config.spectrum_layout,
        ),
    )
    return True


def _simulate_chunk(
    args: tuple[list[dict], list[np.random.SeedSequence], Path, SurveyConfig],
) -> int:
    stars, seeds, out_dir, config = args
    return sum(_simulate_star(s, q, out_dir, config) for s, q in zip(stars, seeds, strict=True))


def _chunks(
    truth: pd.DataFrame, seeds: list[np.random.SeedSequence], out_dir: Path, config: SurveyConfig
) -> Iterator[tuple[list[dict], list[np.random.SeedSequence], Path, SurveyConfig]]:
    """Tasks of ``_CHUNK`` stars, built lazily so that only a few chunks exist at a time."""
    for start in range(0, len(truth), _CHUNK):
        rows = truth.iloc[start : start + _CHUNK].to_dict("records")
        yield rows, seeds[start : start + _CHUNK], out_dir, config


def _chunk_stars(task: tuple[list[dict], list, Path, SurveyConfig]) -> int:
    return len(task[0])


def _run_chunks(
    truth: pd.DataFrame,
    seeds: list[np.random.SeedSequence],
    out_dir: Path,
    config: SurveyConfig,
    progress: bool,
    scheduler: str | None = None,
) -> int:
    """Simulate every chunk as a task of the Dask engine (``data.engine``), with one progress bar.

    Each star has its own seed and its own files (written atomically, skipped when present), so the
    files do not depend on the number of workers, on the order chunks finish in, or on a chunk run
    again after its worker died. At most ``2 × workers`` chunks are in flight (memory stays bounded
    for 100k-star surveys).
    """
    workers = 1 if len(truth) <= _CHUNK else max(1, int(config.workers))
    written = 0
    with (
        tqdm(total=len(truth), desc="simulate", unit="star", disable=not progress) as bar,
        open_engine(workers, scheduler) as engine,
    ):
        tasks = _chunks(truth, seeds, out_dir, config)
        for n in engine.map_chunks(_simulate_chunk, tasks, bar=bar, size=_chunk_stars):
            written += n
    return written


#: Gaia DR3 RVS transits per source (median ~20; Katz et al. 2023, A&A 674, A5).
N_RV_EPOCHS = 20
#: non_single_star bits, set in the truth by the detectability model of ``data.simulate.binarity``.
NSS_ASTROMETRIC, NSS_SPECTROSCOPIC, NSS_ECLIPSING = (
    binarity.NSS_ASTROMETRIC,
    binarity.NSS_SPECTROSCOPIC,
    binarity.NSS_ECLIPSING,
)
#: Pairs 0.1–1″ apart are neither one point source nor two: the image fit fails and RUWE rises
#: (general knowledge; window and RUWE range are our approximation).
PAIR_SEPARATION_MAS = (100.0, 1000.0)
PAIR_MIN_FLUX_RATIO = 0.1


def _ruwe(truth: pd.DataFrame, g: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """RUWE ≈ 1.0 ± 0.05 for single stars, raised by binarity.

    The orbital photocentre wobble (months to years, :func:`data.simulate.binarity.ruwe_without_noise`)
    and partially resolved pairs raise it.
    """
    n = len(truth)
    porb = truth["porb_d"].to_numpy(float)
    seen = binarity.wobble_seen_mas(truth["alpha_phot_mas"].to_numpy(float), porb)
    base = np.clip(rng.normal(1.0, 0.05, n), 0.8, None)
    ruwe = np.sqrt(base**2 + binarity.ruwe_without_noise(seen, g) ** 2 - 1.0)
    with np.errstate(invalid="ignore"):
        rho_mas = (
            1000.0 * truth["a_rsun"].to_numpy(float) / binarity.RSUN_PER_AU / truth["distance_pc"].to_numpy()
        )
    lo, hi = PAIR_SEPARATION_MAS
    pair = (rho_mas > lo) & (rho_mas < hi) & (truth["flux_ratio_g"].to_numpy(float) >= PAIR_MIN_FLUX_RATIO)
    return np.where(pair, np.maximum(ruwe, rng.uniform(1.4, 4.0, n)), ruwe)


def _radial_velocities(truth: pd.DataFrame, g: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """radial_velocity, its error and rv_amplitude_robust from ~20 RVS epochs over 34 months.

    Published for G_RVS ≤ 14 only (NaN otherwise). For G_RVS ≤ 12 (rv_method_used = 1) the value
    is the median of the epoch RVs and the error √(π / 2N) × their scatter (floored at 0.11 km/s),
    so orbital motion raises it, and rv_amplitude_robust (max − min) is given; fainter stars get the
    combined-spectrum error, which does not see the orbit, and no amplitude (Katz et al. 2023).
    """
    n = len(truth)
    g_rvs = binarity.g_rvs_mag(g, truth["g_rp_mag"].to_numpy(float))
    sigma_ep = binarity.rvs_epoch_precision_kms(g_rvs)
    k1 = np.nan_to_num(truth["k1_kms"].to_numpy(float))
    porb = np.nan_to_num(truth["porb_d"].to_numpy(float), nan=np.inf)
    t = rng.uniform(0.0, binarity.DR3_BASELINE_D, (n, N_RV_EPOCHS))
    phase = 2 * np.pi * (truth["orbit_phase"].to_numpy(float)[:, None] + t / porb[:, None])
    epochs = k1[:, None] * np.sin(phase) + sigma_ep[:, None] * rng.normal(size=(n, N_RV_EPOCHS))
    has_rv = g_rvs <= binarity.RVS_PUBLISHED_GRVS_LIMIT
    bright = g_rvs <= binarity.RVS_ORBIT_GRVS_LIMIT
    scale = np.sqrt(np.pi / (2 * N_RV_EPOCHS))
    rv_err = np.where(bright, np.maximum(scale * epochs.std(axis=1), 0.11), scale * sigma_ep)
    return {
        "radial_velocity": np.where(has_rv, truth["rv_kms"].to_numpy() + np.median(epochs, axis=1), np.nan),
        "radial_velocity_error": np.where(has_rv, rv_err, np.nan),
        "rv_amplitude_robust": np.where(bright, epochs.max(axis=1) - epochs.min(axis=1), np.nan),
    }


#: GSP-Phot is published for G < 19 only (Andrae et al. 2023, A&A 674, A27).
GSPPHOT_G_LIMIT = 19.0


def gspphot_columns(truth: pd.DataFrame, g: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """GSP-Phot-like ``ag_gspphot`` and ``ebpminrp_gspphot`` [mag] with 16th/84th percentiles.

    Andrae et al. 2023 (A&A 674, A27) find A0 typically 0.07–0.09 mag from reference values and
    overestimated where extinction is low. Here A0 gets noise of σ = 0.08 mag at G = 12 rising to
    0.15 mag at G = 16, a +0.03 mag bias, and a floor at 0 (GSP-Phot's A0 is never negative); A_G
    and E(BP−RP) follow from that A0 by data/extinction.py at the intrinsic colour (GSP-Phot uses
    its fitted Teff), so both err together along the reddening vector, as the Teff–A0 degeneracy
    makes them. NaN (not published) for G > 19 and for 8 % of stars at G = 12 rising to 28 % at
    G = 16 (fits that failed or were filtered; our choice, about 20 % of a Kepler-like sample).
    """
    n = len(truth)
    colour0 = truth["bp_rp_intrinsic_mag"].to_numpy()
    a0_true = extinction.A0_PER_EBV * truth["ebv_mag"].to_numpy()
    sigma = 0.08 * 10 ** (0.07 * (g - 12.0))
    a0 = np.clip(a0_true + 0.03 + sigma * rng.normal(size=n), 0.0, None)
    lo, hi = np.clip(a0 - sigma, 0.0, None), a0 + sigma
    missing = (g > GSPPHOT_G_LIMIT) | (rng.random(n) < 0.08 + 0.20 * np.clip((g - 12.0) / 4.0, 0.0, 1.0))

    def band(name: str, a0_values: np.ndarray) -> np.ndarray:
        return extinction.band_extinction(name, colour0, a0_values)

    def reddening(a0_values: np.ndarray) -> np.ndarray:
        return band("BP", a0_values) - band("RP", a0_values)

    values = {
        "ag_gspphot": band("G", a0),
        "ag_gspphot_lower": band("G", lo),
        "ag_gspphot_upper": band("G", hi),
        "ebpminrp_gspphot": reddening(a0),
        "ebpminrp_gspphot_lower": reddening(lo),
        "ebpminrp_gspphot_upper": reddening(hi),
    }
    return {name: np.where(missing, np.nan, v) for name, v in values.items()}


def gaia_table(truth: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Gaia DR3-like observables of the truth table.

    Photometry is reddened (A_G, A_BP, A_RP of the truth); GSP-Phot extinctions are noisy
    estimates of them (``gspphot_columns``); parallax errors grow with G.
    Binarity shows where Gaia would see it (SCIENCE.md 3.5–3.7): ``ruwe`` from the photocentre
    wobble and partially resolved pairs (:func:`_ruwe`), RVs for bright stars only
    (:func:`_radial_velocities`), and ``non_single_star`` copied from the truth, where
    ``data.simulate.binarity`` set each bit from the orbit's detectability. Proper motions follow
    the population's kinematics (young: cold; binaries: old disk).
    """
    n = len(truth)
    dist, a_g = truth["distance_pc"].to_numpy(), truth["a_g_mag"].to_numpy()
    g = truth["abs_g_mag"].to_numpy() + 5 * np.log10(dist) - 5 + a_g
    plx_err = np.maximum(0.012, 0.025 * 10 ** (0.2 * (g - 15.0)))
    # The truth's G − RP and BP − RP are reddened by the Gaia EDR3 law (population._place).
    rp = g - truth["g_rp_mag"].to_numpy() + rng.normal(0, 0.003, n)
    bp = rp + truth["bp_rp_mag"].to_numpy() + rng.normal(0, 0.003, n)
    ruwe = _ruwe(truth, g, rng)
    rvs = _radial_velocities(truth, g, rng)
    # Kinematics: tangential velocity dispersion 15 km/s (young), 40 km/s (old-disk binaries), 28 else.
    pop = truth["population"].astype(str).to_numpy()
    sigma_v = np.select([pop == schema.YOUNG, pop == schema.SYNC_BINARY], [15.0, 40.0], 28.0)
    kpc = dist / 1000.0
    pmra = (-10.0 + sigma_v * rng.normal(size=n)) / (4.74 * kpc)
    pmdec = (-15.0 + sigma_v * rng.normal(size=n)) / (4.74 * kpc)
    return pd.DataFrame(
        {
            "source_id": truth["gaia_source_id"].astype(np.int64),
            "ra": truth["ra_deg"],
            "dec": truth["dec_deg"],
            "parallax": 1000.0 / dist + rng.normal(0, 1, n) * plx_err,
            "parallax_error": plx_err,
            "pmra": pmra,
            "pmdec": pmdec,
            "phot_g_mean_mag": g + rng.normal(0, 0.001, n),
            "phot_bp_mean_mag": bp,
            "phot_rp_mean_mag": rp,
            "bp_rp": bp - rp,
            **gspphot_columns(truth, g, rng),
            "ruwe": ruwe,
            **rvs,
            "non_single_star": truth["non_single_star"].to_numpy(np.int16),
            "kic_id": truth["kic_id"].astype(np.int64),
            "lamost_obsid": truth["lamost_obsid"].astype(np.int64),
        }
    )


def simulate_survey(
    config: SurveyConfig,
    out_dir: Path,
    *,
    rng: np.random.Generator | None = None,
    progress: bool = True,
    scheduler: str | None = None,
) -> SimulationSummary:
    """Simulate ``config.n_stars`` stars and write their files under ``out_dir``.

    Parameters
    ----------
    config
        Survey size, population mix and set-up; ``config.seed`` seeds ``rng`` when none is given.
    out_dir
        Raw folder (``<survey>/raw``); created. Existing star files are kept (resume).
    rng
        Source of all randomness. Same generator state -> identical files and truth.
    progress
        Show a tqdm bar.
    scheduler
        Address of a running Dask scheduler to simulate on (default: ``DESA_DASK_SCHEDULER``, else a
        local cluster of ``config.workers`` processes; ``data.engine``); its workers must see ``out_dir``.
    """
    start = time.perf_counter()
    out_dir = Path(out_dir)
    rng = np.random.default_rng(config.seed) if rng is None else rng
    truth = draw_population(config, rng)
    gaia = gaia_table(truth, np.random.default_rng(rng.integers(2**63)))
    seeds = np.random.SeedSequence(int(rng.integers(2**63))).spawn(len(truth))
    names = _file_names(truth, config)
    truth = pd.concat([truth, names], axis=1)
    for sub in ("kepler", "lamost"):
        (out_dir / sub).mkdir(parents=True, exist_ok=True)
    clean_temp_files(out_dir)  # of a killed run; its finished files are kept (resume)
    written = _run_chunks(truth, seeds, out_dir, config, progress, scheduler)
    atomic_write(out_dir / GAIA_FILENAME, lambda tmp: write_gaia_table(tmp, gaia, table_format="ecsv"))
    atomic_write(out_dir / TRUTH_FILENAME, lambda tmp: truth.to_parquet(tmp, index=False))
    counts = truth["population"].value_counts().to_dict()
    seconds = time.perf_counter() - start
    log.info(
        "simulated %d stars (%d written, %d kept) in %.1f s",
        len(truth),
        written,
        len(truth) - written,
        seconds,
    )
    return SimulationSummary(
        out_dir,
        len(truth),
        written,
        len(truth) - written,
        {str(k): int(v) for k, v in counts.items()},
        seconds,
    )
