"""The frozen-embedding probes: every method's vectors get the same probes on the same test stars.

For one embedding x (N, E) and the evaluation's frame (catalogue joined with ``true_``-prefixed
truth), each figure is a mean ± std over seeds s = 0 … S-1; what a seed changes is named per probe:

* few-shot R² for the dereddened CMD and for the HR diagram: a linear regression on the
  standardised embedding, fitted on a random 10 % of the training stars (seed: which 10 %), scored
  on the test stars (R² averaged over the two coordinates);
* binary AUC and AP on ``is_detectable_binary`` and on ``is_binary``: a logistic regression
  (``training.binary_metrics.binary_probe``) fitted on a bootstrap resample of the training split
  (seed: which resample);
* age RMSE (Gyr) and the median relative Prot error: a linear regression on log10 of the label
  (``data.schema.Property.sources``; Prot only where the light curve shows ≥ 2 cycles), fitted
  on a bootstrap resample of the training split, scored in linear units;
* synchronized binaries against young stars: the kNN purity (k = 10) among the test stars of the
  two populations in the standardised embedding (seed: a random 80 % of them, our choice), and in
  a 2-D UMAP of the method's embedding fitted on all test stars (``desa_core.projection``, the
  dashboard's recipe; seed: UMAP's random_state).

ORACLE ceilings (:func:`oracle_scores`) use the true quantities one light curve and one spectrum
carry, seen through their noise (``data.simulate.binarity.observable_features``), as the binary
ORACLE of ``training.binary_metrics`` does: gradient boosting on the same few-shot rows for R², on
the whole training split for log10 age (the ceiling of the fine-tuned heads' age too), and the kNN
purity in the standardised space of those quantities for the sync/young pair. They say what the
data hold, not what a linear probe on any embedding must reach: boosting is not linear, and a plain
distance weighs every quantity alike where a learned metric need not.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import LinearRegression
from sklearn.metrics import r2_score
from sklearn.neighbors import NearestNeighbors
from sklearn.preprocessing import StandardScaler

from data import schema
from data.schema import TRUTH_PREFIX, truth_columns
from training.binary_metrics import auc_ap, binary_probe
from training.tensors import binary_label_name, label_values, measurable

log = logging.getLogger(__name__)

#: Probe targets per task: candidate (x, y) column pairs with their convention, first present wins.
PROBES = {
    "cmd": (
        ("dereddened (intrinsic, truth)", ("true_bp_rp_intrinsic_mag", "true_abs_g_intrinsic_mag")),
        ("dereddened (Gaia GSP-Phot)", ("bp_rp0_mag", "abs_g0_mag")),
        ("observed", ("bp_rp_mag", "abs_g_mag")),
    ),
    "hr": (
        ("catalogue", schema.HR_PROPERTIES),
        ("truth", tuple(TRUTH_PREFIX + name for name in schema.HR_PROPERTIES)),
    ),
}
#: The true population column of the evaluation's frame.
POPULATION = TRUTH_PREFIX + schema.POPULATION
#: Neighbours of the kNN purity (our choice, as in the dashboard's similar-star search).
KNN = 10
#: Fraction of the sync/young test stars drawn per seed for the embedding's kNN purity (our choice).
PAIR_SUBSAMPLE = 0.8


def summary(values: list[float | None]) -> dict | None:
    """Mean, std and per-seed values, or None when any seed could not be scored."""
    if not values or any(v is None for v in values):
        return None
    return {
        "mean": float(np.mean(values)),
        "std": float(np.std(values)),
        "values": [float(v) for v in values],
    }


def few_shot_rows(train: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """The seed's random ``fraction`` of the training rows (at least 10)."""
    rng = np.random.default_rng(seed)
    return rng.choice(train, size=min(len(train), max(10, int(fraction * len(train)))), replace=False)


def bootstrap_rows(train: np.ndarray, seed: int) -> np.ndarray:
    """The seed's bootstrap resample of the training rows (as many, with replacement)."""
    return np.random.default_rng(seed).choice(train, size=len(train), replace=True)


def few_shot_r2(
    x: np.ndarray,
    y: np.ndarray,
    train: np.ndarray,
    test: np.ndarray,
    *,
    fraction: float,
    seeds: int,
) -> list[float]:
    """Per seed, the test R² of a linear probe fit on the seed's ``fraction`` of the train rows."""
    scores = []
    for seed in range(seeds):
        pick = few_shot_rows(train, fraction, seed)
        scaler = StandardScaler().fit(x[pick])
        probe = LinearRegression().fit(scaler.transform(x[pick]), y[pick])
        scores.append(float(r2_score(y[test], probe.predict(scaler.transform(x[test])))))
    return scores


def knn_purity(x: np.ndarray, labels: np.ndarray, *, k: int = KNN) -> float:
    """Mean fraction of each star's k nearest neighbours that share its label."""
    k = min(k, len(x) - 1)
    _, idx = NearestNeighbors(n_neighbors=k + 1).fit(x).kneighbors(x)
    return float((labels[idx[:, 1:]] == labels[:, None]).mean())


def probe_targets(df: pd.DataFrame, task: str) -> tuple[str, tuple[str, str]]:
    """The convention and (x, y) target columns of a probe task: the first pair ``df`` has values in.

    Raises
    ------
    KeyError
        ``df`` has none of the task's candidate pairs.
    """
    for convention, cols in PROBES[task]:
        if all(c in df.columns and df[c].notna().any() for c in cols):
            return convention, cols
    raise KeyError(f"no {task} probe targets among {[cols for _, cols in PROBES[task]]}")


def task_targets(df: pd.DataFrame, task: str) -> tuple[np.ndarray, np.ndarray, dict]:
    """A task's (N, 2) targets, the rows where both are finite, and their description."""
    convention, cols = probe_targets(df, task)
    y = df[list(cols)].to_numpy(dtype=np.float64)
    return y, np.isfinite(y).all(axis=1), {"targets": list(cols), "convention": convention}


def label_column(df: pd.DataFrame, name: str) -> np.ndarray | None:
    """A head's label for every star (``data.schema.Property.sources``), where measurable."""
    y, _ = label_values(name, {"truth": truth_columns(df), "catalog": df})
    return None if y is None else measurable(name, y, df)


def binary_labels(df: pd.DataFrame) -> dict[str, np.ndarray]:
    """The physically detectable label (when the truth has it) and ``is_binary``, as booleans."""
    names = dict.fromkeys((binary_label_name(df.columns, prefix=TRUTH_PREFIX) or "is_binary", "is_binary"))
    return {name: df[TRUTH_PREFIX + name].astype(bool).to_numpy() for name in names}


def _log_probe(x: np.ndarray, y: np.ndarray, rows: np.ndarray, test: np.ndarray) -> np.ndarray:
    """10 ** (linear probe on log10 y), fitted on ``rows`` with a positive label, for ``test``."""
    rows = rows[np.isfinite(y[rows]) & (y[rows] > 0)]
    scaler = StandardScaler().fit(x[rows])
    probe = LinearRegression().fit(scaler.transform(x[rows]), np.log10(y[rows]))
    return 10.0 ** probe.predict(scaler.transform(x[test]))


def pair_rows(df: pd.DataFrame, test: np.ndarray) -> np.ndarray | None:
    """Test rows of the synchronized-binary and young populations, or None without both."""
    pop = df[POPULATION].astype(str).to_numpy()
    pair = test[np.isin(pop[test], schema.CASE_PAIR)]
    return pair if len(pair) > KNN and len(set(pop[pair])) == 2 else None


def pair_subsample(pair: np.ndarray, seed: int) -> np.ndarray:
    """The seed's random ``PAIR_SUBSAMPLE`` of the sync/young test rows."""
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(pair, size=max(KNN + 1, int(PAIR_SUBSAMPLE * len(pair))), replace=False))


def umap_purity(x: np.ndarray, df: pd.DataFrame, test: np.ndarray, pair: np.ndarray, seed: int) -> float:
    """kNN purity of the sync/young stars in a UMAP of ``x`` fitted on every test star."""
    from desa_core.projection import Projector

    with warnings.catch_warnings():
        # We seed UMAP on purpose, which makes it single-threaded (pyproject.toml ignores it in tests).
        warnings.filterwarnings("ignore", "n_jobs value .* overridden", UserWarning)
        coords = Projector(random_state=seed).fit_transform(x[test])
    inside = np.isin(test, pair)
    pop = df[POPULATION].astype(str).to_numpy()[test]
    return knn_purity(coords[inside], pop[inside])


def frozen_scores(
    x: np.ndarray,
    df: pd.DataFrame,
    train: np.ndarray,
    test: np.ndarray,
    *,
    fraction: float,
    seeds: int,
    umap: bool = True,
) -> dict:
    """Every frozen probe for one embedding ``x`` (N, E), each a :func:`summary` over ``seeds``."""
    x = np.asarray(x, dtype=np.float64)
    out: dict = {"dim": int(x.shape[1])}
    for task in PROBES:
        y, ok, about = task_targets(df, task)
        values = few_shot_r2(x, y, train[ok[train]], test[ok[test]], fraction=fraction, seeds=seeds)
        out[f"few_shot_r2_{task}"] = summary(values) | about
    for name, y in binary_labels(df).items():
        scores = [auc_ap(y[test], binary_probe(x, y, bootstrap_rows(train, s), test)) for s in range(seeds)]
        out[f"{name}_auc"] = summary([a for a, _ in scores])
        out[f"{name}_ap"] = summary([ap for _, ap in scores])
    age = label_column(df, schema.AGE_GYR)
    if age is not None:
        ok = test[np.isfinite(age[test])]
        out["age_rmse_gyr"] = summary(
            [
                float(np.sqrt(np.mean((_log_probe(x, age, bootstrap_rows(train, s), ok) - age[ok]) ** 2)))
                for s in range(seeds)
            ]
        )
    prot = label_column(df, schema.PROT_D)
    if prot is not None and np.isfinite(prot[test]).any():
        ok = test[np.isfinite(prot[test]) & (prot[test] > 0)]
        out["prot_median_rel_error"] = summary(
            [
                float(np.median(np.abs(_log_probe(x, prot, bootstrap_rows(train, s), ok) / prot[ok] - 1)))
                for s in range(seeds)
            ]
        )
    pair = pair_rows(df, test)
    if pair is not None:
        pop = df[POPULATION].astype(str).to_numpy()
        purity = []
        for seed in range(seeds):
            sub = pair_subsample(pair, seed)
            purity.append(knn_purity(StandardScaler().fit_transform(x[sub]), pop[sub]))
        out["sync_vs_young"] = {"n": len(pair), "knn_purity": summary(purity)}
        if umap:
            out["sync_vs_young"]["knn_purity_umap"] = summary(
                [umap_purity(x, df, test, pair, seed) for seed in range(seeds)]
            )
    return out


def embedding_scores(
    x: np.ndarray,
    df: pd.DataFrame,
    train: np.ndarray,
    test: np.ndarray,
    *,
    fraction: float,
    seeds: int,
) -> dict:
    """:func:`frozen_scores` without the UMAP, as the flat means ``training.ablation`` reads."""
    s = frozen_scores(x, df, train, test, fraction=fraction, seeds=seeds, umap=False)
    mean = lambda entry: None if entry is None else entry["mean"]  # noqa: E731
    out = {"dim": s["dim"], "few_shot_r2_cmd": s["few_shot_r2_cmd"], "few_shot_r2_hr": s["few_shot_r2_hr"]}
    out["binary_auc_probe"], out["binary_ap_probe"] = mean(s["is_binary_auc"]), mean(s["is_binary_ap"])
    if "is_detectable_binary_auc" in s:
        out["detectable_auc_probe"] = mean(s["is_detectable_binary_auc"])
        out["detectable_ap_probe"] = mean(s["is_detectable_binary_ap"])
    if "sync_vs_young" in s:
        out["sync_vs_young"] = {
            "n": s["sync_vs_young"]["n"],
            "knn_purity": mean(s["sync_vs_young"]["knn_purity"]),
        }
    return out


def oracle_scores(
    df: pd.DataFrame, train: np.ndarray, test: np.ndarray, *, fraction: float, seeds: int
) -> dict:
    """ORACLE few-shot R² per task and sync/young kNN purity; {} when the truth lacks the columns."""
    from data.simulate.binarity import observable_features

    truth = truth_columns(df)
    try:
        features = [
            observable_features(truth, np.random.default_rng(s)).to_numpy(np.float64) for s in range(seeds)
        ]
    except KeyError as exc:
        log.info("no ORACLE ceilings: the truth table lacks %s", exc)
        return {}
    out: dict = {}
    for task in PROBES:
        y, ok, about = task_targets(df, task)
        tr, te = train[ok[train]], test[ok[test]]
        values = []
        for seed, f in enumerate(features):
            pick = few_shot_rows(tr, fraction, seed)
            models = [
                HistGradientBoostingRegressor(random_state=seed).fit(f[pick], y[pick, j]) for j in range(2)
            ]
            values.append(r2_score(y[te], np.column_stack([m.predict(f[te]) for m in models])))
        out[f"few_shot_r2_{task}"] = summary(values) | about
    age = label_column(df, schema.AGE_GYR)
    if age is not None:
        # The age ceiling for the probes and the fine-tuned heads alike: boosting on the whole
        # training split, log10 age (as the probes fit it), RMSE in Gyr on the test stars.
        tr, te = train[np.isfinite(age[train])], test[np.isfinite(age[test])]
        values = []
        for seed, f in enumerate(features):
            model = HistGradientBoostingRegressor(random_state=seed).fit(f[tr], np.log10(age[tr]))
            values.append(float(np.sqrt(np.mean((10.0 ** model.predict(f[te]) - age[te]) ** 2))))
        out["age_rmse_gyr"] = summary(values)
    pair = pair_rows(df, test)
    if pair is not None:
        pop = df[POPULATION].astype(str).to_numpy()
        purity = []
        for seed, f in enumerate(features):
            sub = pair_subsample(pair, seed)
            z = f[sub]
            z = np.where(np.isfinite(z), z, np.nanmedian(z, axis=0))  # Prot > 45 d is not measurable
            purity.append(knn_purity(StandardScaler().fit_transform(np.nan_to_num(z)), pop[sub]))
        out["sync_vs_young_knn_purity"] = summary(purity)
        # The same quantities through the embeddings' UMAP (fitted on every test star): the
        # ceiling of the UMAP purity column.
        umap_values = []
        for seed, f in enumerate(features):
            z = np.where(np.isfinite(f), f, np.nanmedian(f[test], axis=0))
            umap_values.append(umap_purity(StandardScaler().fit_transform(z), df, test, pair, seed))
        out["sync_vs_young_knn_purity_umap"] = summary(umap_values)
    return out
