"""Evaluation figures (PNG): layout, predictions, coverage, ROC/PR.

Uses matplotlib's object API (``Figure``, Agg canvas), never pyplot, so it is safe in servers and
threads and needs no display.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.metrics import precision_recall_curve, roc_curve

from data import schema
from data.schema import POPULATION_COLOURS, TRUTH_PREFIX, truth_columns
from data.storage import atomic_write
from training.tensors import binary_label_name

#: Axis labels of the predicted properties (``data.schema.Property.label``).
LABELS = {p.name: p.label for p in schema.PROPERTIES}


def _figure(rows: int = 1, cols: int = 1, *, size: tuple[float, float], **kwargs):
    fig = Figure(figsize=size)
    return fig, fig.subplots(rows, cols, **kwargs)


def _save(fig: Figure, path: Path) -> str:
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight"))
    return path.name


def umap_by_population(df: pd.DataFrame, path: Path) -> str:
    """The UMAP layout coloured by true population; returns the file name."""
    fig, ax = _figure(size=(6.5, 5.5))
    pop = df[TRUTH_PREFIX + schema.POPULATION].astype(str)
    for name, colour in POPULATION_COLOURS.items():
        sel = pop == name
        if sel.any():
            label = f"{name} ({sel.sum()})"
            ax.scatter(df.loc[sel, "umap_x"], df.loc[sel, "umap_y"], s=3, c=colour, label=label)
    ax.set(xlabel="UMAP 1", ylabel="UMAP 2", title="DESA fine-tuned embedding (UMAP), by true population")
    ax.legend(markerscale=4, fontsize=8, loc="best")
    return _save(fig, path)


def predicted_vs_true(t: pd.DataFrame, path: Path) -> str:
    """Each property's predicted median and 68 % interval against its label; returns the file name."""
    from training.tensors import label_values

    truth_cols = truth_columns(t)
    targets = {s: label_values(s, {"truth": truth_cols, "catalog": t})[0] for s in LABELS}
    stems = [s for s in LABELS if f"pred_{s}" in t and targets[s] is not None]
    cols = 4
    rows = int(np.ceil(len(stems) / cols))
    fig, axes = _figure(rows, cols, size=(4 * cols, 3.6 * rows), squeeze=False)
    for ax, stem in zip(axes.flat, stems, strict=False):
        y = targets[stem]
        p = t[f"pred_{stem}"].to_numpy(dtype=float)
        lo, hi = t[f"pred_{stem}_lo"].to_numpy(dtype=float), t[f"pred_{stem}_hi"].to_numpy(dtype=float)
        ok = np.isfinite(y) & np.isfinite(p)
        ax.errorbar(
            y[ok],
            p[ok],
            yerr=[np.clip(p[ok] - lo[ok], 0, None), np.clip(hi[ok] - p[ok], 0, None)],
            fmt="o",
            ms=2,
            lw=0.4,
            alpha=0.5,
            color="#0072B2",
        )
        if ok.any():
            lim = [np.nanmin(y[ok]), np.nanmax(y[ok])]
            ax.plot(lim, lim, color="k", lw=0.8)
        if schema.PROPERTY[stem].log10:
            ax.set_xscale("log")
            ax.set_yscale("log")
        ax.set(xlabel=f"true {LABELS[stem]}", ylabel=f"predicted {LABELS[stem]}")
    for ax in list(axes.flat)[len(stems) :]:
        ax.axis("off")
    fig.suptitle("Test stars: predicted median and 68 % interval against the truth")
    return _save(fig, path)


def coverage_plot(t: pd.DataFrame, path: Path, nominal: float) -> str:
    """Each property's interval coverage against ``nominal``; returns the file name."""
    from training.evaluate import interval_coverage

    cov = interval_coverage(t)
    fig, ax = _figure(size=(7, 3.5))
    ax.bar(range(len(cov)), list(cov.values()), color="#0072B2")
    ax.axhline(nominal, color="k", ls="--", lw=1, label=f"nominal {nominal:.2f}")
    ax.set_xticks(range(len(cov)), [LABELS.get(k, k) for k in cov], rotation=30, ha="right")
    ax.set(ylim=(0, 1), ylabel="fraction of test stars inside", title="Coverage of the calibrated intervals")
    ax.legend()
    return _save(fig, path)


def binary_curves(t: pd.DataFrame, path: Path) -> str:
    """ROC and precision-recall curves of ``binary_prob``; returns the file name."""
    # Against the label the head was trained on (training.tensors.BINARY_LABELS).
    label = binary_label_name(t.columns, prefix=TRUTH_PREFIX) or "is_binary"
    y = t[TRUTH_PREFIX + label].astype(bool).to_numpy()
    s = t["binary_prob"].to_numpy(dtype=float)
    fig, (a, b) = _figure(1, 2, size=(9, 4))
    if y.any() and (~y).any():
        fpr, tpr, _ = roc_curve(y, s)
        prec, rec, _ = precision_recall_curve(y, s)
        a.plot(fpr, tpr, color="#D55E00")
        b.plot(rec, prec, color="#D55E00")
    a.plot([0, 1], [0, 1], "k:", lw=0.8)
    a.set(xlabel="false-positive rate", ylabel="true-positive rate", title=f"{label}: ROC")
    b.axhline(y.mean() if len(y) else 0, color="k", ls=":", lw=0.8)
    b.set(xlabel="recall", ylabel="precision", title=f"{label}: precision-recall")
    return _save(fig, path)


def write_figures(folder: Path, df: pd.DataFrame, test: np.ndarray) -> list[str]:
    """Write every figure into ``folder``; return their file names."""
    from training.evaluation_report import NOMINAL_COVERAGE

    t = df.iloc[test]
    return [
        umap_by_population(df, folder / "umap_by_population.png"),
        predicted_vs_true(t, folder / "predicted_vs_true.png"),
        coverage_plot(t, folder / "interval_coverage.png", NOMINAL_COVERAGE),
        binary_curves(t, folder / "binary_roc_pr.png"),
    ]
