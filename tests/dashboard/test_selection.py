"""Mask algebra, box and lasso masks, and the readable expression."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dashboard.selection import (
    box_mask,
    box_term,
    combine,
    expression_text,
    lasso_mask,
    lasso_term,
    mask_from_terms,
    round_geometry,
)
from data.query import MAX_VERTICES, expression_mask

OLD = np.array([True, True, False, False])
NEW = np.array([True, False, True, False])


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("replace", [True, False, True, False]),
        ("add", [True, True, True, False]),
        ("intersect", [True, False, False, False]),
        ("subtract", [False, True, False, False]),
    ],
)
def test_combine_modes(mode: str, expected: list[bool]) -> None:
    np.testing.assert_array_equal(combine(OLD, NEW, mode), expected)


def test_combine_from_nothing_treats_old_as_empty() -> None:
    np.testing.assert_array_equal(combine(None, NEW, "add"), NEW)
    assert not combine(None, NEW, "intersect").any()


def test_combine_rejects_unknown_mode_and_shape() -> None:
    with pytest.raises(ValueError, match="xor"):
        combine(OLD, NEW, "xor")
    with pytest.raises(ValueError, match="shapes differ"):
        combine(OLD, NEW[:3], "add")


def test_box_mask_includes_edges_excludes_nan_and_accepts_any_corner_order(
    grid: pd.DataFrame,
) -> None:
    mask = box_mask(grid, "x", "y", (2.0, 1.0, 1.0, 2.0))  # corners swapped, as on an inverted axis
    assert mask.tolist() == [False] * 4 + [True, True] + [False, True, True] + [False]


def test_lasso_mask_triangle(grid: pd.DataFrame) -> None:
    triangle = [[-0.5, -0.5], [2.7, -0.5], [-0.5, 2.7]]  # below the line x + y = 2.2
    mask = lasso_mask(grid, "x", "y", triangle)
    inside = (grid["x"] + grid["y"] <= 2.0).to_numpy()
    np.testing.assert_array_equal(mask, inside)


def test_lasso_mask_needs_three_vertices(grid: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="3"):
        lasso_mask(grid, "x", "y", [[0, 0], [1, 1]])


def test_a_long_drawn_lasso_is_thinned_so_its_text_parses_back(grid: pd.DataFrame) -> None:
    angle = np.linspace(0, 2 * np.pi, 3 * MAX_VERTICES, endpoint=False)
    circle = np.column_stack([1 + 1.2 * np.cos(angle), 1 + 1.2 * np.sin(angle)])
    term = lasso_term("x", "y", circle)
    assert len(term["lasso"]["polygon"]) == MAX_VERTICES
    text = expression_text([("replace", term)])
    mask = lasso_mask(grid, "x", "y", circle)
    np.testing.assert_array_equal(expression_mask(text, grid), mask)
    assert mask.sum() == 5  # the centre and its four neighbours: the thinned circle still holds them


def test_expression_text_is_readable_and_replays_to_the_same_mask(grid: pd.DataFrame) -> None:
    terms = [
        ("replace", box_term("x", "y", (0, 0, 1.5, 2))),
        ("subtract", box_term("x", "y", (0, 1, 0, 1))),
        ("add", lasso_term("x", "y", [[1.5, 1.5], [2.5, 1.5], [2.5, 2.5], [1.5, 2.5]])),
    ]
    text = expression_text(terms)
    assert text == (
        "box(x, y, 0.0, 1.5, 0.0, 2.0) and not box(x, y, 0.0, 0.0, 1.0, 1.0) "
        "or lasso(x, y, [(1.5, 1.5), (2.5, 1.5), (2.5, 2.5), (1.5, 2.5)])"
    )
    mask = mask_from_terms(grid, terms)
    assert mask.tolist() == [True, True, False, False, True, False, True, True, True, False]
    np.testing.assert_array_equal(expression_mask(text, grid), mask)
    assert expression_text([]) == ""


def test_drawn_geometry_is_rounded_so_text_and_mask_agree() -> None:
    """A box edge drawn 1e-9 beyond a star selects it exactly as the printed (rounded) box does."""
    df = pd.DataFrame({"x": [1.0000004, 2.0], "y": [0.0, 0.0]})
    bounds = (1.00000049, -1.0, 3.0, 1.0)  # rounds to x0 = 1.0, which includes the first star
    term = box_term("x", "y", bounds)
    assert term["box"]["bounds"] == [1.0, -1.0, 3.0, 1.0]
    drawn = box_mask(df, "x", "y", bounds)
    np.testing.assert_array_equal(drawn, expression_mask(expression_text([("replace", term)]), df))
    assert drawn.tolist() == [True, True]
    assert round_geometry([123.456789, -0.000123456789]).tolist() == [123.457, -0.000123457]
