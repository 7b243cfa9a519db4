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
)

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


def test_expression_text_is_readable_and_replays_to_the_same_mask(grid: pd.DataFrame) -> None:
    terms = [
        ("replace", box_term("x", "y", (0, 0, 1.5, 2))),
        ("subtract", box_term("x", "y", (0, 1, 0, 1))),
        ("add", lasso_term("x", "y", [[1.5, 1.5], [2.5, 1.5], [2.5, 2.5], [1.5, 2.5]])),
    ]
    text = expression_text(terms)
    assert text.startswith("((x in [0, 1.5] and y in [0, 2]) and not (x in [0, 0] and y in [1, 1]))")
    assert text.endswith("or ((x, y) inside lasso of 4 vertices)")
    mask = mask_from_terms(grid, terms)
    assert mask.tolist() == [True, True, False, False, True, False, True, True, True, False]
    assert expression_text([]) == ""
