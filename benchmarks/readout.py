"""Where do the encoders lose information? Read-out probes on one run's frozen encoder outputs.

For every star of an evaluated survey (truth needed), the run's frozen light-curve and spectrum
encoders give pooled vectors (what the fusion sees) and token summaries (tokens averaged in 8 or
16 groups along time / wavelength). Probes, fitted on the training + validation split and scored
on the test split:

* ridge regression (RidgeCV) from each feature set to the dereddened CMD coordinates, Teff, log L
  and the true observable quantities of the ORACLE (Li 6708 EW, ΔRV, Hα filling, spot amplitude,
  eclipse depth, composite light, ellipsoidal amplitude; signed log1p for the heavy-tailed ones);
* logistic regression and gradient boosting for ``is_detectable_binary`` (AUC);
* gradient boosting from both pooled vectors to the CMD and HR coordinates (non-linear).

A quantity that tokens hold and pooled vectors do not is lost in pooling; one that neither holds
is lost in the encoder. Issue 15's "cheap read-out check"; results in docs/evaluation/readout.md.

    python -m benchmarks.readout desa_data/eval20k-7919 desa_data/eval20k-7919/models/demo/model.pt
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.linear_model import LogisticRegression, RidgeCV
from sklearn.metrics import r2_score, roc_auc_score
from sklearn.preprocessing import StandardScaler

HEAVY_TAILED = ("li_ew_ma", "eclipse_depth", "delta_rv_kms")
TRUTH = ("li_ew_ma", "delta_rv_kms", "halpha_fill", "spot_amp_pct", "eclipse_depth", "logg", "feh", "age_gyr")


def _groups(tokens: torch.Tensor, g: int) -> np.ndarray:
    b, n, d = tokens.shape
    return tokens.reshape(b, g, n // g, d).mean(2).reshape(b, -1).numpy()


@torch.no_grad()
def encoder_features(store, checkpoint: Path, batch: int = 256) -> dict[str, np.ndarray]:
    from desa_core.checkpoint import load_checkpoint
    from training.tensors import INPUT_ARRAYS

    model, _ = load_checkpoint(checkpoint, grids=store.read_manifest().get("grids"))
    model.eval()
    arrays = [store.read_array(n) for n in INPUT_ARRAYS]
    out: dict[str, list] = {"lc_pool": [], "sp_pool": [], "lc_tok": [], "sp_tok": []}
    for s in range(0, len(arrays[0]), batch):
        lc, lm, sp, sm = (torch.from_numpy(np.array(a[s : s + batch])) for a in arrays)
        ol = model.lightcurve_encoder(lc.float(), lm.bool())
        os_ = model.spectrum_encoder(sp.float(), sm.bool())
        out["lc_pool"].append(ol.pooled.numpy())
        out["sp_pool"].append(os_.pooled.numpy())
        out["lc_tok"].append(_groups(ol.tokens, 8))
        out["sp_tok"].append(_groups(os_.tokens, 16))
    return {k: np.concatenate(v) for k, v in out.items()}


def _ridge(x: np.ndarray, y: np.ndarray, fit: np.ndarray, test: np.ndarray) -> float:
    fit, test = fit[np.isfinite(y[fit])], test[np.isfinite(y[test])]
    scaler = StandardScaler().fit(x[fit])
    model = RidgeCV(alphas=np.logspace(-2, 4, 13)).fit(scaler.transform(x[fit]), y[fit])
    return float(r2_score(y[test], model.predict(scaler.transform(x[test]))))


def run(survey: Path, checkpoint: Path, tokens: bool = True) -> dict:
    from data.schema import truth_columns
    from data.simulate.binarity import observable_features
    from data.storage import SurveyStore
    from training.evaluate import evaluation_frame
    from training.probes import task_targets

    store = SurveyStore(survey)
    df, train, val, test = evaluation_frame(store)
    start = time.perf_counter()
    f = encoder_features(store, checkpoint)
    print(f"encoded {len(f['lc_pool'])} stars in {time.perf_counter() - start:.0f} s")
    fit = np.concatenate([train, val])
    truth = truth_columns(df)
    targets: dict[str, np.ndarray] = {}
    for task in ("cmd", "hr"):
        y, _, about = task_targets(df, task)
        targets |= {c: y[:, j] for j, c in enumerate(about["targets"])}
    for c in TRUTH:
        y = truth[c].to_numpy(float)
        targets[c] = np.sign(y) * np.log1p(np.abs(y)) if c in HEAVY_TAILED else y
    seen = observable_features(truth, np.random.default_rng(0))
    targets |= {c: seen[c].to_numpy(float) for c in ("composite", "ellipsoidal")}
    both = np.hstack([f["lc_pool"], f["sp_pool"]])
    sets = {"lc_pool": f["lc_pool"], "sp_pool": f["sp_pool"], "pool_both": both}
    if tokens:
        sets["tokens_both"] = np.hstack([f["lc_tok"], f["sp_tok"]])
    result: dict = {"ridge_r2": {}, "detectable_auc": {}, "boosting_r2": {}}
    print("ridge R² (test split):".ljust(26) + "".join(k.rjust(12) for k in sets))
    for name, y in targets.items():
        result["ridge_r2"][name] = {k: _ridge(x, y, fit, test) for k, x in sets.items()}
        print(name.ljust(26) + "".join(f"{v:12.3f}" for v in result["ridge_r2"][name].values()), flush=True)
    label = truth["is_detectable_binary"].to_numpy().astype(bool)
    for k, x in sets.items():
        scaler = StandardScaler().fit(x[fit])
        lr = LogisticRegression(max_iter=2000, C=0.5).fit(scaler.transform(x[fit]), label[fit])
        auc = {"logistic": float(roc_auc_score(label[test], lr.decision_function(scaler.transform(x[test]))))}
        if x.shape[1] <= 128:
            hgb = HistGradientBoostingClassifier(random_state=0).fit(x[fit], label[fit])
            auc["boosting"] = float(roc_auc_score(label[test], hgb.predict_proba(x[test])[:, 1]))
        result["detectable_auc"][k] = auc
        print(f"detectable binary AUC, {k}: {auc}")
    x = sets["pool_both"]
    for name in list(targets)[:4]:
        y = targets[name]
        ok_fit, ok_test = fit[np.isfinite(y[fit])], test[np.isfinite(y[test])]
        model = HistGradientBoostingRegressor(random_state=0).fit(x[ok_fit], y[ok_fit])
        result["boosting_r2"][name] = float(r2_score(y[ok_test], model.predict(x[ok_test])))
        print(f"boosting R² from both pooled vectors, {name}: {result['boosting_r2'][name]:.3f}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("survey", type=Path, help="survey folder with an evaluated store and truth")
    parser.add_argument("checkpoint", type=Path, help="the run's model.pt (or aligned.pt)")
    parser.add_argument("--no-tokens", action="store_true", help="pooled vectors only (faster)")
    args = parser.parse_args()
    run(args.survey, args.checkpoint, tokens=not args.no_tokens)


if __name__ == "__main__":
    main()
