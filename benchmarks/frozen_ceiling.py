"""What the frozen encoder outputs allow, with every label: the ceiling of any frozen fusion.

DESA's fusion and every frozen baseline (concatenation, CLIP) see the same thing for each star:
the pooled light-curve and spectrum vectors of one run's frozen encoders. Whatever a label-free
fusion does with them, a supervised model fitted on those same vectors with *every* training and
validation label is a practical ceiling for what its embedding can give a probe. This module fits
such models (logistic, gradient boosting, a two-layer MLP) on the pooled vectors of the training
and validation stars and scores the test split with the metrics of ``training.probes.frozen_scores``:

* detectable-binary and ``is_binary`` AUC / AP (the probes' own logistic model on every training
  label, then boosting and an MLP);
* synchronized-vs-young kNN purity (k = 10, the probes' 80 % subsamples of the sync/young test
  stars, standardised) in a *supervised* one-dimensional embedding: the log-odds of a classifier
  fitted on the training sync and young stars; the purity a random embedding would give (the
  classes' p² + q²) beside it;
* R² of the dereddened CMD and HR coordinates with every label (boosting and MLP), against the
  probes' linear few-shot R² on 10 % of the labels.

If the label-free embeddings already sit at this ceiling on a column, no fusion of these frozen
inputs can be "strictly better" than the best baseline there by more than the gap printed; issue
15's closing notes read its targets against it. Results in docs/evaluation/readout.md.

    python -m benchmarks.frozen_ceiling desa_data/eval20k-27183 desa_data/eval20k-27183/models/demo/model.pt
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import r2_score
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

#: The MLPs' settings: two hidden layers of 256, a little L2, early stopping on 10 % of the fit rows.
MLP = {"hidden_layer_sizes": (256, 256), "alpha": 1e-3, "early_stopping": True, "max_iter": 300}


def _classifiers(seed: int) -> dict:
    return {
        "logistic": make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=1.0)),
        "boosting": HistGradientBoostingClassifier(random_state=seed),
        "mlp": make_pipeline(
            StandardScaler(),
            MLPClassifier(**MLP, random_state=seed),
        ),
    }


def _regressors(seed: int) -> dict:
    return {
        "boosting": HistGradientBoostingRegressor(random_state=seed),
        "mlp": make_pipeline(
            StandardScaler(),
            MLPRegressor(**MLP, random_state=seed),
        ),
    }


def _log_odds(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def run(survey: Path, checkpoint: Path, seeds: int = 3) -> dict:
    """Fit every ceiling model on the run's frozen pooled vectors; the test-split figures as a dict."""
    with warnings.catch_warnings():
        # A small survey stops the MLPs at max_iter before early stopping does: a ceiling, not a fit to tune.
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        return _run(survey, checkpoint, seeds)


def _run(survey: Path, checkpoint: Path, seeds: int) -> dict:
    from benchmarks.readout import encoder_features
    from data.storage import SurveyStore
    from training.ablation import _probe_frame
    from training.binary_metrics import auc_ap
    from training.probes import POPULATION, binary_labels, knn_purity, pair_rows, pair_subsample, task_targets
    from training.tensors import training_splits

    store = SurveyStore(survey)
    df = _probe_frame(store)  # the catalogue with its truth, as the ablation's probes see it
    split = training_splits(df)
    train, val, test = (np.flatnonzero(split == s) for s in ("train", "val", "test"))
    start = time.perf_counter()
    f = encoder_features(store, checkpoint)
    x = np.hstack([f["lc_pool"], f["sp_pool"]]).astype(np.float64)
    print(
        f"encoded {len(x)} stars in {time.perf_counter() - start:.0f} s; inputs {x.shape[1]} wide", flush=True
    )
    fit = np.concatenate([train, val])
    result: dict = {"survey": str(survey), "checkpoint": str(checkpoint), "n_test": len(test), "binary": {}}

    for name, y in binary_labels(df).items():
        result["binary"][name] = {}
        for model_name, model in _classifiers(0).items():
            p = model.fit(x[fit], y[fit]).predict_proba(x[test])[:, 1]
            auc, ap = auc_ap(y[test], p)
            result["binary"][name][model_name] = {"auc": auc, "ap": ap}
            print(f"{name}: {model_name:9s} AUC {auc:.3f}  AP {ap:.3f}", flush=True)

    pop = df[POPULATION].astype(str).to_numpy()
    pair = pair_rows(df, test)
    if pair is not None:
        classes = sorted(set(pop[pair]))
        fit_pair = fit[np.isin(pop[fit], classes)]
        label = pop == classes[0]
        share = float(label[pair].mean())
        purity: dict = {"n_test": len(pair), "n_fit": len(fit_pair), "chance": share**2 + (1 - share) ** 2}
        for model_name, model in _classifiers(0).items():
            score = _log_odds(model.fit(x[fit_pair], label[fit_pair]).predict_proba(x)[:, 1])
            values = []
            for seed in range(seeds):
                sub = pair_subsample(pair, seed)
                values.append(knn_purity(StandardScaler().fit_transform(score[sub, None]), pop[sub]))
            auc, _ = auc_ap(label[pair], score[pair])
            purity[model_name] = {"knn_purity": float(np.mean(values)), "auc": auc}
            print(f"sync/young: {model_name:9s} kNN purity {np.mean(values):.3f}  AUC {auc:.3f}", flush=True)
        print(f"sync/young: chance purity {purity['chance']:.3f} ({len(pair)} test stars)")
        result["sync_vs_young"] = purity

    result["r2"] = {}
    for task in ("cmd", "hr"):
        y, ok, about = task_targets(df, task)
        ok_fit, ok_test = fit[ok[fit]], test[ok[test]]
        result["r2"][task] = {}
        for model_name in ("boosting", "mlp"):
            scores = []
            for j in range(y.shape[1]):
                model = _regressors(0)[model_name].fit(x[ok_fit], y[ok_fit, j])
                scores.append(float(r2_score(y[ok_test, j], model.predict(x[ok_test]))))
            result["r2"][task][model_name] = float(np.mean(scores))
            print(
                f"R² {task} ({', '.join(about['targets'])}): {model_name} {np.mean(scores):.3f}", flush=True
            )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("survey", type=Path, help="survey folder with an evaluated store and truth")
    parser.add_argument("checkpoint", type=Path, help="the run's model.pt (or aligned.pt)")
    parser.add_argument("--seeds", type=int, default=3, help="purity subsamples (as the probes' seeds)")
    parser.add_argument("--out", type=Path, default=None, help="write the figures as JSON here")
    args = parser.parse_args()
    result = run(args.survey, args.checkpoint, seeds=args.seeds)
    if args.out is not None:
        args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
