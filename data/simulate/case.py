"""The headline case, measured: synchronized binaries against young stars of the same Prot and Teff.

In real data the two populations have nearly identical light curves (fast rotation, percent-level
spots, flares); what tells them apart is in the spectrum (Li 6708 and a composite, RV-offset
spectrum) and, outside the model's inputs, in the luminosity excess on the CMD
(``docs/SCIENCE.md`` section 3.9). This module measures that on a simulated survey the way an
observer would, on the noisy data only:

* :func:`match_pairs` pairs each synchronized binary with a young star of nearly the same Prot and
  Teff (without replacement), so that what remains is the population difference itself;
* :func:`lightcurve_features`: amplitude (5–95 % range), ACF at P and 3P of one light curve;
* :func:`spectrum_features`: Li 6708 EW and the CCF width (:mod:`data.spectral_indices`);
* :func:`separation` gives each feature's AUC (symmetric, so 0.5 is no information) and the
  cross-validated AUC of a logistic regression on each group of features.

Used by ``tests/dataio/test_population_physics.py`` (the acceptance check) and by
``desa simulate --report`` (:mod:`data.simulate.report`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from data.schema import CASE_PAIR
from data.spectral_indices import ccf_fwhm_kms, li6708_ew_ma

#: The synchronized binaries and the young stars they are compared with.
PAIR = CASE_PAIR
LIGHTCURVE_FEATURES = ("amplitude_pct", "acf_p", "acf_3p", "flares_per_d")
SPECTRUM_FEATURES = ("li6708_ew_ma", "ccf_fwhm_kms", "rv_offset_kms")


def match_pairs(
    truth: pd.DataFrame,
    rng: np.random.Generator,
    *,
    max_pairs: int = 300,
    dlog_prot: float = 0.05,
    dteff_k: float = 150.0,
) -> pd.DataFrame:
    """Synchronized binaries and young stars matched one to one in log Prot and Teff.

    Greedy nearest-neighbour matching in (log10 Prot / dlog_prot, Teff / dteff_k) within a unit
    radius, visiting the binaries in random order. Returns the matched rows of ``truth`` with a
    ``pair`` column (the pair index).
    """
    pop = truth["population"].astype(str).to_numpy()
    sync = np.flatnonzero(pop == PAIR[0])
    young = np.flatnonzero(pop == PAIR[1])

    def scaled(rows: np.ndarray) -> np.ndarray:
        return np.column_stack(
            [
                np.log10(truth["prot_d"].to_numpy()[rows]) / dlog_prot,
                truth["teff_k"].to_numpy()[rows] / dteff_k,
            ]
        )

    xs_all, ys = scaled(sync), scaled(young)
    free = np.ones(young.size, dtype=bool)
    pairs: list[tuple[int, int]] = []
    for i in rng.permutation(sync.size):
        d = np.hypot(*(ys - xs_all[i]).T)
        d[~free] = np.inf
        if not d.size or (j := int(np.argmin(d))) < 0 or d[j] > 1.0:
            continue
        free[j] = False
        pairs.append((int(sync[i]), int(young[j])))
        if len(pairs) >= max_pairs:
            break
    rows = [row for pair in pairs for row in pair]
    out = truth.iloc[rows].copy()
    out["pair"] = np.repeat(np.arange(len(pairs)), 2)
    return out


def lightcurve_features(time_d: np.ndarray, flux: np.ndarray, prot_d: float) -> dict[str, float]:
    """Amplitude (%, 5–95 % range) and the ACF at lags P and 3P of one light curve.

    The flux is normalised by its median and placed on a regular grid at the median cadence;
    gaps count as missing, not as zero signal (the ACF's normalisation uses only overlapping
    valid samples).
    """
    t, f = np.asarray(time_d, float), np.asarray(flux, float)
    ok = np.isfinite(t) & np.isfinite(f)
    t, f = t[ok], f[ok]
    f = f / np.median(f) - 1.0
    cadence = float(np.median(np.diff(t)))
    idx = np.round((t - t[0]) / cadence).astype(np.int64)
    grid = np.zeros(idx.max() + 1)
    valid = np.zeros(idx.max() + 1)
    grid[idx] = f - f.mean()
    valid[idx] = 1.0

    def acf(lag_d: float) -> float:
        k = round(lag_d / cadence)
        if k <= 0 or k >= grid.size - 10:
            return float("nan")
        num = np.sum(grid[:-k] * grid[k:])
        den = np.sqrt(np.sum(grid[:-k] ** 2 * valid[k:]) * np.sum(grid[k:] ** 2 * valid[:-k]))
        return float(num / den) if den > 0 else float("nan")

    lo, hi = np.percentile(f, [5, 95])
    return {
        "amplitude_pct": float(hi - lo) * 100.0,
        "acf_p": acf(prot_d),
        "acf_3p": acf(3 * prot_d),
        "flares_per_d": _flare_rate(f, t[-1] - t[0]),
    }


def _flare_rate(flux: np.ndarray, span_d: float) -> float:
    """Flares per day: runs of ≥ 2 consecutive cadences ≥ 3σ above a 13-cadence running median.

    σ is the robust (MAD) scatter of the residuals; the criteria follow Chang et al. (2015,
    ApJ 814, 35), simplified to one threshold.
    """
    from scipy.ndimage import median_filter

    resid = flux - median_filter(flux, size=13, mode="nearest")
    sigma = 1.4826 * np.median(np.abs(resid - np.median(resid)))
    high = resid > 3.0 * max(sigma, 1e-9)
    starts = np.flatnonzero(high[1:] & high[:-1] & ~np.concatenate([[False], high[:-2]]))
    return float(starts.size / max(span_d, 1e-9))


def spectrum_features(
    wavelength_aa: np.ndarray,
    flux: np.ndarray,
    ivar: np.ndarray,
    rv_kms: float,
    gaia_rv_kms: float = float("nan"),
) -> dict[str, float]:
    """Li 6708 EW (mÅ) with its error, the CCF FWHM (km/s) and the RV offset from Gaia (km/s).

    ``rv_offset_kms`` = |RV of this spectrum − Gaia DR3 radial_velocity|: a single-epoch RV that
    disagrees with Gaia's 34-month mean betrays orbital motion. NaN where Gaia has no RV
    (G_RVS > 14, about half of a Kepler-like sample).
    """
    ew, err = li6708_ew_ma(wavelength_aa, flux, ivar, rv_kms)
    return {
        "li6708_ew_ma": ew,
        "li6708_ew_err_ma": err,
        "ccf_fwhm_kms": ccf_fwhm_kms(wavelength_aa, flux, ivar, rv_kms),
        "rv_offset_kms": abs(float(rv_kms) - float(gaia_rv_kms)),
    }


def auc(score: np.ndarray, positive: np.ndarray) -> float:
    """Symmetric ROC AUC, max(AUC, 1 − AUC): how well one number separates two classes."""
    from sklearn.metrics import roc_auc_score

    ok = np.isfinite(score)
    value = float(roc_auc_score(positive[ok], score[ok]))
    return max(value, 1.0 - value)


def combined_auc(features: pd.DataFrame, positive: np.ndarray, seed: int = 0) -> float:
    """Cross-validated (5-fold) AUC of a standardised logistic regression on the features."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x = features.to_numpy(dtype=float)
    x = np.where(np.isfinite(x), x, np.nanmedian(x, axis=0))
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    folds = StratifiedKFold(5, shuffle=True, random_state=seed)
    prob = cross_val_predict(model, x, positive, cv=folds, method="predict_proba")[:, 1]
    return auc(prob, positive)


def separation(features: pd.DataFrame, positive: np.ndarray) -> dict[str, float]:
    """Each feature's AUC, and the combined AUC of the light-curve and spectrum groups."""
    out = {name: auc(features[name].to_numpy(dtype=float), positive) for name in features.columns}
    for group, names in (("lightcurve", LIGHTCURVE_FEATURES), ("spectrum", SPECTRUM_FEATURES)):
        present = [name for name in names if name in features]
        if present:
            out[f"{group}_combined"] = combined_auc(features[present], positive)
    return out
