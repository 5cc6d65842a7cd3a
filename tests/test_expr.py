"""The whitelisted expression language for index formulas and exclusion rules."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from psychoml.instruments.expr import Expression, ExpressionError

finite = st.floats(min_value=-1e3, max_value=1e3, allow_nan=False)


@given(a=finite, b=finite, c=finite)
def test_arithmetic_matches_python(a, b, c):
    e = Expression("35 * (a - b) + 25 * (c - a) + 2 ** 2 - -b / 4")
    assert e.evaluate({"a": a, "b": b, "c": c}) == pytest.approx(35 * (a - b) + 25 * (c - a) + 4 + b / 4)


def test_vectorised_and_missing_propagates():
    e = Expression("x + y")
    out = e.evaluate({"x": np.array([1.0, np.nan, 3.0]), "y": np.array([1.0, 1.0, np.nan])})
    assert out[0] == 2 and np.isnan(out[1]) and np.isnan(out[2])


def test_three_valued_logic():
    e = Expression("x >= 3 or y <= 2")
    out = e.evaluate({"x": np.array([4, 1, np.nan, np.nan, 1]), "y": np.array([5, 1, 1, 5, np.nan])})
    # true wins over missing in `or`; false-or-missing stays missing
    assert out[0] == 1 and out[1] == 1 and out[2] == 1 and math.isnan(out[3]) and math.isnan(out[4])
    a = Expression("x >= 3 and y <= 2").evaluate({"x": np.array([1.0, np.nan]), "y": np.array([np.nan, 1.0])})
    assert a[0] == 0 and math.isnan(a[1])


def test_functions_and_conditionals():
    env = {"q1": np.array([1, 2, 3, 4.0]), "q2": np.array([3, 4, 1, 2.0])}
    assert Expression("1 + isin(q1, 2, 4) + isin(q2, 2, 4)").evaluate(env).tolist() == [1, 3, 1, 3]
    assert Expression("where(q1 > q2, q1, q2)").evaluate(env).tolist() == [3, 4, 3, 4]
    assert Expression("q1 if q1 > 2 else 0").evaluate(env).tolist() == [0, 0, 3, 4]
    assert Expression("mean(q1, q2)").evaluate({"q1": np.array([1.0, np.nan]), "q2": np.array([3.0, 5.0])}).tolist() == [2, 5]
    assert Expression("max(q1, q2) - min(q1, q2)").evaluate(env).tolist() == [2, 2, 2, 2]
    assert Expression("not q1 > 2").evaluate(env).tolist() == [1, 1, 0, 0]


def test_symbols_exclude_function_names():
    assert Expression("mean(a, b) + abs(c) + K").symbols == {"a", "b", "c", "K"}


@pytest.mark.parametrize(
    "source",
    [
        "__import__('os')",
        "a.b",
        "a[0]",
        "lambda: 1",
        "open('x')",
        "'text'",
        "True + 1",
        "[1, 2]",
        "a if",
        "a // 2",
        "a % 2",
        "a in (1, 2)",
        "f(x=1)",
        "(yield)",
    ],
)
def test_outside_the_language_is_rejected(source):
    with pytest.raises(ExpressionError):
        Expression(source)


def test_unknown_symbol_named():
    with pytest.raises(ExpressionError, match="unknown symbol\\(s\\) 'zz'"):
        Expression("a + zz").evaluate({"a": 1})
