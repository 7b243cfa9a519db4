"""Population templates: named, editable selection expressions over predictions and observables.

A template is a conjunction of threshold conditions (``binary_prob > 0.6 and pred_prot_d < 10``)
on columns the model predicts or Gaia observes, plus the derived observables of dashboard/store.py
(``cmd_excess_mag``: height above the single-star main sequence; ``uncertainty_score``: the widest
68 % interval over its typical width). Templates never read truth (``true_*``): that is kept for
the purity check, which says how well a template recovers the simulated population it aims at.

``expression(values)`` is the text of the selection-expression grammar (data/query.py)
that ``DashboardState.apply_expression`` applies; ``mask(df, values)`` evaluates the same
conditions with numpy, for the group summaries.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from dashboard.store import CMD_EXCESS, UNCERTAINTY_SCORE
from data import schema
from data.schema import TRUTH_PREFIX

_OPS = {">": operator.gt, "<": operator.lt, ">=": operator.ge, "<=": operator.le}


@dataclass(frozen=True)
class Threshold:
    """One editable threshold: its widget label, default and range."""

    name: str
    label: str
    default: float
    start: float
    end: float
    step: float


@dataclass(frozen=True)
class Condition:
    """``column op threshold``, e.g. ``binary_prob > p_binary``."""

    column: str
    op: str
    threshold: str


@dataclass(frozen=True)
class Template:
    """A named population: conditions joined by ``and``, their thresholds and the truth it targets.

    ``target`` names the simulated population the template aims at (``None`` for none); it is
    used only by the purity check, never by the selection.
    """

    name: str
    label: str
    description: str
    conditions: tuple[Condition, ...]
    thresholds: tuple[Threshold, ...]
    target: str | None = None

    def defaults(self) -> dict[str, float]:
        return {t.name: t.default for t in self.thresholds}

    def columns(self) -> list[str]:
        return [c.column for c in self.conditions]

    def expression(self, values: Mapping[str, float] | None = None) -> str:
        """The selection expression with ``values`` (defaults where not given) filled in."""
        values = {**self.defaults(), **(values or {})}
        return " and ".join(f"{c.column} {c.op} {float(values[c.threshold]):g}" for c in self.conditions)

    def mask(self, df: pd.DataFrame, values: Mapping[str, float] | None = None) -> np.ndarray:
        """Rows meeting every condition (a NaN in a used column never matches).

        Raises
        ------
        KeyError
            The catalogue lacks a column the template needs (message names it).
        """
        missing = [c for c in self.columns() if c not in df.columns]
        if missing:
            raise KeyError(f"template {self.name!r} needs catalogue columns {missing}; run `desa embed`")
        values = {**self.defaults(), **(values or {})}
        mask = np.ones(len(df), dtype=bool)
        for c in self.conditions:
            column = df[c.column].to_numpy(dtype=np.float64)
            # Thresholds are rounded as the expression text shows them, so text and mask agree.
            limit = float(f"{float(values[c.threshold]):g}")
            mask &= _OPS[c.op](column, limit)
        return mask


def _t(name: str, label: str, default: float, start: float, end: float, step: float) -> Threshold:
    return Threshold(name, label, default, start, end, step)


P_BINARY = _t("p_binary", "binary probability above", 0.5, 0.0, 1.0, 0.05)
P_SINGLE = _t("p_single", "binary probability below", 0.4, 0.0, 1.0, 0.05)
FAST_PROT = _t("prot_fast", "predicted P_rot below [d]", 8.0, 0.5, 40.0, 0.5)
EXCESS_MIN = _t("excess_min", "height above MS above [mag]", 0.5, -0.5, 1.5, 0.05)

TEMPLATES: dict[str, Template] = {
    t.name: t
    for t in (
        Template(
            schema.SYNC_BINARY,
            "Synchronized binaries",
            "Likely binaries rotating fast (tidally locked to a short orbit) and lifted above the "
            "single-star main sequence by the companion's light.",
            (
                Condition("binary_prob", ">", "p_binary"),
                Condition("pred_prot_d", "<", "prot_fast"),
                Condition(CMD_EXCESS, ">", "excess_min"),
            ),
            (P_BINARY, FAST_PROT, EXCESS_MIN),
            target=schema.SYNC_BINARY,
        ),
        Template(
            schema.YOUNG,
            "Young stars",
            "Predicted young and rotating fast, but unlikely to be binaries: the stars that fast "
            "rotation alone would confuse with synchronized binaries.",
            (
                Condition("pred_age_gyr", "<", "age_max"),
                Condition("pred_prot_d", "<", "prot_fast"),
                Condition("binary_prob", "<", "p_single"),
            ),
            (_t("age_max", "predicted age below [Gyr]", 1.0, 0.05, 5.0, 0.05), FAST_PROT, P_SINGLE),
            target=schema.YOUNG,
        ),
        Template(
            schema.WIDE_BINARY,
            "Wide binaries",
            "Dwarfs lifted above the main sequence by up to about the twin offset (0.75 mag) that "
            "rotate slowly: a companion in an orbit too wide to synchronize.",
            (
                Condition(CMD_EXCESS, ">", "excess_min"),
                Condition(CMD_EXCESS, "<", "excess_max"),
                Condition("pred_prot_d", ">", "prot_slow"),
                Condition("pred_logg", ">", "logg_dwarf"),
            ),
            (
                EXCESS_MIN,
                _t("excess_max", "height above MS below [mag]", 1.3, 0.3, 3.0, 0.05),
                _t("prot_slow", "predicted P_rot above [d]", 10.0, 0.5, 60.0, 0.5),
                _t("logg_dwarf", "predicted log g above [dex]", 4.0, 3.0, 5.0, 0.05),
            ),
            target=schema.WIDE_BINARY,
        ),
        Template(
            schema.GIANT,
            "Giants",
            "Low predicted surface gravity and far above the main sequence: red-giant branch and red clump.",
            (Condition("pred_logg", "<", "logg_max"), Condition(CMD_EXCESS, ">", "giant_excess")),
            (
                _t("logg_max", "predicted log g below [dex]", 4.0, 1.0, 4.5, 0.05),
                _t("giant_excess", "height above MS above [mag]", 3.5, 1.0, 8.0, 0.1),
            ),
            target=schema.GIANT,
        ),
        Template(
            "uncertain",
            "High-uncertainty outliers",
            "Stars whose widest 68 % interval is several times the typical width for that property: "
            "out of the training distribution, or poor data.",
            (Condition(UNCERTAINTY_SCORE, ">", "score_min"),),
            (_t("score_min", "widest interval / median width above", 2.5, 1.0, 10.0, 0.1),),
        ),
    )
}

#: The side-by-side pair of the one-click comparison (templates named after their populations).
PAIR = schema.CASE_PAIR


def pair_expression(values: Mapping[str, Mapping[str, float]] | None = None) -> str:
    """Both groups of the synchronized-binary vs young comparison, as one ``or`` expression."""
    values = values or {}
    return " or ".join(f"({TEMPLATES[name].expression(values.get(name))})" for name in PAIR)


def uses_truth(template: Template) -> bool:
    """Whether a template's expression reads a truth column (it must not)."""
    return any(c.startswith(TRUTH_PREFIX) or c == schema.POPULATION for c in template.columns())


SUMMARY_COLUMNS = (
    "binary_prob",
    "pred_prot_d",
    "pred_age_gyr",
    CMD_EXCESS,
    "pred_teff_k",
    "pred_logg",
    "ruwe",
)


def group_summary(df: pd.DataFrame, masks: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """Count and medians of the key columns per group: one column per group, one row per statistic."""
    out = {}
    for name, mask in masks.items():
        sub = df.loc[np.asarray(mask, dtype=bool)]
        stats = {"stars": float(len(sub))}
        for col in SUMMARY_COLUMNS:
            if col in df.columns:
                values = sub[col].to_numpy(dtype=np.float64)
                values = values[np.isfinite(values)]
                stats[f"median {col}"] = float(np.median(values)) if values.size else np.nan
        out[name] = stats
    return pd.DataFrame(out)


def purity(df: pd.DataFrame, template: Template, mask: np.ndarray) -> tuple[int, int, int] | None:
    """Check against truth: (selected, of them in the target population, target size); None if unknown."""
    column = TRUTH_PREFIX + schema.POPULATION
    if template.target is None or column not in df.columns:
        return None
    truth = df[column].astype(str).to_numpy() == template.target
    mask = np.asarray(mask, dtype=bool)
    return int(mask.sum()), int((mask & truth).sum()), int(truth.sum())
