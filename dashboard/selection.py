"""Mask and expression algebra for linked selections: pure numpy, no Panel, no server.

A selection is one boolean mask over catalogue rows plus the list of terms that made it. A term is
``(mode, geometry)`` where ``geometry`` is ``{"box": {"x": col, "y": col, "bounds": [x0, y0, x1,
y1]}}``, ``{"lasso": {"x": col, "y": col, "polygon": [[x, y], ...]}}`` or ``{"expr": text}`` (a
typed expression in the grammar of data/query.py). The terms are what the UI shows
(``expression_text``, in that grammar: ``A and B`` for intersect, ``A or B`` for add, ``A and not
B`` for subtract) and can be replayed on a new catalogue (``mask_from_terms``); the mask is what
the views draw. Drawn boxes and lasso vertices are rounded to ``DIGITS`` significant digits before
their mask is computed, so the text shows exactly the geometry that selected the stars and parses
back to the same mask. See docs/DASHBOARD.md section 2.3.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from dashboard import chunked
from data.query import MAX_VERTICES, exact_box_mask, exact_lasso_mask

Term = tuple[str, dict[str, Any]]

#: How a new mask combines with the current one, by mode.
COMBINE: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "replace": lambda old, new: new.copy(),
    "add": np.logical_or,
    "intersect": np.logical_and,
    "subtract": lambda old, new: old & ~new,
}

#: Longest a typed expression or shared link may be evaluated in a session, seconds: the server's
#: time per input stays bounded whatever the text (issue 16); typical expressions take milliseconds.
MAX_SECONDS = 1.0

#: Labels shown in the UI for each mode.
MODE_LABELS = {"new": "replace", "add": "add", "intersect": "intersect", "subtract": "subtract"}


def combine(old: np.ndarray | None, new: np.ndarray, mode: str) -> np.ndarray:
    """Combine a new boolean mask with the current one (``None`` = nothing selected)."""
    if mode not in COMBINE:
        raise ValueError(f"unknown selection mode {mode!r}; expected one of {sorted(COMBINE)}")
    new = np.asarray(new, dtype=bool)
    old = np.zeros_like(new) if old is None else np.asarray(old, dtype=bool)
    if old.shape != new.shape:
        raise ValueError(f"mask shapes differ: current {old.shape}, new {new.shape}")
    return np.asarray(COMBINE[mode](old, new), dtype=bool)


#: Significant digits kept of drawn box bounds and lasso vertices (far below a screen pixel).
DIGITS = 6


def round_geometry(values: np.ndarray | Sequence[float]) -> np.ndarray:
    """Round drawn coordinates to ``DIGITS`` significant digits (what the expression text shows)."""
    arr = np.asarray(values, dtype=np.float64)
    return np.vectorize(lambda v: float(f"{v:.{DIGITS}g}"), otypes=[np.float64])(arr) if arr.size else arr


def box_mask(df: pd.DataFrame, xcol: str, ycol: str, bounds: Sequence[float]) -> np.ndarray:
    """Rows whose ``(xcol, ycol)`` lie in a drawn box ``bounds = (x0, y0, x1, y1)``.

    Edges are included, NaN is out; the corners may come in any order (an inverted axis gives
    ``x0 > x1``). The bounds are first rounded as ``box_term`` rounds them.
    """
    if chunked.applies(len(df)):  # a large catalogue: a chunk of rows at a time, on Dask
        return chunked.box_mask(df, xcol, ycol, round_geometry(bounds))
    return exact_box_mask(df, xcol, ycol, round_geometry(bounds))


def lasso_mask(
    df: pd.DataFrame, xcol: str, ycol: str, polygon: np.ndarray | Sequence[Sequence[float]]
) -> np.ndarray:
    """Rows whose ``(xcol, ycol)`` lie inside ``polygon`` (an ``(M, 2)`` vertex array, M >= 3).

    A bounding-box pre-filter keeps the spatialpandas point-in-polygon test to the candidates
    (43 ms for 10^6 points and 60 vertices, DASHBOARD.md section 2.2). The vertices are first
    rounded and thinned as ``lasso_term`` does.
    """
    polygon = round_geometry(thin_polygon(polygon))
    if chunked.applies(len(df)):
        return chunked.lasso_mask(df, xcol, ycol, polygon)
    return exact_lasso_mask(df, xcol, ycol, polygon)


def thin_polygon(polygon: np.ndarray | Sequence[Sequence[float]]) -> np.ndarray:
    """At most ``MAX_VERTICES`` evenly spaced vertices of ``polygon``, so its text parses back."""
    poly = np.asarray(polygon, dtype=np.float64)
    if len(poly) <= MAX_VERTICES:
        return poly
    return poly[np.linspace(0, len(poly) - 1, MAX_VERTICES).round().astype(np.int64)]


def box_term(xcol: str, ycol: str, bounds: Sequence[float]) -> dict[str, Any]:
    """The expression term of a box: axis names and sorted bounds, rounded to ``DIGITS`` digits."""
    x0, y0, x1, y1 = (float(v) for v in round_geometry(bounds))
    return {
        "box": {
            "x": xcol,
            "y": ycol,
            "bounds": [min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)],
        }
    }


def lasso_term(xcol: str, ycol: str, polygon: np.ndarray | Sequence[Sequence[float]]) -> dict[str, Any]:
    """The expression term of a lasso: axis names and the polygon's vertices, thinned and rounded."""
    poly = round_geometry(thin_polygon(polygon))
    return {"lasso": {"x": xcol, "y": ycol, "polygon": poly.tolist()}}


def expression_term(text: str) -> dict[str, Any]:
    """The term of a typed expression, stored in its canonical text (raises ExpressionError)."""
    from data.query import normalise

    return {"expr": normalise(text)}


def term_node(term: dict[str, Any]) -> Any:
    """The expression tree (data/query.py) of one term."""
    from data import query as ex

    if "box" in term:
        spec = term["box"]
        x0, y0, x1, y1 = (float(v) for v in spec["bounds"])
        return ex.Box(spec["x"], spec["y"], x0, x1, y0, y1)
    if "lasso" in term:
        spec = term["lasso"]
        return ex.Lasso(spec["x"], spec["y"], tuple((float(x), float(y)) for x, y in spec["polygon"]))
    if "expr" in term:
        return ex.parse(term["expr"])
    raise ValueError(f"unknown selection term {sorted(term)}; expected 'box', 'lasso' or 'expr'")


def terms_node(terms: Sequence[Term]) -> Any:
    """The expression tree of a whole selection (None when nothing is selected).

    Modes join in order: add = ``or``, intersect = ``and``, subtract = ``and not``; a replace
    starts afresh.
    """
    from data import query as ex

    node = None
    for mode, term in terms:
        part = term_node(term)
        if node is None or mode == "replace":
            node = part
        elif mode == "add":
            node = ex.or_(node, part)
        elif mode == "intersect":
            node = ex.and_(node, part)
        elif mode == "subtract":
            node = ex.and_(node, ex.Not(part))
        else:
            raise ValueError(f"unknown selection mode {mode!r}; expected one of {sorted(COMBINE)}")
    return node


def term_mask(
    df: pd.DataFrame, term: dict[str, Any], *, similar: Callable[[np.ndarray, int], np.ndarray] | None = None
) -> np.ndarray:
    """Evaluate one term on ``df`` (``similar`` answers ``similar()`` in typed expressions)."""
    if "box" in term:
        spec = term["box"]
        return exact_box_mask(df, spec["x"], spec["y"], spec["bounds"])
    if "lasso" in term:
        spec = term["lasso"]
        return exact_lasso_mask(df, spec["x"], spec["y"], spec["polygon"])
    if "expr" in term:
        from data.query import expression_mask

        return expression_mask(term["expr"], df, similar=similar, max_seconds=MAX_SECONDS)
    raise ValueError(f"unknown selection term {sorted(term)}; expected 'box', 'lasso' or 'expr'")


def mask_from_terms(
    df: pd.DataFrame,
    terms: Sequence[Term],
    *,
    similar: Callable[[np.ndarray, int], np.ndarray] | None = None,
) -> np.ndarray:
    """Replay a list of ``(mode, term)`` on ``df``: the mask the terms describe."""
    mask = np.zeros(len(df), dtype=bool)
    for mode, term in terms:
        mask = combine(mask, term_mask(df, term, similar=similar), mode)
    return mask


def term_text(term: dict[str, Any]) -> str:
    """Expression text of one term, e.g. ``box(umap_x, umap_y, 1.2, 3.4, -1.0, 2.0)``."""
    from data.query import to_text

    return to_text(term_node(term))


def expression_text(terms: Sequence[Term]) -> str:
    """Expression text of a whole selection (``""`` when nothing is selected).

    Written in the grammar of data/query.py, so ``expression_mask(text, df)`` gives the
    mask ``mask_from_terms(df, terms)`` gives.
    """
    from data.query import to_text

    node = terms_node(terms)
    return "" if node is None else to_text(node)
