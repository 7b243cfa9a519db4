"""The selection language's vocabulary: limits, the error type, the expression tree, value printing.

Shared by the parser and printer (``data.query``) and the evaluator (``data.query_eval``); the
grammar is documented in ``data/query.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

#: Longest expression text accepted (a lasso of a few hundred vertices fits easily).
MAX_LENGTH = 100_000
#: Deepest nesting of brackets and ``not`` accepted.
MAX_DEPTH = 64
#: Largest ``k`` in ``similar(..., k)`` (our choice: "stars like these" means tens to thousands;
#: a larger neighbourhood is a selection by other means). One query costs ~0.1 s at 2x10^5 stars.
MAX_K = 10_000
#: Most ``similar()`` calls in one expression, nested or not (our choice: each is one kNN query
#: over every star, not interruptible by ``max_seconds``; 64 nested ones were accepted before).
MAX_SIMILAR = 4
#: Longest number literal: ``repr`` of any float fits, and ``int()`` stays far below Python's
#: 4,300-digit limit (and its quadratic cost).
MAX_NUMBER_LENGTH = 100
#: Most conditions (comparisons, ``in`` lists, flags, ``box``, ``lasso``, ``similar``) in one
#: expression: 100 boxes take about 0.3 s at 10^6 stars.
MAX_TESTS = 100
#: Most vertices of one lasso: a lasso around 10^6 stars takes about 0.6 s with 500 (the cost
#: grows with vertices x stars in its bounding box); drawn lassos are thinned to this many.
MAX_VERTICES = 500
#: Longest piece of the user's text quoted back in an error message.
MAX_QUOTE = 60

COMPARISONS = ("<=", ">=", "==", "!=", "<", ">")
KEYWORDS = {"and", "or", "not", "in", "true", "false"}
FUNCTIONS = {"box", "lasso", "similar"}

#: ``(rows, k) -> rows``: the k catalogue rows nearest in embedding space to the given rows' centroid.
SimilarFn = Callable[[np.ndarray, int], np.ndarray]

Value = float | int | str | bool


def shorten(text: str, limit: int = MAX_QUOTE) -> str:
    """``text`` cut to ``limit`` characters (an ellipsis marks the cut), to quote it in a message."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


class ExpressionError(ValueError):
    """A selection expression that cannot be parsed or evaluated; names the position and the fix."""

    def __init__(self, message: str, text: str = "", pos: int | None = None) -> None:
        self.message, self.text, self.pos = message, text, pos
        where = ""
        if pos is not None:
            snippet = text[pos : pos + 30]
            where = f"at position {pos + 1} " + (f"(near {snippet!r})" if snippet else "(end of text)") + ": "
        super().__init__(f"{where}{message}")


# --- tree ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Node:
    """A node of a parsed expression; ``pos`` is where it starts in the text (for errors)."""

    pos: int = field(default=0, compare=False, kw_only=True)


@dataclass(frozen=True)
class Compare(Node):
    """``column op value``."""

    column: str
    op: str
    value: Value


@dataclass(frozen=True)
class InList(Node):
    """``column in (v, ...)``, or ``not in`` with ``negate``."""

    column: str
    values: tuple[Value, ...]
    negate: bool = False


@dataclass(frozen=True)
class Flag(Node):
    """A boolean column on its own."""

    column: str


@dataclass(frozen=True)
class Box(Node):
    """``box(x, y, x0, x1, y0, y1)``: a rectangle in two columns."""

    x: str
    y: str
    x0: float
    x1: float
    y0: float
    y1: float


@dataclass(frozen=True)
class Lasso(Node):
    """``lasso(x, y, [(x, y), ...])``: a polygon in two columns."""

    x: str
    y: str
    polygon: tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class Similar(Node):
    """``similar(row or (expression), k)``: the k nearest stars in embedding space."""

    target: int | Node
    k: int


@dataclass(frozen=True)
class Not(Node):
    """``not child``."""

    child: Node


@dataclass(frozen=True)
class And(Node):
    """``a and b and ...``."""

    children: tuple[Node, ...]


@dataclass(frozen=True)
class Or(Node):
    """``a or b or ...``."""

    children: tuple[Node, ...]


def and_(*nodes: Node) -> Node:
    """``a and b and ...``, flattening nested ``and``."""
    flat: list[Node] = []
    for node in nodes:
        flat.extend(node.children if isinstance(node, And) else (node,))
    return flat[0] if len(flat) == 1 else And(tuple(flat))


def or_(*nodes: Node) -> Node:
    """``a or b or ...``, flattening nested ``or``."""
    flat: list[Node] = []
    for node in nodes:
        flat.extend(node.children if isinstance(node, Or) else (node,))
    return flat[0] if len(flat) == 1 else Or(tuple(flat))


def _kind(value: Value) -> str:
    if isinstance(value, bool):
        return "bool"
    return "str" if isinstance(value, str) else "number"


def _num(value: float | int) -> str:
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else repr(float(value))


def _value(value: Value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return _num(value)
