"""Shared foundations for result objects and boundary validation of tabular data.

Every statistic in psychoml returns a frozen dataclass deriving from
:class:`Result`: a readable ``repr`` and ``to_frame()``.  The checks below are
what every public statistic runs on its ``data`` argument, so that bad input
is reported the same way everywhere (naming the argument and the column).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import pandas as pd

from psychoml.errors import DataError

__all__ = ["Result", "check_not_constant", "numeric_frame"]


def _fmt(value: Any) -> str:
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.4f}"
    if isinstance(value, pd.DataFrame):
        return f"<DataFrame {value.shape[0]}x{value.shape[1]}>"
    if isinstance(value, pd.Series):
        return f"<Series len={len(value)}>"
    if isinstance(value, np.ndarray):
        return f"<array shape={value.shape}>"
    if isinstance(value, tuple) and value and all(isinstance(v, (float, np.floating)) for v in value):
        return "(" + ", ".join(f"{float(v):.4f}" for v in value) + ")"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


@dataclasses.dataclass(frozen=True, repr=False)
class Result:
    """Base of all ``<Statistic>Result`` objects.

    Subclasses are frozen dataclasses; they implement :meth:`to_frame`.  The
    ``repr`` lists the public fields, floats to four decimals and tables by
    shape, so a result reads well at the prompt.
    """

    def to_frame(self) -> pd.DataFrame:  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self) -> str:
        parts = []
        for f in dataclasses.fields(self):
            if f.name.startswith("_") or not f.repr:
                continue
            parts.append(f"{f.name}={_fmt(getattr(self, f.name))}")
        return f"{type(self).__name__}(" + ", ".join(parts) + ")"


def numeric_frame(
    data: Any,
    *,
    name: str = "data",
    min_columns: int = 1,
    min_rows: int = 1,
    drop_all_missing_rows: bool = False,
) -> pd.DataFrame:
    """Return ``data`` as a float DataFrame or raise :class:`DataError`.

    Parameters
    ----------
    data
        DataFrame, 2-D array or anything ``pd.DataFrame`` accepts.
    name
        Argument name used in error messages.
    min_columns, min_rows
        Minimum shape; messages say which is short.
    drop_all_missing_rows
        If False (default) rows with every value missing are an error that
        names them; if True they are dropped.
    """
    if isinstance(data, pd.DataFrame):
        frame = data.copy()
    else:
        try:
            arr = np.asarray(data)
        except Exception as exc:  # pragma: no cover - defensive
            raise DataError(f"{name}: cannot be read as a table ({exc})") from exc
        if arr.ndim != 2:
            raise DataError(f"{name}: expected a 2-D table, got an array with {arr.ndim} dimension(s)")
        frame = pd.DataFrame(arr, columns=[f"V{i + 1}" for i in range(arr.shape[1])])
    bad = [str(c) for c in frame.columns if not (pd.api.types.is_numeric_dtype(frame[c]) or pd.api.types.is_bool_dtype(frame[c]))]
    if bad:
        raise DataError(f"{name}: non-numeric column(s) {', '.join(repr(b) for b in bad)}; convert or drop them")
    frame = frame.astype(float)
    if frame.shape[1] < min_columns:
        raise DataError(f"{name}: needs at least {min_columns} column(s), got {frame.shape[1]}")
    empty = frame.index[frame.isna().all(axis=1)]
    if len(empty):
        if not drop_all_missing_rows:
            shown = ", ".join(repr(i) for i in list(empty)[:5]) + (" ..." if len(empty) > 5 else "")
            raise DataError(f"{name}: {len(empty)} row(s) have every value missing ({shown}); drop them first")
        frame = frame.drop(index=empty)
    if frame.shape[0] < min_rows:
        raise DataError(f"{name}: needs at least {min_rows} row(s), got {frame.shape[0]}")
    return frame


def check_not_constant(frame: pd.DataFrame, *, name: str = "data", columns: Iterable[Any] | None = None) -> None:
    """Raise :class:`DataError` naming every column with zero variance."""
    cols = list(frame.columns if columns is None else columns)
    const = [str(c) for c in cols if frame[c].nunique(dropna=True) <= 1]
    if const:
        raise DataError(f"{name}: column(s) {', '.join(repr(c) for c in const)} are constant (zero variance)")


@contextlib.contextmanager
def single_threaded_blas() -> Iterator[None]:
    """Run the block (or, as ``@single_threaded_blas()``, the function) with one BLAS thread.

    psychoml's fits make hundreds of small factorisations (eigen-decompositions of item correlation matrices,
    REML and EM steps); a multi-threaded BLAS gains nothing on those and, on a busy machine, its threads contend
    so badly that a fit takes 10-50x longer (measured: a parallel analysis of 56 items, 35 s with the default
    pool on 2 loaded cores, under 2 s with one thread).
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl ships with scikit-learn
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield
