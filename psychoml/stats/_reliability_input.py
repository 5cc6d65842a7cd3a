"""Boundary validation shared by the reliability statistics (private).

Every public reliability function takes ``data`` (respondents x items), an
optional ``keys`` vector and a ``missing`` rule.  This module turns those into
a float frame, a ``+1/-1`` key vector and the keyed covariance matrix, raising
:class:`~psychoml.errors.DataError` with the argument and column named.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from psychoml._base import numeric_frame
from psychoml.errors import DataError

MissingRule = Literal["pairwise", "listwise"]
KeysLike = Sequence[float] | Sequence[str] | Mapping[Any, float] | np.ndarray | pd.Series | Any | None
"""``+1/-1`` per column, a ``{column: sign}`` mapping, ``"-name"`` strings, or an Instrument."""

__all__ = ["PreparedItems", "check_missing_rule", "keyed_scores", "prepare_items", "resolve_keys"]


@dataclass(frozen=True)
class PreparedItems:
    """Validated item data: the frame, the keys and the keyed covariance matrix."""

    frame: pd.DataFrame  # raw (un-reversed) item scores, rows with every value missing rejected
    values: np.ndarray  # the same as a float array
    keys: np.ndarray  # +1 / -1 per column
    cov: np.ndarray  # keyed covariance matrix  K C K
    n_obs: int  # rows used (all rows for "pairwise", complete rows for "listwise")
    complete: bool  # True when the frame has no missing value
    col_min: np.ndarray | None = None  # per-column min / max / mean of the raw values (mean: complete data only),
    col_max: np.ndarray | None = None  # kept so that item statistics need no further pass over the data
    col_mean: np.ndarray | None = None

    @property
    def columns(self) -> list[str]:
        return [str(c) for c in self.frame.columns]

    @property
    def corr(self) -> np.ndarray:
        """``cov2cor`` of the keyed covariance matrix (what psych::alpha and splitHalf use)."""
        d = np.sqrt(np.diag(self.cov))
        return self.cov / np.outer(d, d)

    def pairwise_corr(self) -> np.ndarray:
        """Keyed Pearson correlations, each on its pair's complete rows (R's ``cor(use = "pairwise")``).

        Differs from :attr:`corr` only with missing data, where each
        correlation's standard deviations come from the same rows as its
        covariance; ``psych::omega`` and ``psych::fa`` use these.
        """
        if self.complete:
            return self.corr
        return self.frame.corr(min_periods=2).to_numpy() * np.outer(self.keys, self.keys)


def check_missing_rule(missing: str, *, allowed: Sequence[str] = ("pairwise", "listwise")) -> None:
    if missing not in allowed:
        raise DataError(f"missing: expected one of {', '.join(repr(a) for a in allowed)}, got {missing!r}")


def resolve_keys(keys: KeysLike, columns: Sequence[Any], *, name: str = "keys") -> np.ndarray:
    """Return a ``+1/-1`` float vector, one entry per column.

    ``keys`` may be (as in ``psych``'s ``keys`` argument) a sequence of ``+1/-1``
    numbers, one per column; a mapping ``column -> +1/-1`` (unlisted columns are
    ``+1``); a sequence of column names where a leading ``"-"`` marks a
    reverse-keyed item (``["-A1", "A2", ...]``; unlisted columns are ``+1``);
    or an :class:`~psychoml.instruments.Instrument`, whose items' ``keying``
    gives the keys (every column must be one of its item ids).
    """
    cols = list(columns)
    out = np.ones(len(cols))
    if keys is None:
        return out
    if _is_instrument(keys):
        keying = {str(it.id): float(it.keying) for it in keys.items}
        unknown = [str(c) for c in cols if str(c) not in keying]
        if unknown:
            shown = ", ".join(repr(c) for c in unknown[:5]) + (" ..." if len(unknown) > 5 else "")
            raise DataError(f"{name}: column(s) {shown} are not items of instrument {keys.id!r}")
        return np.array([keying[str(c)] for c in cols])
    if isinstance(keys, Mapping):
        index = {str(c): j for j, c in enumerate(cols)}
        for col, val in keys.items():
            if str(col) not in index:
                raise DataError(f"{name}: column {col!r} is not in the data")
            out[index[str(col)]] = _sign(val, name=f"{name}[{col!r}]")
        return out
    seq = list(keys.tolist() if isinstance(keys, (np.ndarray, pd.Series)) else keys)
    if seq and all(isinstance(k, str) for k in seq):
        index = {str(c): j for j, c in enumerate(cols)}
        for k in seq:
            reverse = k.startswith("-")
            col = k[1:] if reverse else k
            if col not in index:
                raise DataError(f"{name}: column {col!r} is not in the data")
            out[index[col]] = -1.0 if reverse else 1.0
        return out
    if len(seq) != len(cols):
        raise DataError(f"{name}: expected {len(cols)} entries (one per column), got {len(seq)}")
    for j, val in enumerate(seq):
        out[j] = _sign(val, name=f"{name}[{j}] (column {cols[j]!r})")
    return out


def _is_instrument(obj: Any) -> bool:
    # Duck-typed so that this module does not depend on how instruments are loaded.
    items = getattr(obj, "items", None)
    return hasattr(obj, "item_ids") and isinstance(items, list) and all(hasattr(it, "keying") for it in items)


def _sign(val: Any, *, name: str) -> float:
    try:
        v = float(val)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{name}: expected +1 or -1, got {val!r}") from exc
    if v not in (1.0, -1.0):
        raise DataError(f"{name}: expected +1 or -1, got {val!r}")
    return v


def prepare_items(
    data: Any,
    *,
    keys: KeysLike = None,
    missing: str = "pairwise",
    name: str = "data",
    min_items: int = 2,
) -> PreparedItems:
    """Validate item data and compute the keyed covariance matrix.

    Raises :class:`DataError` for non-numeric columns, fewer than ``min_items``
    columns, rows with every value missing, constant items and pairs of items
    never observed together.
    """
    check_missing_rule(missing)
    fast = _complete_numeric(data, min_items=min_items)
    if fast is not None:
        frame, values = fast
        mask = np.zeros(values.shape, dtype=bool)
    else:
        frame = numeric_frame(data, name=name, min_columns=min_items, min_rows=2)
        values = frame.to_numpy(dtype=float)
        mask = np.isnan(values)
        if np.isinf(values).any():
            raise DataError(f"{name}: contains infinite values")
    if missing == "listwise" and mask.any():
        keep = ~mask.any(axis=1)
        frame, values = frame.loc[keep], values[keep]
        if frame.shape[0] < 2:
            raise DataError(f"{name}: fewer than two rows without missing values (missing='listwise')")
        mask = np.zeros(values.shape, dtype=bool)
    complete = not mask.any()
    col_min, col_max = _check_not_constant(values, frame.columns, complete=complete, name=name)
    k = resolve_keys(keys, frame.columns)
    col_mean = None
    if complete:
        col_mean = values.mean(axis=0)
        centred = values - col_mean
        cov = (centred.T @ centred) / (values.shape[0] - 1)
    else:
        # pandas' pairwise covariance centres each pair on its own complete cases,
        # exactly as R's cov(use = "pairwise") (checked against psych in the tests).
        cov = frame.cov(min_periods=2).to_numpy()
        if np.isnan(cov).any():
            i, j = np.argwhere(np.isnan(cov))[0]
            raise DataError(
                f"{name}: columns {frame.columns[i]!r} and {frame.columns[j]!r} have fewer than two rows "
                "observed together; their covariance is undefined"
            )
    cov = cov * np.outer(k, k)
    return PreparedItems(
        frame=frame, values=values, keys=k, cov=cov, n_obs=int(frame.shape[0]), complete=complete,
        col_min=col_min, col_max=col_max, col_mean=col_mean,
    )


def _complete_numeric(data: Any, *, min_items: int) -> tuple[pd.DataFrame, np.ndarray] | None:
    """Fast path for the common case: a DataFrame of numeric columns with every value finite.

    Returns the frame and one float copy of its values, or None when any
    check could fail; :func:`psychoml._base.numeric_frame` then validates (and
    words the error) as for every other statistic.  Saves two full copies of
    the data, which matters for the bootstrap benchmark's 10,000 x 56 table.
    """
    if not isinstance(data, pd.DataFrame) or data.shape[1] < min_items or data.shape[0] < 2:
        return None
    if not all(pd.api.types.is_numeric_dtype(t) or pd.api.types.is_bool_dtype(t) for t in data.dtypes):
        return None
    values = data.to_numpy(dtype=float, na_value=np.nan)
    if not np.isfinite(values).all():
        return None
    return data, values


def _check_not_constant(
    values: np.ndarray, columns: pd.Index, *, complete: bool, name: str
) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised twin of :func:`psychoml._base.check_not_constant` (same message); returns column min, max."""
    if complete:
        lo, hi = values.min(axis=0), values.max(axis=0)
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-missing columns give NaN, handled below
            lo, hi = np.nanmin(values, axis=0), np.nanmax(values, axis=0)
    const = [str(c) for c, a, b in zip(columns, lo, hi) if not a < b]
    if const:
        raise DataError(f"{name}: column(s) {', '.join(repr(c) for c in const)} are constant (zero variance)")
    return lo, hi


def keyed_scores(values: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Item scores with reverse-keyed columns reflected as ``min + max - x``.

    ``min`` and ``max`` are taken over the whole table, as ``psych::alpha`` does,
    so a reversed 1..6 item maps 1 -> 6.
    """
    values = values.copy()
    if (keys < 0).any():
        lo, hi = np.nanmin(values), np.nanmax(values)
        values[:, keys < 0] = lo + hi - values[:, keys < 0]
    return values
