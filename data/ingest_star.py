"""Read and preprocess one star: its light-curve files and spectrum onto the model grids.

Step 3's unit of work in ``data.ingest``: :func:`process_star` is a pure function of its file
paths, run by the engine's workers; its result is the star's model inputs or the problems that
keep it out.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from data import preprocess, quality, registry
from data.errors import DataError
from data.ingest_plan import Problem, _problem, _read_problem


@dataclass(frozen=True, eq=False)
class _Result:
    """One star's model inputs, or the problems that keep it out."""

    lc: tuple[np.ndarray, np.ndarray] | None = None
    spec: tuple[np.ndarray, np.ndarray] | None = None
    span_d: float = float("nan")
    problems: tuple[Problem, ...] = ()


def _read_lightcurves(
    paths: tuple[Path, ...], products: tuple[str, ...]
) -> tuple[tuple[np.ndarray, np.ndarray] | None, float, Problem | None]:
    """Read the quarters/sectors of one star, normalise each by its median, bin and build channels."""
    times, fluxes, valids = [], [], []
    for path, product in zip(paths, products, strict=True):
        try:
            rec = registry.READERS[product].read(path)
        except DataError as exc:
            return None, float("nan"), _read_problem(path, exc)
        good = rec.valid & np.isfinite(rec.flux)
        median = np.median(rec.flux[good]) if good.any() else np.nan
        times.append(rec.time_bkjd)
        fluxes.append(rec.flux / median)
        valids.append(good)
    time_all, valid_all = np.concatenate(times), np.concatenate(valids)
    order = np.argsort(time_all, kind="stable")  # sectors or quarters in any file order
    time_all, valid_all, flux_all = time_all[order], valid_all[order], np.concatenate(fluxes)[order]
    channels, mask = preprocess.lightcurve_channels(time_all, flux_all, valid_all)
    t_valid = time_all[valid_all & np.isfinite(time_all)]
    span = float(t_valid.max() - t_valid.min()) if t_valid.size else float("nan")
    if reason := preprocess.lightcurve_problem(mask):
        return (
            None,
            span,
            _problem(quality.REASON_TOO_FEW_VALID, paths[0], "LIGHTCURVE", reason, "preprocess"),
        )
    return (channels, mask), span, None


def _read_spectrum(path: Path) -> tuple[tuple[np.ndarray, np.ndarray] | None, Problem | None]:
    try:
        rec = registry.READERS["lamost_spectrum"].read(path)
    except DataError as exc:
        return None, _read_problem(path, exc)
    flux, mask = preprocess.spectrum_to_grid(rec.wavelength_aa, rec.flux, rec.mask, rec.helio_rv_kms)
    if reason := preprocess.spectrum_problem(mask):
        return None, _problem(quality.REASON_TOO_FEW_VALID, path, "FLUX", reason, "preprocess")
    return (flux, mask), None


def _process(task: tuple[tuple[Path, ...], tuple[str, ...], Path | None]) -> _Result:
    lc_paths, lc_products, spec_path = task
    problems: list[Problem] = []
    lc = spec = None
    span = float("nan")
    if lc_paths:
        lc, span, problem = _read_lightcurves(lc_paths, lc_products)
        problems += [problem] if problem else []
    if spec_path is not None:
        spec, problem = _read_spectrum(spec_path)
        problems += [problem] if problem else []
    return _Result(lc, spec, span, tuple(problems))
