"""Selection expressions: a safe parser and evaluator (no ``eval``, no ``DataFrame.query``).

A selection is text a user can read, type, edit, share in a URL and store with an export. It is
parsed by a small recursive-descent parser into a tree of the node classes of data/query_tree.py
and evaluated with numpy against the catalogue by data/query_eval.py; nothing in the text is
ever executed. Grammar (keywords are
lower case; whitespace is free; ``#`` is not a comment)::

    expression := or_expr
    or_expr    := and_expr ("or" and_expr)*
    and_expr   := not_expr ("and" not_expr)*
    not_expr   := "not" not_expr | atom
    atom       := "(" expression ")" | call | test
    test       := COLUMN OP value                  binary_prob > 0.9, true_population == 'young'
                | COLUMN ["not"] "in" list         row in [1, 2], split in ['train', 'val']
                | COLUMN                           a boolean column, e.g. true_is_binary
    OP         := "<" | "<=" | ">" | ">=" | "==" | "!="
    call       := "box" "(" COLUMN "," COLUMN "," num "," num "," num "," num ")"
                                                   box(x_col, y_col, x0, x1, y0, y1), edges included
                | "lasso" "(" COLUMN "," COLUMN "," "[" point ("," point)* "]" ")"
                                                   lasso(x_col, y_col, [(x, y), ...]), >= 3 points
                | "similar" "(" (INTEGER | expression) "," INTEGER ")"
    point      := "(" num "," num ")" | "[" num "," num "]"
    list       := "[" [value ("," value)* [","]] "]"
    value      := num | STRING | "true" | "false"
    num        := ["-"] NUMBER                     1, -2.5, 3e-4 (ASCII digits, at most 100 characters)
    STRING     := '...' or "..." (backslash escapes the quote and itself)

``similar(row, k)`` selects the k nearest neighbours of the star with catalogue ``row`` in the
learned embedding space (the star itself excluded); ``similar(expression, k)`` selects the k
stars nearest to the centroid of the stars the inner expression selects (members included). Both
need the survey's embedding (dashboard/similar.py).

Semantics: numbers compare in the column's precision (float32 columns in float32, so ``p > 0.1``
leaves out a stored 0.1); boxes and lassos in float64; a missing value (NaN) fails every comparison and every
``in``, so ``not`` (and ``!=``) select it. Strings compare only with ``==``, ``!=`` and ``in`` on
label columns. Precedence is ``not`` > ``and`` > ``or``. ``to_text`` prints a tree back in this
grammar with exact numbers (Python's shortest round-trip ``repr``), so ``parse(to_text(node))``
evaluates to the same mask.

Limits (data/query_tree.py) bound what one text can cost, whoever sends it (a typed box, a shared
link): ``MAX_LENGTH`` characters, ``MAX_DEPTH`` levels of nesting, ``MAX_NUMBER_LENGTH`` characters
per number, ``MAX_TESTS`` conditions, ``MAX_VERTICES`` vertices per lasso, ``MAX_SIMILAR``
``similar()`` calls and ``k`` up to ``MAX_K``; a server also passes ``max_seconds`` to bound
evaluation (checked before every condition and before every kNN query). Any text, however
malformed, either parses or raises ``ExpressionError``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from data.query_eval import evaluate, exact_box_mask, exact_lasso_mask
from data.query_tree import (
    COMPARISONS,
    FUNCTIONS,
    KEYWORDS,
    MAX_DEPTH,
    MAX_K,
    MAX_LENGTH,
    MAX_NUMBER_LENGTH,
    MAX_QUOTE,
    MAX_SIMILAR,
    MAX_TESTS,
    MAX_VERTICES,
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
    _num,
    _value,
    and_,
    or_,
    shorten,
)

__all__ = [
    "COMPARISONS",
    "FUNCTIONS",
    "KEYWORDS",
    "MAX_DEPTH",
    "MAX_K",
    "MAX_LENGTH",
    "MAX_NUMBER_LENGTH",
    "MAX_QUOTE",
    "MAX_SIMILAR",
    "MAX_TESTS",
    "MAX_VERTICES",
    "And",
    "Box",
    "Compare",
    "ExpressionError",
    "Flag",
    "InList",
    "Lasso",
    "Node",
    "Not",
    "Or",
    "Similar",
    "SimilarFn",
    "Token",
    "Value",
    "and_",
    "evaluate",
    "exact_box_mask",
    "exact_lasso_mask",
    "expression_mask",
    "normalise",
    "or_",
    "parse",
    "shorten",
    "to_text",
    "tokenize",
]

# --- tokenizer -------------------------------------------------------------------------------------
_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<number>(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)
  | (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op><=|>=|==|!=|<|>)
  | (?P<punct>[()\[\],-])
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class Token:
    """One lexical token of an expression and its position (for error messages)."""

    kind: str  # number, string, name, keyword, op, punct, end
    text: str
    pos: int


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into tokens; raises ExpressionError at the first character that fits none."""
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            char = text[pos]
            hint = ""
            if char == "=":
                hint = "; compare with '=='"
            elif char in "&|~":
                hint = "; use 'and', 'or', 'not'"
            elif char in "'\"":
                hint = "; the string is not closed"
            raise ExpressionError(f"unexpected character {char!r}{hint}", text, pos)
        kind = match.lastgroup
        if kind != "space":
            word = match.group()
            if kind == "name" and word in KEYWORDS:
                kind = "keyword"
            elif kind == "name" and word in ("True", "False"):
                kind, word = "keyword", word.lower()
            tokens.append(Token(kind, word, pos))
        pos = match.end()
    tokens.append(Token("end", "", len(text)))
    return tokens


def _unquote(token: Token) -> str:
    return re.sub(r"\\(.)", r"\1", token.text[1:-1])


# --- parser ----------------------------------------------------------------------------------------
class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0
        self.depth = 0
        self.tests = 0  # conditions so far (MAX_TESTS)
        self.vertices = 0  # vertices of the lasso being read (MAX_VERTICES)
        self.similars = 0  # similar() calls so far (MAX_SIMILAR)

    # token helpers
    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def peek(self, offset: int = 1) -> Token:
        return self.tokens[min(self.i + offset, len(self.tokens) - 1)]

    def error(self, message: str, token: Token | None = None) -> ExpressionError:
        token = token or self.tok
        return ExpressionError(message, self.text, token.pos)

    def describe(self, token: Token) -> str:
        return "the end of the expression" if token.kind == "end" else repr(shorten(token.text))

    def accept(self, text: str) -> bool:
        if self.tok.text == text and self.tok.kind in ("keyword", "op", "punct"):
            self.i += 1
            return True
        return False

    def expect(self, text: str, what: str) -> Token:
        token = self.tok
        if not self.accept(text):
            raise self.error(f"expected {text!r} {what}, found {self.describe(token)}")
        return token

    def nest(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(f"expression nested deeper than {MAX_DEPTH} levels")

    def count_test(self, token: Token) -> None:
        self.tests += 1
        if self.tests > MAX_TESTS:
            raise self.error(f"more than {MAX_TESTS} conditions in one expression; select in steps", token)

    # grammar
    def parse(self) -> Node:
        if not self.text.strip():
            raise ExpressionError("empty expression; type e.g. binary_prob > 0.9", self.text, 0)
        node = self.or_expr()
        if self.tok.kind != "end":
            hint = ""
            if self.tok.kind in ("name", "number", "string"):
                hint = "; join conditions with 'and' or 'or'"
            elif self.tok.text == ")":
                hint = "; this ')' has no matching '('"
            raise self.error(f"unexpected {self.describe(self.tok)}{hint}")
        return node

    def or_expr(self) -> Node:
        pos = self.tok.pos
        nodes = [self.and_expr()]
        while self.accept("or"):
            nodes.append(self.and_expr())
        return nodes[0] if len(nodes) == 1 else Or(tuple(nodes), pos=pos)

    def and_expr(self) -> Node:
        pos = self.tok.pos
        nodes = [self.not_expr()]
        while self.accept("and"):
            nodes.append(self.not_expr())
        return nodes[0] if len(nodes) == 1 else And(tuple(nodes), pos=pos)

    def not_expr(self) -> Node:
        token = self.tok
        if self.accept("not"):
            self.nest()
            child = self.not_expr()
            self.depth -= 1
            return Not(child, pos=token.pos)
        return self.atom()

    def atom(self) -> Node:
        token = self.tok
        if self.accept("("):
            self.nest()
            node = self.or_expr()
            self.depth -= 1
            self.expect(")", f"to close the '(' at position {token.pos + 1}")
            return node
        if token.kind == "name" and token.text in FUNCTIONS and self.peek().text == "(":
            return getattr(self, token.text)()
        if token.kind == "name":
            return self.test()
        if token.kind in ("number", "string") or token.text == "-":
            raise self.error(
                f"expected a column name before the value {shorten(token.text)!r} (write e.g. 'ruwe > 1.4')"
            )
        raise self.error(f"expected a column name, '(' or 'not', found {self.describe(token)}")

    def column(self, what: str = "") -> str:
        token = self.tok
        if token.kind != "name":
            raise self.error(f"expected a column name{what}, found {self.describe(token)}")
        self.i += 1
        return token.text

    def test(self) -> Node:
        token = self.tok
        self.count_test(token)
        name = self.column()
        op = self.tok
        if op.kind == "op":
            self.i += 1
            return Compare(name, op.text, self.value(), pos=token.pos)
        if self.accept("in"):
            return InList(name, self.value_list(), pos=token.pos)
        if op.text == "not" and self.peek().text == "in":
            self.i += 2
            return InList(name, self.value_list(), negate=True, pos=token.pos)
        return Flag(name, pos=token.pos)

    def number(self, what: str) -> float | int:
        token = self.tok
        negative = self.accept("-")
        number = self.tok
        if number.kind != "number":
            raise self.error(f"expected a number {what}, found {self.describe(number)}", number)
        self.i += 1
        if len(number.text) > MAX_NUMBER_LENGTH:
            raise self.error(
                f"a number of {len(number.text):,} characters; write at most {MAX_NUMBER_LENGTH}", token
            )
        is_int = number.text.isdigit()  # the tokenizer's digits are ASCII
        value: float | int = int(number.text) if is_int else float(number.text)
        if not math.isfinite(value):
            raise self.error(f"the number {number.text!r} is too large", token)
        return -value if negative else value

    def integer(self, what: str, low: int, high: int) -> int:
        token = self.tok
        value = self.number(what)
        if not isinstance(value, int) or not low <= value <= high:
            raise self.error(f"expected a whole number from {low} to {high} {what}, found {value!r}", token)
        return value

    def value(self) -> Value:
        token = self.tok
        if token.kind == "string":
            self.i += 1
            return _unquote(token)
        if token.kind == "keyword" and token.text in ("true", "false"):
            self.i += 1
            return token.text == "true"
        if token.kind == "name":
            name = shorten(token.text)
            raise self.error(f"expected a value, found the name {name!r}; quote text as '{name}'")
        return self.number("after the comparison")

    def value_list(self) -> tuple[Value, ...]:
        self.expect("[", "to open the list after 'in'")
        values: list[Value] = []
        while not self.accept("]"):
            token = self.tok
            values.append(self.value())
            if _kind(values[-1]) != _kind(values[0]):
                raise self.error("a list mixes numbers, text and true/false; use one kind", token)
            if not self.accept(","):
                self.expect("]", "to close the list")
                break
        return tuple(values)

    def call_columns(self, name: str) -> tuple[str, str]:
        self.expect("(", f"after {name}")
        x = self.column(f" as the first argument of {name}()")
        self.expect(",", f"after the x column of {name}()")
        y = self.column(f" as the second argument of {name}()")
        self.expect(",", f"after the y column of {name}()")
        return x, y

    def box(self) -> Node:
        token = self.tok
        self.count_test(token)
        self.i += 1
        x, y = self.call_columns("box")
        bounds = []
        for label in ("x0", "x1", "y0", "y1"):
            bounds.append(float(self.number(f"for {label} of box(x, y, x0, x1, y0, y1)")))
            if label != "y1":
                self.expect(",", f"after {label} in box()")
        self.expect(")", "to close box(x, y, x0, x1, y0, y1)")
        return Box(x, y, *bounds, pos=token.pos)

    def point(self) -> tuple[float, float]:
        self.vertices += 1
        if self.vertices > MAX_VERTICES:
            raise self.error(f"a lasso of more than {MAX_VERTICES} vertices; draw a simpler one")
        close = {"(": ")", "[": "]"}.get(self.tok.text)
        if close is None or not self.accept(self.tok.text):
            raise self.error(f"expected a lasso vertex '(x, y)', found {self.describe(self.tok)}")
        x = float(self.number("for a lasso vertex x"))
        self.expect(",", "between the x and y of a lasso vertex")
        y = float(self.number("for a lasso vertex y"))
        self.expect(close, "to close the lasso vertex")
        return x, y

    def lasso(self) -> Node:
        token = self.tok
        self.count_test(token)
        self.vertices = 0
        self.i += 1
        x, y = self.call_columns("lasso")
        self.expect("[", "to open the vertex list of lasso(x, y, [(x, y), ...])")
        points = [self.point()]
        while self.accept(","):
            if self.tok.text == "]":
                break
            points.append(self.point())
        self.expect("]", "to close the vertex list of lasso()")
        self.expect(")", "to close lasso()")
        if len(points) < 3:
            raise ExpressionError(
                f"a lasso needs at least 3 vertices, got {len(points)}", self.text, token.pos
            )
        return Lasso(x, y, tuple(points), pos=token.pos)

    def similar(self) -> Node:
        token = self.tok
        self.count_test(token)
        self.similars += 1
        if self.similars > MAX_SIMILAR:
            raise self.error(f"more than {MAX_SIMILAR} similar() in one expression; select in steps", token)
        self.i += 1
        self.expect("(", "after similar")
        target: int | Node
        if self.tok.kind == "number" and self.peek().text == ",":
            target = self.integer("as the star's row in similar(row, k)", 0, 2**31 - 1)
        else:
            self.nest()
            target = self.or_expr()
            self.depth -= 1
        self.expect(",", "before k in similar(row, k)")
        k = self.integer("for k in similar(row, k)", 1, MAX_K)
        self.expect(")", "to close similar(row, k)")
        return Similar(target, k, pos=token.pos)


def parse(text: str) -> Node:
    """Parse a selection expression into a tree; raises ExpressionError naming position and fix."""
    if not isinstance(text, str):
        raise ExpressionError(f"an expression is text, got {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"expression of {len(text):,} characters; the limit is {MAX_LENGTH:,}")
    return _Parser(text).parse()


# --- printer ---------------------------------------------------------------------------------------


_PRECEDENCE = {Or: 1, And: 2, Not: 3}


def _child(node: Node, minimum: int) -> str:
    text = to_text(node)
    return f"({text})" if _PRECEDENCE.get(type(node), 4) < minimum else text


def to_text(node: Node) -> str:
    """The expression text of a tree, in the grammar above; parses back to an equal tree."""
    if isinstance(node, Or):
        return " or ".join(_child(c, 2) for c in node.children)
    if isinstance(node, And):
        return " and ".join(_child(c, 3) for c in node.children)
    if isinstance(node, Not):
        return f"not {_child(node.child, 3)}"
    if isinstance(node, Compare):
        return f"{node.column} {node.op} {_value(node.value)}"
    if isinstance(node, InList):
        return f"{node.column} {'not in' if node.negate else 'in'} [{', '.join(map(_value, node.values))}]"
    if isinstance(node, Flag):
        return node.column
    if isinstance(node, Box):
        nums = ", ".join(_num(v) for v in (node.x0, node.x1, node.y0, node.y1))
        return f"box({node.x}, {node.y}, {nums})"
    if isinstance(node, Lasso):
        points = ", ".join(f"({_num(x)}, {_num(y)})" for x, y in node.polygon)
        return f"lasso({node.x}, {node.y}, [{points}])"
    if isinstance(node, Similar):
        target = str(node.target) if isinstance(node.target, int) else to_text(node.target)
        return f"similar({target}, {node.k})"
    raise TypeError(f"not an expression node: {node!r}")


def normalise(text: str) -> str:
    """The canonical text of an expression (parse, then print)."""
    return to_text(parse(text))


def expression_mask(
    text: str, df: pd.DataFrame, *, similar: SimilarFn | None = None, max_seconds: float | None = None
) -> np.ndarray:
    """Parse and evaluate ``text`` on ``df``; raises ExpressionError for any bad input.

    ``max_seconds`` bounds the evaluation time (see ``data.query_eval.evaluate``); None: no bound.
    """
    return evaluate(parse(text), df, similar=similar, text=text, max_seconds=max_seconds)
