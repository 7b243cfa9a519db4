"""Open a selection elsewhere: ADQL, TOPCAT, and a Parquet file for Apple's Embedding Atlas.

The ADQL is a ``WHERE`` condition, the TOPCAT text an expression of its language (JEL), and the
Parquet file holds the neighbours Embedding Atlas shows.

The selection's expression (grammar: data/query.py) is translated node by node where the target
language has the same meaning: comparisons, ``and``/``or``/``not``, ``in [...]`` and ``box(...)``
(two ``BETWEEN`` ranges). A ``lasso`` or ``similar()`` has no equivalent (ADQL's ``CONTAINS`` is for
sky positions; kNN in our embedding exists nowhere else): translating one raises
``TranslationError`` naming it. Strings are quoted with their quotes doubled (ADQL) or escaped
(TOPCAT), numbers printed exactly (``repr``), so the text selects what the dashboard selected on a
table with the same columns. Missing values: a comparison fails on NaN here as on NULL in SQL, but
our ``!=`` and ``not`` select a NaN where SQL's ``<>`` and ``NOT`` leave a NULL out.

The Embedding Atlas file (``embedding-atlas FILE --x umap_x --y umap_y --neighbors neighbors``)
holds the exported rows, their UMAP position and, per row, its ``ATLAS_K`` nearest neighbours
among the exported rows in the learned embedding: ``{"ids": [row indices in the file],
"distances": [...]}``, the format that tool documents.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from data import query as ex
from data.storage import atomic_write
from desa_core.neighbours import NeighbourIndex

#: Neighbours listed per star in the Embedding Atlas file.
ATLAS_K = 15


class TranslationError(ValueError):
    """A selection that the target language cannot express (the message says which part)."""


def _number(value: float | int) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and not math.isfinite(value):
        raise TranslationError(f"the value {value!r} has no literal in ADQL or TOPCAT")
    return repr(value)


def _adql_value(value: object) -> str:
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return _number(value)  # type: ignore[arg-type]


def _topcat_value(value: object) -> str:
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, bool):
        return "true" if value else "false"
    return _number(value)  # type: ignore[arg-type]


def _untranslatable(node: ex.Node) -> TranslationError:
    kind = "lasso()" if isinstance(node, ex.Lasso) else "similar()"
    return TranslationError(f"{kind} has no equivalent there; select with box() or conditions instead")


def _adql_compare(node: ex.Compare) -> str:
    op = {"==": "=", "!=": "<>"}.get(node.op, node.op)
    return f"{node.column} {op} {_adql_value(node.value)}"


def _adql_in(node: ex.InList) -> str:
    values = ", ".join(_adql_value(v) for v in node.values)
    return f"{node.column} {'NOT IN' if node.negate else 'IN'} ({values})"


def _topcat_compare(node: ex.Compare) -> str:
    if isinstance(node.value, str):
        text = f"equals({node.column}, {_topcat_value(node.value)})"
        return text if node.op == "==" else f"!{text}"
    return f"{node.column} {node.op} {_topcat_value(node.value)}"


def _topcat_in(node: ex.InList) -> str:
    parts = [_topcat_compare(ex.Compare(node.column, "==", value)) for value in node.values] or ["false"]
    text = "(" + " || ".join(parts) + ")"
    return f"!{text}" if node.negate else text


@dataclass(frozen=True)
class _Language:
    """How one target language writes each kind of node; :func:`_translate` walks the tree."""

    compare: Callable[[ex.Compare], str]
    in_list: Callable[[ex.InList], str]
    flag: Callable[[str], str]
    #: ``column``, low and high bound (already printed) -> a closed range condition.
    between: Callable[[str, str, str], str]
    and_: str
    or_: str
    negate: Callable[[str], str]


_ADQL = _Language(
    compare=_adql_compare,
    in_list=_adql_in,
    flag=lambda column: f"{column} = 1",
    between=lambda column, low, high: f"{column} BETWEEN {low} AND {high}",
    and_=" AND ",
    or_=" OR ",
    negate=lambda text: f"NOT ({text})",
)
_TOPCAT = _Language(
    compare=_topcat_compare,
    in_list=_topcat_in,
    flag=lambda column: column,
    between=lambda column, low, high: f"{column} >= {low} && {column} <= {high}",
    and_=" && ",
    or_=" || ",
    negate=lambda text: f"!({text})",
)


def _translate(node: ex.Node, language: _Language) -> str:
    if isinstance(node, ex.Compare):
        return language.compare(node)
    if isinstance(node, ex.InList):
        return language.in_list(node)
    if isinstance(node, ex.Flag):
        return language.flag(node.column)
    if isinstance(node, ex.Box):
        x0, x1 = sorted((node.x0, node.x1))
        y0, y1 = sorted((node.y0, node.y1))
        return language.and_.join(
            (
                language.between(node.x, _number(x0), _number(x1)),
                language.between(node.y, _number(y0), _number(y1)),
            )
        )
    if isinstance(node, ex.Not):
        return language.negate(_translate(node.child, language))
    if isinstance(node, (ex.And, ex.Or)):
        word = language.and_ if isinstance(node, ex.And) else language.or_
        return word.join(f"({_translate(child, language)})" for child in node.children)
    raise _untranslatable(node)


def to_adql(node: ex.Node) -> str:
    """The ADQL ``WHERE`` condition of an expression tree (TranslationError for lasso/similar)."""
    return _translate(node, _ADQL)


def to_topcat(node: ex.Node) -> str:
    """The TOPCAT (JEL) expression of an expression tree (TranslationError for lasso/similar)."""
    return _translate(node, _TOPCAT)


def translations(expression: str) -> dict[str, str]:
    """``{"ADQL": ..., "TOPCAT": ...}`` of a selection's text; a part that cannot be says why."""
    if not expression.strip():
        return {}
    node = ex.parse(expression)
    out = {}
    for name, translate in (("ADQL", to_adql), ("TOPCAT", to_topcat)):
        try:
            out[name] = translate(node)
        except TranslationError as exc:
            out[name] = f"(not expressible: {exc})"
    return out


def atlas_frame(frame: pd.DataFrame, vectors: np.ndarray, *, k: int = ATLAS_K) -> pd.DataFrame:
    """``frame`` (the exported rows, with ``umap_x``/``umap_y``) plus the ``neighbors`` column.

    ``vectors`` (len(frame), D) are those rows' embeddings; the ids are row positions in ``frame``.
    """
    if len(frame) != len(vectors):
        raise ValueError(f"{len(frame)} rows but {len(vectors)} embedding vectors")
    out = frame.reset_index(drop=True).copy()
    if len(out) < 2:
        out["neighbors"] = [{"ids": [], "distances": []} for _ in range(len(out))]
        return out
    index = NeighbourIndex().fit(vectors)
    found = index.query(vectors, min(k + 1, len(out)))
    neighbours = []
    for i, (rows, distances) in enumerate(zip(found.rows, found.distances, strict=True)):
        keep = rows != i
        neighbours.append(
            {
                "ids": rows[keep][:k].astype(int).tolist(),
                "distances": distances[keep][:k].astype(float).tolist(),
            }
        )
    out["neighbors"] = neighbours
    return out


def write_atlas(frame: pd.DataFrame, path: Path, meta: dict[str, str]) -> Path:
    """Write ``atlas_frame``'s output as Parquet atomically, the provenance in the file's metadata."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.replace_schema_metadata(
        {**(table.schema.metadata or {}), b"desa_provenance": json.dumps(meta)}
    )
    return atomic_write(Path(path), lambda tmp: pq.write_table(table, tmp))
