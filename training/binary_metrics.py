"""Binary detection scored on what the inputs can show, next to an ORACLE ceiling.

``is_binary`` counts every companion, including wide ones with a flux ratio below 0.1 and periods
of decades that leave no trace in one light curve and one LAMOST LRS spectrum. So binary detection
is reported on the physically detectable label (``is_detectable_binary``: P_orb < 10 d, eclipsing,
or a Gaia-like spectroscopic orbit; ``data.simulate.binarity``), and ``is_binary`` is broken down
by G-band flux ratio and orbital period. Each figure comes with an ORACLE: gradient boosting on
the true quantities one light curve and one spectrum carry, seen through their noise
(:func:`data.simulate.binarity.observable_features`), fitted on the training split and scored on
the same test stars. It is the ceiling for that label and bin, not a competitor.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.preprocessing import StandardScaler

from data.schema import TRUTH_PREFIX, truth_columns
from data.simulate.binarity import observable_features
from training.tensors import binary_label_name

log = logging.getLogger(__name__)

#: Bins of is_binary: G-band flux ratio F₂/F₁ and orbital period (d); upper edges exclusive.
FLUX_RATIO_BINS = ((0.0, 0.1), (0.1, 0.3), (0.3, 0.6), (0.6, np.inf))
PERIOD_BINS_D = ((0.0, 10.0), (10.0, 1000.0), (1000.0, np.inf))


def binary_probe(x: np.ndarray, is_binary: np.ndarray, train: np.ndarray, test: np.ndarray) -> np.ndarray:
    """P(binary) on ``test`` from a logistic probe fitted on every labelled training star."""
    scaler = StandardScaler().fit(x[train])
    probe = LogisticRegression(max_iter=2000, C=1.0).fit(scaler.transform(x[train]), is_binary[train])
    return probe.predict_proba(scaler.transform(x[test]))[:, 1]


def auc_ap(labels: np.ndarray, scores: np.ndarray) -> tuple[float | None, float | None]:
    """ROC AUC and average precision, or (None, None) when only one class is present."""
    labels = np.asarray(labels, bool)
    if not (labels.any() and (~labels).any()):
        return None, None
    return float(roc_auc_score(labels, scores)), float(average_precision_score(labels, scores))


def oracle_scores(df: pd.DataFrame, label: np.ndarray, train: np.ndarray, test: np.ndarray, *, seed: int = 0):
    """ORACLE P(label) on ``test``, or None when the truth lacks the physical columns (real data).

    ``df`` holds the truth with the ``true_`` prefix (the evaluation's merged frame).
    """
    truth = truth_columns(df)
    try:
        features = observable_features(truth, np.random.default_rng(seed)).to_numpy(np.float64)
    except KeyError as exc:
        log.info("no ORACLE ceiling: the truth table lacks %s", exc)
        return None
    if len(set(label[train])) < 2:
        return None
    model = HistGradientBoostingClassifier(random_state=seed).fit(features[train], label[train])
    return model.predict_proba(features[test])[:, 1]


def _bin_name(lo: float, hi: float, unit: str = "") -> str:
    if lo == 0:
        return f"< {hi:g}{unit}"
    if not np.isfinite(hi):
        return f"> {lo:g}{unit}"
    return f"{lo:g}–{hi:g}{unit}"


def binned_auc(
    is_binary: np.ndarray,
    values: np.ndarray,
    bins: tuple,
    scores: dict[str, np.ndarray | None],
    unit: str = "",
) -> list[dict]:
    """AUC of the binaries in each bin of ``values`` against all stars without a companion, per score set."""
    rows = []
    for lo, hi in bins:
        in_bin = is_binary & (values >= lo) & (values < hi)
        keep = in_bin | ~is_binary
        row: dict = {"bin": _bin_name(lo, hi, unit), "n_binaries": int(in_bin.sum())}
        for name, s in scores.items():
            row[name] = None if s is None else auc_ap(in_bin[keep], s[keep])[0]
        rows.append(row)
    return rows


def binary_detection(
    x: np.ndarray | None,
    df: pd.DataFrame,
    train: np.ndarray,
    test: np.ndarray,
    *,
    head: np.ndarray | None = None,
    probe_on: str = "the embedding",
    seed: int = 0,
) -> dict:
    """Detection of the detectable label and of is_binary (overall and by bins) on ``test``.

    ``x`` is the embedding (N, D) of every star that the probe reads (``probe_on`` names it; None:
    no probe), ``head`` the fine-tuned head's P(binary) of the test stars. Each label gets the
    probe, the head and the ORACLE, each AUC and AP.
    """
    label_name = binary_label_name(df.columns, prefix=TRUTH_PREFIX) or "is_binary"
    out: dict = {"label": label_name, "n_test": len(test), "probe_on": probe_on if x is not None else None}
    is_bin = df[f"{TRUTH_PREFIX}is_binary"].astype(bool).to_numpy()
    labels = {label_name: df[f"{TRUTH_PREFIX}{label_name}"].astype(bool).to_numpy(), "is_binary": is_bin}
    probe_test = {}
    oracle_test = {}
    for name, y in labels.items():
        probe_test[name] = None if x is None else binary_probe(x, y, train, test)
        oracle_test[name] = oracle_scores(df, y, train, test, seed=seed)
        entry = {"n_positive": int(y[test].sum())}
        for method, s in (("probe", probe_test[name]), ("head", head), ("oracle", oracle_test[name])):
            entry[f"{method}_auc"], entry[f"{method}_ap"] = (None, None) if s is None else auc_ap(y[test], s)
        out[name] = entry
    scores = {"probe": probe_test["is_binary"], "head": head, "oracle": oracle_test["is_binary"]}
    t = df.iloc[test]
    if f"{TRUTH_PREFIX}flux_ratio_g" in t:
        values = t[f"{TRUTH_PREFIX}flux_ratio_g"].to_numpy(np.float64)
        out["is_binary_by_flux_ratio"] = binned_auc(is_bin[test], values, FLUX_RATIO_BINS, scores)
    if f"{TRUTH_PREFIX}porb_d" in t:
        values = np.nan_to_num(t[f"{TRUTH_PREFIX}porb_d"].to_numpy(np.float64), nan=np.inf)
        out["is_binary_by_period"] = binned_auc(is_bin[test], values, PERIOD_BINS_D, scores, " d")
    return out


def _fmt(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.3f}"


def render_binary_markdown(b: dict) -> list[str]:
    """The binary-detection section of report.md (a list of lines)."""
    label = b["label"]
    what = "this truth has no detectable label"
    if label == "is_detectable_binary":
        what = "P_orb < 10 d, eclipsing, or a Gaia-like spectroscopic orbit; `data/simulate/binarity.py`"
    probe = (
        f"logistic regression on {b['probe_on']}, fitted on all training labels"
        if b.get("probe_on")
        else "none"
    )
    lines = [
        "",
        "## Binary detection (test split)",
        "",
        f"Scored on `{label}` ({what}); `is_binary` counts every companion, many of them invisible in "
        f"one light curve and one spectrum. Probe: {probe}. Head: the fine-tuned `binary_prob` (trained "
        f"on `{label}`). **ORACLE**: gradient boosting on the true quantities one light curve and one "
        "spectrum carry, with their noise, on the same test stars: the ceiling for each figure.",
        "",
        "| label | positives | probe AUC | head AUC | ORACLE AUC | probe AP | head AP | ORACLE AP |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name in dict.fromkeys((b["label"], "is_binary")):
        e = b[name]
        lines.append(
            f"| `{name}` | {e['n_positive']} / {b['n_test']} | {_fmt(e['probe_auc'])} | "
            f"{_fmt(e['head_auc'])} | **{_fmt(e['oracle_auc'])}** | {_fmt(e['probe_ap'])} | "
            f"{_fmt(e['head_ap'])} | **{_fmt(e['oracle_ap'])}** |"
        )
    for key, title in (
        ("is_binary_by_flux_ratio", "G-band flux ratio"),
        ("is_binary_by_period", "orbital period"),
    ):
        if key not in b:
            continue
        lines += [
            "",
            f"`is_binary` AUC by {title}: the binaries of each bin against all stars without a companion.",
            "",
            f"| {title} | binaries | probe AUC | head AUC | ORACLE AUC |",
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| {r['bin']} | {r['n_binaries']} | {_fmt(r['probe'])} | {_fmt(r['head'])} | "
            f"**{_fmt(r['oracle'])}** |"
            for r in b[key]
        ]
    return lines
