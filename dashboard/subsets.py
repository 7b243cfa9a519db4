"""Named subsets: selections kept under a name and a colour, each with the expression that made it.

A subset is ``(name, expression)``; its colour is given by its place in the list
(``SUBSET_COLOURS``), so nothing a user or a link sends becomes a colour or style. Its stars are
recomputed from the expression (grammar: data/query.py), never stored as a row list, so a subset
is reproducible on another release of the catalogue and travels in a URL
(``subset=name:expression``, dashboard/urlstate.py). Set algebra between two subsets builds the
expression of the result (``(A) or (B)``, ``(A) and (B)``, ``(A) and not (B)``), so a derived subset
is as reproducible as its parts.

Bounds: at most ``MAX_SUBSETS`` subsets, names of at most ``MAX_NAME`` characters from a small
alphabet (``check_name``), expressions under the query language's own limits.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from data import query as ex

#: Subset colours, by position: dark or muted ones (Paul Tol's palettes) that differ from the
#: population colours (data/schema.py), the selection's magenta and the grey density (our choice);
#: none black, which vanished on the dark theme and in dense regions.
SUBSET_COLOURS = ("#332288", "#AA4499", "#999933", "#882255", "#8c6d31", "#117733", "#DDCC77", "#44AA99")
MAX_SUBSETS = len(SUBSET_COLOURS)
MAX_NAME = 32
#: Letters, digits, space and ``_.+-``, starting with a letter or digit (no ":" so a URL value
#: ``name:expression`` splits at its first colon).
_NAME = re.compile(rf"[A-Za-z0-9][A-Za-z0-9 _.+-]{{0,{MAX_NAME - 1}}}")

#: Set operations -> how the two expressions join.
OPERATIONS = {"union": "or", "intersection": "and", "difference": "and not"}


class SubsetError(ValueError):
    """A name, expression or operation the subsets refuse (the message says why)."""


@dataclass(frozen=True)
class Subset:
    """A named selection: its name and the canonical text of the expression selecting its stars."""

    name: str
    expression: str


def check_name(name: str) -> str:
    """``name`` stripped, if it is a valid subset name; else SubsetError."""
    text = str(name).strip()
    if not _NAME.fullmatch(text):
        raise SubsetError(
            f"a subset name is 1 to {MAX_NAME} letters, digits, spaces and _.+- "
            "(starting with a letter or digit)"
        )
    return text


def colour_of(subsets: list[Subset], name: str) -> str:
    """The colour of subset ``name``: by its position in ``subsets``."""
    for i, subset in enumerate(subsets):
        if subset.name == name:
            return SUBSET_COLOURS[i % len(SUBSET_COLOURS)]
    raise SubsetError(f"no subset named {name!r}")


def find(subsets: list[Subset], name: str) -> Subset:
    """The subset called ``name``; SubsetError when there is none."""
    for subset in subsets:
        if subset.name == name:
            return subset
    raise SubsetError(f"no subset named {name!r}")


def with_subset(subsets: list[Subset], name: str, expression: str) -> list[Subset]:
    """``subsets`` with ``(name, expression)`` added, or replacing the one of that name.

    The expression is parsed (ExpressionError when invalid) and stored in canonical text.
    """
    name = check_name(name)
    if not str(expression).strip():
        raise SubsetError("nothing selected: select stars before saving a subset")
    subset = Subset(name, ex.normalise(expression))
    kept = [s for s in subsets if s.name != name]
    if len(kept) == len(subsets) and len(subsets) >= MAX_SUBSETS:
        raise SubsetError(f"at most {MAX_SUBSETS} subsets; remove one first")
    if len(kept) == len(subsets):
        return [*subsets, subset]
    return [subset if s.name == name else s for s in subsets]


def without(subsets: list[Subset], name: str) -> list[Subset]:
    """``subsets`` without the one called ``name``."""
    find(subsets, name)
    return [s for s in subsets if s.name != name]


def combined_expression(a: Subset, b: Subset, operation: str) -> str:
    """The expression of ``a`` ``operation`` ``b`` (union, intersection, difference), canonical text."""
    if operation not in OPERATIONS:
        raise SubsetError(f"unknown operation {operation!r}; one of {', '.join(OPERATIONS)}")
    left, right = ex.parse(a.expression), ex.parse(b.expression)
    if operation == "union":
        node = ex.or_(left, right)
    elif operation == "intersection":
        node = ex.and_(left, right)
    else:
        node = ex.and_(left, ex.Not(right))
    return ex.normalise(ex.to_text(node))


def combined_name(a: Subset, b: Subset, operation: str) -> str:
    """A default name for the result, e.g. ``A ∩ B`` shortened to a valid name (``A and B``)."""
    word = {"union": "or", "intersection": "and", "difference": "not"}[operation]
    text = f"{a.name} {word} {b.name}"
    return text[:MAX_NAME].strip()


#: Characters of an expression shown in a subset's entry (the whole text is in the URL and exports).
SHOWN_CHARS = 160


def shorten_expression(text: str, limit: int = SHOWN_CHARS) -> str:
    """``text`` cut to ``limit`` characters with an ellipsis, for display only."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
