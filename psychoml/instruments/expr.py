"""A small, whitelisted expression language for index formulas and exclusion rules.

Instrument files define indices such as Hofstede's
``35 * (m05 - m03) + 35 * (m08 - m10) + C_mf`` and catch-item rules such as
``math >= 3 or good <= 2``.  They are parsed with :mod:`ast` and evaluated by
the interpreter below, never by :func:`eval`: only numbers, names, arithmetic,
comparisons, ``and``/``or``/``not``, conditional expressions and the functions
in :data:`FUNCTIONS` are accepted.  Evaluation is vectorised over NumPy arrays,
so a formula is applied to every respondent (or group) at once; a missing
operand gives a missing result.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

__all__ = ["FUNCTIONS", "Expression", "ExpressionError"]


class ExpressionError(ValueError):
    """A formula is not in the language, or names a symbol that is not defined."""


def _isin(x: Any, *values: Any) -> np.ndarray:
    arr = np.asarray(x, dtype=float)
    out = np.isin(arr, np.asarray(values, dtype=float)).astype(float)
    return np.where(np.isnan(arr), np.nan, out)


def _where(cond: Any, a: Any, b: Any) -> np.ndarray:
    c = np.asarray(cond, dtype=float)
    out = np.where(c != 0, a, b).astype(float)
    return np.where(np.isnan(c), np.nan, out)


def _rowmean(*args: Any) -> np.ndarray:
    stacked = np.vstack([np.broadcast_to(np.asarray(a, dtype=float), np.broadcast(*args).shape) for a in args])
    with np.errstate(invalid="ignore"):
        count = (~np.isnan(stacked)).sum(axis=0)
        total = np.nansum(stacked, axis=0)
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


#: The functions a formula may call (all vectorised; ``mean`` skips missing values).
FUNCTIONS: dict[str, Callable[..., Any]] = {
    "abs": np.abs,
    "sqrt": np.sqrt,
    "log": np.log,
    "exp": np.exp,
    "min": lambda *a: np.fmin.reduce(np.broadcast_arrays(*[np.asarray(x, float) for x in a])),
    "max": lambda *a: np.fmax.reduce(np.broadcast_arrays(*[np.asarray(x, float) for x in a])),
    "mean": _rowmean,
    "isin": _isin,
    "where": _where,
}

_BINOPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: np.add,
    ast.Sub: np.subtract,
    ast.Mult: np.multiply,
    ast.Div: np.divide,
    ast.Pow: np.power,
}
_CMPOPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Lt: np.less,
    ast.LtE: np.less_equal,
    ast.Gt: np.greater,
    ast.GtE: np.greater_equal,
    ast.Eq: np.equal,
    ast.NotEq: np.not_equal,
}


def _nan_logic(values: list[np.ndarray], op: str) -> np.ndarray:
    # Three-valued logic: a known deciding operand wins over a missing one (as in SQL / R's NA rules).
    arrs = np.broadcast_arrays(*[np.asarray(v, dtype=float) for v in values])
    known = [~np.isnan(a) for a in arrs]
    truth = [(a != 0) & k for a, k in zip(arrs, known)]
    if op == "or":
        any_true = np.logical_or.reduce(truth)
        all_known = np.logical_and.reduce(known)
        return np.where(any_true, 1.0, np.where(all_known, 0.0, np.nan))
    any_false = np.logical_or.reduce([k & ~t for k, t in zip(known, truth)])
    all_known = np.logical_and.reduce(known)
    return np.where(any_false, 0.0, np.where(all_known, 1.0, np.nan))


@dataclass(frozen=True)
class Expression:
    """A parsed formula.

    Parameters
    ----------
    source
        The formula text, e.g. ``"25 * (m02 - m07) + 20 * (m20 - m23) + C_pd"``.

    Raises
    ------
    ExpressionError
        If the text is not valid in the language (the message says which
        construct is not allowed).
    """

    source: str

    def __post_init__(self) -> None:
        _ = self.tree  # parse eagerly so a bad formula fails at load time

    @cached_property
    def tree(self) -> ast.expr:
        try:
            module = ast.parse(self.source.strip(), mode="eval")
        except SyntaxError as exc:
            raise ExpressionError(f"formula {self.source!r} is not a valid expression ({exc.msg})") from None
        for node in ast.walk(module.body):
            self._check_node(node)
        return module.body

    def _check_node(self, node: ast.AST) -> None:
        allowed = (
            ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.Compare, ast.Name, ast.Constant, ast.Call, ast.IfExp,
            ast.Load, ast.operator, ast.unaryop, ast.boolop, ast.cmpop,
        )
        if not isinstance(node, allowed):
            raise ExpressionError(f"formula {self.source!r}: {type(node).__name__} is not allowed")
        if isinstance(node, ast.BinOp) and type(node.op) not in _BINOPS:
            raise ExpressionError(f"formula {self.source!r}: operator {type(node.op).__name__} is not allowed")
        if isinstance(node, ast.UnaryOp) and not isinstance(node.op, (ast.USub, ast.UAdd, ast.Not)):
            raise ExpressionError(f"formula {self.source!r}: operator {type(node.op).__name__} is not allowed")
        if isinstance(node, ast.Compare) and any(type(op) not in _CMPOPS for op in node.ops):
            raise ExpressionError(f"formula {self.source!r}: only <, <=, >, >=, ==, != comparisons are allowed")
        if isinstance(node, ast.Constant) and (isinstance(node.value, bool) or not isinstance(node.value, (int, float))):
            raise ExpressionError(f"formula {self.source!r}: only numeric constants are allowed, got {node.value!r}")
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
                name = node.func.id if isinstance(node.func, ast.Name) else ast.unparse(node.func)
                raise ExpressionError(
                    f"formula {self.source!r}: unknown function {name!r} (allowed: {', '.join(sorted(FUNCTIONS))})"
                )
            if node.keywords:
                raise ExpressionError(f"formula {self.source!r}: keyword arguments are not allowed")

    @cached_property
    def symbols(self) -> frozenset[str]:
        """Names the formula reads (function names excluded)."""
        funcs = {n.func.id for n in ast.walk(self.tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
        return frozenset(
            n.id for n in ast.walk(self.tree) if isinstance(n, ast.Name) and not (n.id in funcs and n.id in FUNCTIONS)
        )

    def check_symbols(self, known: set[str] | frozenset[str]) -> None:
        """Raise :class:`ExpressionError` naming the first symbol not in ``known``."""
        unknown = sorted(self.symbols - set(known))
        if unknown:
            raise ExpressionError(f"formula {self.source!r} names unknown symbol(s) {', '.join(map(repr, unknown))}")

    def evaluate(self, env: Mapping[str, Any]) -> np.ndarray:
        """Evaluate with ``env`` mapping each symbol to a number or an array."""
        self.check_symbols(set(env))
        return np.asarray(self._eval(self.tree, env), dtype=float)

    def _eval(self, node: ast.expr, env: Mapping[str, Any]) -> Any:
        if isinstance(node, ast.Constant):
            return float(node.value)
        if isinstance(node, ast.Name):
            return np.asarray(env[node.id], dtype=float)
        if isinstance(node, ast.BinOp):
            with np.errstate(divide="ignore", invalid="ignore"):
                return _BINOPS[type(node.op)](self._eval(node.left, env), self._eval(node.right, env))
        if isinstance(node, ast.UnaryOp):
            val = np.asarray(self._eval(node.operand, env), dtype=float)
            if isinstance(node.op, ast.USub):
                return -val
            if isinstance(node.op, ast.Not):
                return np.where(np.isnan(val), np.nan, (val == 0).astype(float))
            return val
        if isinstance(node, ast.BoolOp):
            vals = [self._eval(v, env) for v in node.values]
            return _nan_logic(vals, "and" if isinstance(node.op, ast.And) else "or")
        if isinstance(node, ast.Compare):
            left = np.asarray(self._eval(node.left, env), dtype=float)
            parts = []
            for op, comp in zip(node.ops, node.comparators):
                right = np.asarray(self._eval(comp, env), dtype=float)
                res = _CMPOPS[type(op)](left, right).astype(float)
                parts.append(np.where(np.isnan(left) | np.isnan(right), np.nan, res))
                left = right
            return parts[0] if len(parts) == 1 else _nan_logic(parts, "and")
        if isinstance(node, ast.IfExp):
            return _where(self._eval(node.test, env), self._eval(node.body, env), self._eval(node.orelse, env))
        if isinstance(node, ast.Call):
            func = FUNCTIONS[node.func.id]  # type: ignore[attr-defined]  # _check_node admits only Name calls
            return func(*[self._eval(a, env) for a in node.args])
        raise ExpressionError(f"formula {self.source!r}: cannot evaluate {type(node).__name__}")  # pragma: no cover
