"""Evaluate a parsed selection expression on the catalogue with numpy (nothing is executed).

Also the exact box and lasso geometry, which the dashboard's drawn selections use too.
"""

from __future__ import annotations

import difflib
import time
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from data.query_tree import (
    And,
    Box,
    Compare,
    ExpressionError,
    Flag,
    InList,
    Lasso,
    Node,
    Not,
    Or,
    Similar,
    SimilarFn,
    Value,
    _kind,
    _value,
    shorten,
)


# --- evaluator -------------------------------------------------------------------------------------
# --- geometry (also used by the dashboard's drawn selections) ----------------------------------
def _xy(df: pd.DataFrame, xcol: str, ycol: str) -> tuple[np.ndarray, np.ndarray]:
    return df[xcol].to_numpy(dtype=np.float64), df[ycol].to_numpy(dtype=np.float64)


def exact_box_mask(df: pd.DataFrame, xcol: str, ycol: str, bounds: Sequence[float]) -> np.ndarray:
    """``box_mask`` without rounding the bounds (what an expression's ``box()`` evaluates)."""
    x0, y0, x1, y1 = (float(v) for v in bounds)
    x, y = _xy(df, xcol, ycol)
    return (x >= min(x0, x1)) & (x <= max(x0, x1)) & (y >= min(y0, y1)) & (y <= max(y0, y1))


def exact_lasso_mask(
    df: pd.DataFrame, xcol: str, ycol: str, polygon: np.ndarray | Sequence[Sequence[float]]
) -> np.ndarray:
    """``lasso_mask`` without rounding the vertices (what an expression's ``lasso()`` evaluates)."""
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


class _Evaluator:
    def __init__(
        self, df: pd.DataFrame, text: str, similar: SimilarFn | None, max_seconds: float | None = None
    ) -> None:
        self.df, self.text, self.similar = df, text, similar
        self.n = len(df)
        self.max_seconds = max_seconds
        self.deadline = None if max_seconds is None else time.monotonic() + max_seconds

    def error(self, message: str, node: Node) -> ExpressionError:
        return ExpressionError(message, self.text, node.pos if self.text else None)

    def column(self, name: str, node: Node) -> pd.Series:
        if name in self.df.columns:
            return self.df[name]
        if name == "row":
            return pd.Series(np.arange(self.n, dtype=np.int64), index=self.df.index)
        close = difflib.get_close_matches(name, [str(c) for c in self.df.columns], n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise self.error(f"unknown column {shorten(name)!r}{hint}", node)

    def rows(self) -> np.ndarray:
        return self.column("row", Node()).to_numpy(dtype=np.int64)

    def numeric(self, name: str, node: Node) -> np.ndarray:
        col = self.column(name, node)
        if pd.api.types.is_bool_dtype(col) or not pd.api.types.is_numeric_dtype(col):
            raise self.error(
                f"column {name!r} holds {_dtype_words(col)}, not numbers; compare it with "
                f"'==', '!=' or 'in' and a quoted value",
                node,
            )
        # float32 columns compare in float32, so 'binary_prob > 0.1' leaves out a stored 0.1.
        dtype = np.float32 if col.dtype == np.float32 else np.float64
        return col.to_numpy(dtype=dtype, na_value=np.nan)

    def check_time(self, node: Node) -> None:
        if self.deadline is not None and time.monotonic() >= self.deadline:
            raise self.error(
                f"evaluating the expression took more than {self.max_seconds:g} s for {self.n:,} stars; "
                f"use fewer conditions",
                node,
            )

    def eval(self, node: Node) -> np.ndarray:
        self.check_time(node)
        method = getattr(self, f"eval_{type(node).__name__.lower()}", None)
        if method is None:
            raise TypeError(f"not an expression node: {node!r}")
        return np.asarray(method(node), dtype=bool)

    def eval_or(self, node: Or) -> np.ndarray:
        return np.logical_or.reduce([self.eval(c) for c in node.children])

    def eval_and(self, node: And) -> np.ndarray:
        return np.logical_and.reduce([self.eval(c) for c in node.children])

    def eval_not(self, node: Not) -> np.ndarray:
        return ~self.eval(node.child)

    def eval_compare(self, node: Compare) -> np.ndarray:
        kind = _kind(node.value)
        if kind == "number":
            x = self.numeric(node.column, node)
            with np.errstate(invalid="ignore", over="ignore"):
                return _OPS[node.op](x, x.dtype.type(node.value))
        col = self.column(node.column, node)
        if node.op not in ("==", "!="):
            raise self.error(
                f"{node.op!r} compares numbers; use '==' or '!=' with {shorten(_value(node.value))}", node
            )
        equal = self._equal(col, node, [node.value])
        return equal if node.op == "==" else ~equal

    def _equal(self, col: pd.Series, node: Node, values: Sequence[Value]) -> np.ndarray:
        kind = _kind(values[0])
        name = getattr(node, "column", "")
        if kind == "bool":
            if not pd.api.types.is_bool_dtype(col):
                raise self.error(f"column {name!r} holds {_dtype_words(col)}, not true/false", node)
            return np.isin(col.to_numpy(dtype=bool), np.asarray(values, dtype=bool))
        if pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
            raise self.error(
                f"column {name!r} holds {_dtype_words(col)}; compare it with a number, not text", node
            )
        labels = set(col.cat.categories.astype(str)) if isinstance(col.dtype, pd.CategoricalDtype) else None
        if labels is not None:
            unknown = [v for v in values if v not in labels]
            if unknown and len(unknown) == len(values):
                known = ", ".join(repr(c) for c in sorted(labels)[:12])
                label = shorten(str(unknown[0]))
                raise self.error(f"column {name!r} has no label {label!r}; its labels are {known}", node)
        return col.astype(object).isin(list(values)).to_numpy(dtype=bool)

    def eval_inlist(self, node: InList) -> np.ndarray:
        if not node.values:
            found = np.zeros(self.n, dtype=bool)
            self.column(node.column, node)
        elif _kind(node.values[0]) == "number":
            x = self.numeric(node.column, node)
            with np.errstate(over="ignore"):
                found = np.isin(x, np.asarray(node.values, dtype=x.dtype))
        else:
            found = self._equal(self.column(node.column, node), node, node.values)
        return ~found if node.negate else found

    def eval_flag(self, node: Flag) -> np.ndarray:
        col = self.column(node.column, node)
        if not pd.api.types.is_bool_dtype(col):
            example = (
                f"{node.column} > 0" if pd.api.types.is_numeric_dtype(col) else f"{node.column} == 'label'"
            )
            raise self.error(
                f"column {node.column!r} holds {_dtype_words(col)}; write a condition such as {example!r}",
                node,
            )
        return col.to_numpy(dtype=bool)

    def eval_box(self, node: Box) -> np.ndarray:

        for name in (node.x, node.y):
            self.numeric(name, node)
        return exact_box_mask(self.df, node.x, node.y, (node.x0, node.y0, node.x1, node.y1))

    def eval_lasso(self, node: Lasso) -> np.ndarray:

        for name in (node.x, node.y):
            self.numeric(name, node)
        return exact_lasso_mask(self.df, node.x, node.y, np.asarray(node.polygon, dtype=np.float64))

    def eval_similar(self, node: Similar) -> np.ndarray:
        if self.similar is None:
            raise self.error(
                "similar() needs the survey's embedding (store/arrays/embedding.npy); run 'desa embed'",
                node,
            )
        rows = self.rows()
        if isinstance(node.target, int):
            if not np.any(rows == node.target):
                raise self.error(f"no star with row {node.target} (rows run 0..{self.n - 1})", node)
            query = np.asarray([node.target], dtype=np.int64)
        else:
            query = rows[self.eval(node.target)]
            if len(query) == 0:
                raise self.error("the expression inside similar() selects no stars", node)
        self.check_time(node)  # the inner expression may have used the budget up
        found = np.asarray(self.similar(query, node.k), dtype=np.int64)
        return np.isin(rows, found)


_OPS: dict[str, Callable[[np.ndarray, float], np.ndarray]] = {
    "<": np.less,
    "<=": np.less_equal,
    ">": np.greater,
    ">=": np.greater_equal,
    "==": np.equal,
    "!=": np.not_equal,
}


def _dtype_words(col: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(col):
        return "true/false values"
    if pd.api.types.is_numeric_dtype(col):
        return "numbers"
    return "text labels"


def evaluate(
    node: Node,
    df: pd.DataFrame,
    *,
    similar: SimilarFn | None = None,
    text: str = "",
    max_seconds: float | None = None,
) -> np.ndarray:
    """The boolean mask (length ``len(df)``) a parsed expression selects.

    ``similar`` answers ``similar()`` calls (dashboard/similar.py); ``text`` is the source text the
    tree was parsed from, used to point at the failing part in error messages. With
    ``max_seconds`` (a server answering untrusted text) the evaluation stops with an
    ExpressionError once it has run that long; it checks before each node, so the overrun is at
    most one condition (a lasso of ``MAX_VERTICES`` vertices around 10^6 stars: about 0.6 s).
    """
    return _Evaluator(df, text, similar, max_seconds).eval(node)
