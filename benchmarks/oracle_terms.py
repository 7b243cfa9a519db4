"""Which observables carry the detectable-binary ORACLE, and how clean its ellipsoidal column is.

The evaluation's ORACLE (``training.binary_metrics.oracle_scores``) is gradient boosting on the
true quantities one light curve and one spectrum carry, with their measurement noise
(``data.simulate.binarity.observable_features``). This diagnostic fits the same model on subsets
of those columns, so that a gap between an embedding and the ORACLE can be read as "which physics
the embedding lacks". It also replaces the ORACLE's ellipsoidal amplitude (true amplitude plus
white photometric noise) by the amplitude an observer measures on the stored light curve: a
least-squares fit of a constant and the first two harmonics of the *true* period (P_orb for close
binaries, P_rot otherwise) to the relative-flux channel, the amplitude at P / 2. A synchronized
binary's spots rotate at P_orb and put their own harmonic there, which white noise does not model.

Simulated surveys only (the truth table must hold the orbit columns). Training and validation
stars fit, the test split scores. Results in docs/evaluation/readout.md.

    python -m benchmarks.oracle_terms desa_data/eval20k-86243
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

#: Column subsets, each scored alone; names as in ``observable_features``.
STELLAR = ["teff_k", "logg", "feh"]
ROTATION = ["prot_d", *STELLAR]
SUBSETS: dict[str, list[str]] = {
    "Teff, log g, [Fe/H]": STELLAR,
    "P_rot": ["prot_d"],
    "P_rot, Teff, log g, [Fe/H]": ROTATION,
    "+ Li": [*ROTATION, "li_ew_ma"],
    "+ Li, eclipse depth": [*ROTATION, "li_ew_ma", "eclipse_depth"],
    "+ Li, ΔRV": [*ROTATION, "li_ew_ma", "delta_rv_kms"],
    "+ Li, composite light": [*ROTATION, "li_ew_ma", "composite"],
    "+ Li, eclipse, ΔRV": [*ROTATION, "li_ew_ma", "eclipse_depth", "delta_rv_kms"],
    "ellipsoidal amplitude alone": ["ellipsoidal"],
}


def harmonic_amplitude(flux_pct: np.ndarray, mask: np.ndarray, period_d: np.ndarray) -> np.ndarray:
    """Amplitude (fraction) at period / 2 of each binned light curve, fitted with the fundamental.

    ``flux_pct`` (N, T) relative flux in percent on the model grid, ``mask`` (N, T), ``period_d``
    (N,). NaN where the period is unknown or fewer than 20 bins hold data.
    """
    from data.schema import LC_LENGTH, LC_SPAN_D

    t = (np.arange(LC_LENGTH) + 0.5) * LC_SPAN_D / LC_LENGTH
    out = np.full(len(flux_pct), np.nan)
    for i, (flux, ok, period) in enumerate(zip(flux_pct, mask, period_d, strict=True)):
        if ok.sum() < 20 or not np.isfinite(period) or period <= 0:
            continue
        w = 2 * np.pi * t[ok] / period
        design = np.stack([np.ones_like(w), np.cos(w), np.sin(w), np.cos(2 * w), np.sin(2 * w)], axis=1)
        coef, *_ = np.linalg.lstsq(design, flux[ok].astype(np.float64), rcond=None)
        out[i] = np.hypot(coef[3], coef[4]) / 100.0
    return out


def _score(features: pd.DataFrame, y: np.ndarray, fit: np.ndarray, test: np.ndarray, seed: int) -> dict:
    from sklearn.ensemble import HistGradientBoostingClassifier

    from training.binary_metrics import auc_ap

    x = features.to_numpy(np.float64)
    model = HistGradientBoostingClassifier(random_state=seed).fit(x[fit], y[fit])
    auc, ap = auc_ap(y[test], model.predict_proba(x[test])[:, 1])
    return {"auc": auc, "ap": ap}


def run(survey: Path, *, seed: int = 0) -> dict:
    """Score every subset, the ORACLE, and the ORACLE with the measured ellipsoidal amplitude."""
    from data import schema
    from data.simulate.binarity import ellipsoidal_amplitude, observable_features
    from data.storage import SurveyStore

    store = SurveyStore(survey)
    truth = store.read_truth()
    split = store.read_catalog(["split"])["split"].to_numpy()
    if not (truth["row"].to_numpy() == np.arange(len(truth))).all() or len(truth) != len(split):
        raise ValueError(f"{store.root}: the truth table's rows do not follow the catalogue's")
    y = truth["is_detectable_binary"].to_numpy(bool)
    fit, test = split != "test", split == "test"
    features = observable_features(truth, np.random.default_rng(seed))  # the ORACLE's own draws

    close = truth["is_close_binary"].to_numpy(bool)
    porb, prot = truth["porb_d"].to_numpy(float), truth["prot_d"].to_numpy(float)
    lc = np.asarray(store.read_array(schema.LC.name)[:, 0])
    mask = np.asarray(store.read_array(schema.LC_MASK.name))
    measured = harmonic_amplitude(lc, mask, np.where(close & np.isfinite(porb), porb, prot))
    true_ell = ellipsoidal_amplitude(truth)
    ratio = measured[close & y] / np.maximum(true_ell[close & y], 1e-12)

    rows = {name: _score(features[cols], y, fit, test, seed) for name, cols in SUBSETS.items()}
    rows["everything but the ellipsoidal amplitude"] = _score(
        features.drop(columns=["ellipsoidal"]), y, fit, test, seed
    )
    rows["the ORACLE (clean ellipsoidal amplitude)"] = _score(features, y, fit, test, seed)
    rows["the ORACLE, ellipsoidal amplitude measured on the light curve"] = _score(
        features.assign(ellipsoidal=measured), y, fit, test, seed
    )
    return {
        "survey": str(survey),
        "n_test": int(test.sum()),
        "positives_test": int(y[test].sum()),
        "measured_over_true_ellipsoidal_p10_p50_p90": [
            float(v) for v in np.nanpercentile(ratio, [10, 50, 90])
        ],
        "scores": rows,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("survey", type=Path, help="a simulated survey folder (desa_data/<name>)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    result = run(args.survey, seed=args.seed)
    print(f"test split: {result['n_test']} stars, {result['positives_test']} detectable binaries")
    print("| observables | AUC | AP |\n|---|---|---|")
    for name, s in result["scores"].items():
        print(f"| {name} | {s['auc']:.3f} | {s['ap']:.3f} |")
    p10, p50, p90 = result["measured_over_true_ellipsoidal_p10_p50_p90"]
    print(f"measured / true ellipsoidal amplitude, close binaries: {p50:.2f} (10-90 %: {p10:.2f}-{p90:.2f})")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
