"""The selection-expression parser and evaluator, its round trip, and DashboardState.apply_expression."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from dashboard.selection import box_term, expression_term, expression_text, lasso_term, mask_from_terms
from dashboard.state import DashboardState
from data.query import (
    And,
    Box,
    Compare,
    ExpressionError,
    InList,
    Not,
    Or,
    Similar,
    expression_mask,
    normalise,
    parse,
    to_text,
)


@pytest.fixture
def df() -> pd.DataFrame:
    """Six stars: numbers (one NaN), a label, a flag and an explicit row column."""
    return pd.DataFrame(
        {
            "row": np.arange(6, dtype=np.int32),
            "x": np.array([0.0, 1.0, 2.0, 3.0, np.nan, 5.0], dtype=np.float32),
            "y": np.array([0.0, 1.0, 0.0, 1.0, 0.0, 1.0], dtype=np.float32),
            "binary_prob": np.array([0.95, 0.1, 0.91, 0.5, 0.99, 0.0], dtype=np.float32),
            "pop": pd.Categorical(["young", "single", "young", "giant", "single", "it's"]),
            "flag": [True, False, True, False, False, True],
        }
    )


def rows(mask: np.ndarray) -> list[int]:
    return np.flatnonzero(mask).tolist()


@pytest.mark.parametrize(
    ("text", "selected"),
    [
        ("binary_prob > 0.9", [0, 2, 4]),
        ("binary_prob >= 0.5 and x < 3", [0, 2]),
        ("x <= 1 or x == 5", [0, 1, 5]),
        ("x != 1", [0, 2, 3, 4, 5]),  # NaN != 1
        ("not x > 1", [0, 1, 4]),  # NaN fails '>', so 'not' selects it
        ("pop == 'young'", [0, 2]),
        ('pop != "young"', [1, 3, 4, 5]),
        ("pop in ['giant', 'single']", [1, 3, 4]),
        ("pop not in ['giant', 'single']", [0, 2, 5]),
        ("pop == 'it\\'s'", [5]),
        ("row in [1, 2]", [1, 2]),
        ("row in []", []),
        ("x in [0, 3.0]", [0, 3]),
        ("flag", [0, 2, 5]),
        ("flag == false", [1, 3, 4]),
        ("not (flag or pop == 'giant')", [1, 4]),
        ("x > -1 and y < 0.5 or pop == 'giant'", [0, 2, 3]),  # 'and' binds tighter than 'or'
        ("x > -1 and (y < 0.5 or pop == 'giant')", [0, 2, 3]),
        ("y > 0.5 and (x < 2 or x > 4)", [1, 5]),
        ("box(x, y, 0.5, 3, 0.5, 1)", [1, 3]),  # edges included
        ("box(x, y, 3, 0.5, 1, 0.5)", [1, 3]),  # any corner order
        ("lasso(x, y, [(-0.5, -0.5), (2.5, -0.5), (-0.5, 2.5)])", [0, 1, 2]),
        ("lasso(x, y, [[-0.5, -0.5], [2.5, -0.5], [-0.5, 2.5],])", [0, 1, 2]),
        ("binary_prob > 1e-1 and x >= .5", [2, 3]),
        (f"x < {2**70} and row not in [{2**64}, {-(2**80)}]", [0, 1, 2, 3, 5]),  # beyond int64
        ("x < " + "9" * 100, [0, 1, 2, 3, 5]),  # the longest number accepted
    ],
)
def test_good_expressions_select_the_right_rows(df: pd.DataFrame, text: str, selected: list[int]) -> None:
    assert rows(expression_mask(text, df)) == selected
    # Printing and parsing again gives the same tree and the same mask.
    canonical = normalise(text)
    assert parse(canonical) == parse(text)
    assert rows(expression_mask(canonical, df)) == selected


@pytest.mark.parametrize(
    ("text", "message", "position"),
    [
        ("", "empty expression", 1),
        ("binary_pro > 0.9", "unknown column 'binary_pro'; did you mean 'binary_prob'?", 1),
        ("x > ", "expected a number after the comparison", 5),
        ("x = 1", "compare with '=='", 3),
        ("x > 1 && y < 2", "use 'and', 'or', 'not'", 7),
        ("x > 1 y < 2", "join conditions with 'and' or 'or'", 7),
        ("(x > 1", "expected ')' to close the '(' at position 1", 7),
        ("x > 1)", "no matching '('", 6),
        ("pop > 'young'", "'>' compares numbers", 1),
        ("pop == young", "quote text as 'young'", 8),
        ("pop == 'old'", "has no label 'old'; its labels are", 1),
        ("x == 'a'", "compare it with a number, not text", 1),
        ("pop > 1", "holds text labels, not numbers", 1),
        ("x", "write a condition such as 'x > 0'", 1),
        ("flag == 1", "holds true/false values, not numbers", 1),
        ("0.9 < binary_prob", "expected a column name before the value", 1),
        ("x in [1, 'a']", "mixes numbers, text", 10),
        ("pop == 'young", "the string is not closed", 8),
        ("box(x, y, 1, 2, 3)", "expected ',' after y0 in box()", 18),
        ("box(x, 1, 1, 2, 3, 4)", "expected a column name as the second argument of box()", 8),
        ("lasso(x, y, [(0, 0), (1, 1)])", "a lasso needs at least 3 vertices, got 2", 1),
        ("similar(1, 5)", "needs the survey's embedding", 1),
        ("x > 1e999", "too large", 5),
        ("not " * 70 + "flag", "nested deeper than", 261),
        ("x > 1 and", "expected a column name, '(' or 'not', found the end", 10),
        ("x > " + "9" * 4400, "a number of 4,400 characters; write at most 100", 5),  # int() limit
        ("x > " + "1" * 101, "a number of 101 characters", 5),
        ("x > 1e-" + "9" * 200, "a number of 203 characters", 5),
        ("x > \u0663", "unexpected character '\u0663'", 5),  # Arabic-Indic three: ASCII digits only
        ("row == \u00b2", "unexpected character '\u00b2'", 8),
        ("x > nan", "expected a value, found the name 'nan'", 5),
        ("x > -inf", "expected a number after the comparison, found 'inf'", 6),
        ("x > 1 or " * 100 + "flag", "more than 100 conditions", 901),
        ("lasso(x, y, [" + "(0, 0), " * 501 + "])", "a lasso of more than 500 vertices", 4014),
        ("a" * 5000 + " > 1", "unknown column 'aaaa", 1),
        ("similar(" * 5 + "flag" + ", 2)" * 5, "more than 4 similar() in one expression", 33),
        ("similar(1, 2) or " * 4 + "similar(2, 2)", "more than 4 similar() in one expression", 69),
        ("similar(1, 10001)", "a whole number from 1 to 10000 for k", 12),
    ],
)
def test_bad_expressions_name_position_and_fix(
    df: pd.DataFrame, text: str, message: str, position: int
) -> None:
    with pytest.raises(ExpressionError) as info:
        expression_mask(text, df)
    assert message in str(info.value)
    assert info.value.pos == position - 1
    assert f"at position {position} " in str(info.value)


def test_messages_quote_long_text_cut_short(df: pd.DataFrame) -> None:
    for text in ("a" * 5000 + " > 1", "x > 1 " + "b" * 5000, "pop == '" + "c" * 5000 + "'", "1" * 90):
        with pytest.raises(ExpressionError) as info:
            expression_mask(text, df)
        assert len(str(info.value)) < 300, str(info.value)[:400]


def test_evaluation_stops_at_its_time_limit(df: pd.DataFrame) -> None:
    assert rows(expression_mask("flag", df, max_seconds=60)) == [0, 2, 5]
    with pytest.raises(ExpressionError, match=r"took more than 0 s for 6 stars; use fewer conditions"):
        expression_mask("flag", df, max_seconds=0)


def test_time_runs_out_between_nested_similar_queries(df: pd.DataFrame) -> None:
    """Each kNN query is one uninterruptible call: the budget is checked before every one."""
    calls = []

    def slow_similar(rows: np.ndarray, k: int) -> np.ndarray:
        calls.append(k)
        time.sleep(0.3)
        return rows[:k]

    with pytest.raises(ExpressionError, match=r"took more than 0\.2 s"):
        expression_mask("similar(similar(similar(flag, 3), 2), 1)", df, similar=slow_similar, max_seconds=0.2)
    assert calls == [3], "a kNN query ran after the time budget was spent"


def test_no_code_is_ever_executed(df: pd.DataFrame) -> None:
    for text in ("__import__('os').system('true')", "x.__class__", "x > 1; import os", "lambda: 1"):
        with pytest.raises(ExpressionError):
            expression_mask(text, df)


def test_tree_shape_and_precedence() -> None:
    tree = parse("a > 1 or not b == 'x' and c in [1, 2]")
    assert tree == Or((Compare("a", ">", 1), And((Not(Compare("b", "==", "x")), InList("c", (1, 2))))))
    assert to_text(tree) == "a > 1 or not b == 'x' and c in [1, 2]"
    assert (
        to_text(parse("(a > 1 or b > 2) and not (c > 3 or d > 4)"))
        == "(a > 1 or b > 2) and not (c > 3 or d > 4)"
    )
    assert parse("similar(12, 5)") == Similar(12, 5)
    assert parse("similar(a > 1 and b < 2, 5)") == Similar(
        And((Compare("a", ">", 1), Compare("b", "<", 2))), 5
    )
    assert parse("box(u, v, -1, 2.5, 0, 1e3)") == Box("u", "v", -1.0, 2.5, 0.0, 1000.0)


def test_numbers_print_exactly(df: pd.DataFrame) -> None:
    value = 0.1 + 0.2  # 0.30000000000000004
    text = to_text(Compare("x", ">", value))
    assert parse(text) == Compare("x", ">", value)


def test_round_trip_of_drawn_terms_in_every_mode(df: pd.DataFrame) -> None:
    """expression_text(terms) parses back to the mask the terms make, through every mode."""
    triangle = [[-0.5123456789, -0.5], [2.5, -0.5], [-0.5, 2.5]]
    cases = [
        [("replace", box_term("x", "y", (0.3, 0.0, 3.1, 1.0)))],
        [("replace", lasso_term("x", "y", triangle)), ("add", box_term("x", "y", (4.5, 0.5, 5.5, 1.5)))],
        [
            ("replace", box_term("x", "y", (0.0, 0.0, 5.0, 1.0))),
            ("subtract", lasso_term("x", "y", triangle)),
            ("intersect", expression_term("binary_prob < 0.9 or pop == 'it\\'s'")),
        ],
        [
            ("replace", expression_term("flag")),
            ("add", box_term("x", "y", (2.9, 0.9, 3.1, 1.1))),
            ("intersect", expression_term("x > 0 or y > 0")),
            ("subtract", expression_term("row in [5]")),
        ],
    ]
    for terms in cases:
        text = expression_text(terms)
        expected = mask_from_terms(df, terms)
        assert rows(expression_mask(text, df)) == rows(expected), text
    text = expression_text(cases[2])
    assert text.startswith("box(x, y, 0.0, 5.0, 0.0, 1.0) and not lasso(x, y, [(-0.512346, -0.5)")
    assert text.endswith("and (binary_prob < 0.9 or pop == 'it\\'s')")
    assert expression_text(cases[1]).count(" or ") == 1
    assert (
        expression_text(cases[3])
        == "(flag or box(x, y, 2.9, 3.1, 0.9, 1.1)) and (x > 0 or y > 0) and not row in [5]"
    )


# --- DashboardState.apply_expression -------------------------------------------------------------
def test_apply_expression_combines_by_mode_and_shows_the_expression(df: pd.DataFrame) -> None:
    state = DashboardState(catalog=df)
    state.apply_expression("binary_prob > 0.9")
    assert state.n_selected == 3 and state.expression == "binary_prob > 0.9"
    state.mode = "subtract"
    state.apply_expression("pop=='single'")
    assert rows(state.mask) == [0, 2]
    assert state.expression == "binary_prob > 0.9 and not pop == 'single'"
    np.testing.assert_array_equal(expression_mask(state.expression, df), state.mask)
    state.apply_expression("x < 10", mode="replace")
    assert state.n_selected == 5 and state.mode == "subtract"
    state.apply_expression("  ")
    assert state.mask is None and state.expression == ""


def test_apply_expression_error_leaves_the_selection(df: pd.DataFrame) -> None:
    state = DashboardState(catalog=df)
    state.apply_expression("flag")
    with pytest.raises(ExpressionError, match="unknown column 'nope'"):
        state.apply_expression("nope > 1")
    assert rows(state.mask) == [0, 2, 5] and state.expression == "flag"


def test_apply_expression_similar_uses_the_state_callable(df: pd.DataFrame) -> None:
    calls = []

    def similar(query: np.ndarray, k: int) -> np.ndarray:
        calls.append((query.tolist(), k))
        return np.array([3, 4])

    state = DashboardState(catalog=df, similar=similar)
    state.apply_expression("similar(1, 2)")
    assert rows(state.mask) == [3, 4] and calls == [([1], 2)]
    state.apply_expression("similar(pop == 'young', 2)")
    assert calls[-1] == ([0, 2], 2)
    with pytest.raises(ExpressionError, match="no star with row 99"):
        state.apply_expression("similar(99, 2)")
    with pytest.raises(ExpressionError, match="selects no stars"):
        state.apply_expression("similar(x > 100, 2)")
    with pytest.raises(ExpressionError, match="from 1 to"):
        state.apply_expression("similar(1, 0)")
