"""Mask and expression algebra for linked selections: pure numpy, no Panel, no server.

A selection is one boolean mask over catalogue rows plus the list of terms that made it. A term is
``(mode, geometry)`` where ``geometry`` is ``{"box": {"x": col, "y": col, "bounds": [x0, y0, x1,
y1]}}`` or ``{"lasso": {"x": col, "y": col, "polygon": [[x, y], ...]}}``. The terms are what the
UI shows (``expression_text``) and can be replayed on a new catalogue (``mask_from_terms``); the
mask is what the views draw. See docs/DASHBOARD.md section 2.3.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

Term = tuple[str, dict[str, Any]]

#: How a new mask combines with the current one, by mode.
COMBINE: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "replace": lambda old, new: new.copy(),
    "add": np.logical_or,
    "intersect": np.logical_and,
    "subtract": lambda old, new: old & ~new,
}

#: Labels shown in the UI for each mode.
MODE_LABELS = {"new": "replace", "add": "add", "intersect": "intersect", "subtract": "subtract"}

_JOIN = {"add": "or", "intersect": "and", "subtract": "and not"}


def combine(old: np.ndarray | None, new: np.ndarray, mode: str) -> np.ndarray:
    """Combine a new boolean mask with the current one (``None`` = nothing selected)."""
    if mode not in COMBINE:
        raise ValueError(f"unknown selection mode {mode!r}; expected one of {sorted(COMBINE)}")
    new = np.asarray(new, dtype=bool)
    old = np.zeros_like(new) if old is None else np.asarray(old, dtype=bool)
    if old.shape != new.shape:
        raise ValueError(f"mask shapes differ: current {old.shape}, new {new.shape}")
    return np.asarray(COMBINE[mode](old, new), dtype=bool)


def _xy(df: pd.DataFrame, xcol: str, ycol: str) -> tuple[np.ndarray, np.ndarray]:
    return df[xcol].to_numpy(dtype=np.float64), df[ycol].to_numpy(dtype=np.float64)


def box_mask(df: pd.DataFrame, xcol: str, ycol: str, bounds: Sequence[float]) -> np.ndarray:
    """Rows whose ``(xcol, ycol)`` lie in ``bounds = (x0, y0, x1, y1)`` (edges included, NaN out).

    The corners may come in any order (an inverted axis gives ``x0 > x1``).
    """
    x0, y0, x1, y1 = (float(v) for v in bounds)
    x, y = _xy(df, xcol, ycol)
    return (x >= min(x0, x1)) & (x <= max(x0, x1)) & (y >= min(y0, y1)) & (y <= max(y0, y1))


def lasso_mask(
    df: pd.DataFrame, xcol: str, ycol: str, polygon: np.ndarray | Sequence[Sequence[float]]
) -> np.ndarray:
    """Rows whose ``(xcol, ycol)`` lie inside ``polygon`` (an ``(M, 2)`` vertex array, M >= 3).

    A bounding-box pre-filter keeps the spatialpandas point-in-polygon test to the candidates
    (43 ms for 10^6 points and 60 vertices, DASHBOARD.md section 2.2).
    """
    from spatialpandas.geometry import PointArray, Polygon

    poly = np.asarray(polygon, dtype=np.float64)
    if poly.ndim != 2 or poly.shape[1] != 2 or len(poly) < 3:
        raise ValueError(f"a lasso polygon needs at least 3 (x, y) vertices, got shape {poly.shape}")
    x, y = _xy(df, xcol, ycol)
    (xmin, ymin), (xmax, ymax) = poly.min(axis=0), poly.max(axis=0)
    candidates = (x >= xmin) & (x <= xmax) & (y >= ymin) & (y <= ymax)
    mask = np.zeros(len(x), dtype=bool)
    if candidates.any():
        points = PointArray((x[candidates], y[candidates]))
        ring = np.concatenate([poly, poly[:1]]).ravel()
        mask[candidates] = np.asarray(points.intersects(Polygon([ring])), dtype=bool)
    return mask


def box_term(xcol: str, ycol: str, bounds: Sequence[float]) -> dict[str, Any]:
    """The expression term of a box: axis names and sorted bounds, rounded for display."""
    x0, y0, x1, y1 = (float(v) for v in bounds)
    return {
        "box": {
            "x": xcol,
            "y": ycol,
            "bounds": [min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)],
        }
    }


def lasso_term(xcol: str, ycol: str, polygon: np.ndarray | Sequence[Sequence[float]]) -> dict[str, Any]:
    """The expression term of a lasso: axis names and the polygon's vertices."""
    poly = np.asarray(polygon, dtype=np.float64)
    return {"lasso": {"x": xcol, "y": ycol, "polygon": poly.tolist()}}


def term_mask(df: pd.DataFrame, term: dict[str, Any]) -> np.ndarray:
    """Evaluate one geometry term on ``df``."""
    if "box" in term:
        spec = term["box"]
        return box_mask(df, spec["x"], spec["y"], spec["bounds"])
    if "lasso" in term:
        spec = term["lasso"]
        return lasso_mask(df, spec["x"], spec["y"], spec["polygon"])
    raise ValueError(f"unknown selection term {sorted(term)}; expected 'box' or 'lasso'")


def mask_from_terms(df: pd.DataFrame, terms: Sequence[Term]) -> np.ndarray:
    """Replay a list of ``(mode, term)`` on ``df``: the mask the terms describe."""
    mask = np.zeros(len(df), dtype=bool)
    for mode, term in terms:
        mask = combine(mask, term_mask(df, term), mode)
    return mask


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def term_text(term: dict[str, Any]) -> str:
    """Readable text of one term, e.g. ``umap_x in [1.2, 3.4] and umap_y in [-1, 2]``."""
    if "box" in term:
        spec = term["box"]
        x0, y0, x1, y1 = spec["bounds"]
        return f"{spec['x']} in [{_fmt(x0)}, {_fmt(x1)}] and {spec['y']} in [{_fmt(y0)}, {_fmt(y1)}]"
    if "lasso" in term:
        spec = term["lasso"]
        return f"({spec['x']}, {spec['y']}) inside lasso of {len(spec['polygon'])} vertices"
    raise ValueError(f"unknown selection term {sorted(term)}; expected 'box' or 'lasso'")


def expression_text(terms: Sequence[Term]) -> str:
    """Readable text of a whole selection; ``""`` when nothing is selected.

    The first term stands alone; later ones join with ``or`` (add), ``and`` (intersect) or
    ``and not`` (subtract), bracketing what came before.
    """
    text = ""
    for mode, term in terms:
        part = term_text(term)
        text = part if not text or mode == "replace" else f"({text}) {_JOIN[mode]} ({part})"
    return text
