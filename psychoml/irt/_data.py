"""Reading and validating response data for IRT: wide or long tables, files, psychoml stores.

The result is an :class:`IrtData`: the persons x items matrix of integer categories (NaN = missing) plus the
observed cells as flat index arrays, which is what every likelihood in this package works on (missing cells
are left out of the likelihood, never imputed).
"""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from psychoml.errors import DataError

__all__ = ["LONG_RESPONDENT_COLUMNS", "IrtData", "prepare_data"]

#: Columns of a long table (psychoml store ``responses()``) that together identify a respondent.
LONG_RESPONDENT_COLUMNS = ("model", "persona", "variant", "sample")


@dataclasses.dataclass(frozen=True)
class IrtData:
    """Validated responses.

    ``matrix`` holds categories 0..K-1 (float, NaN for missing); ``offset`` is the raw value of category 0
    (e.g. 1 for a 1-5 Likert scale), so raw = category + offset.
    """

    matrix: np.ndarray
    persons: pd.Index
    items: pd.Index
    n_categories: int
    offset: float

    @property
    def observed(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(person index, item index, category) of every observed cell, row-major."""
        mask = ~np.isnan(self.matrix)
        pi, ii = np.nonzero(mask)
        return pi, ii, self.matrix[pi, ii].astype(np.int64)

    @property
    def n_obs(self) -> int:
        return int((~np.isnan(self.matrix)).sum())


def _read(data: Any, name: str) -> pd.DataFrame:
    if isinstance(data, (str, Path)):
        path = Path(data)
        if not path.exists():
            raise DataError(f"{name}: file {str(path)!r} not found")
        suffix = path.suffix.lower()
        try:
            if suffix in {".parquet", ".pq"}:
                return pd.read_parquet(path)
            return pd.read_csv(path, sep="\t" if suffix in {".tsv", ".tab"} else ",")
        except (ValueError, OSError, pd.errors.ParserError) as exc:
            raise DataError(f"{name}: cannot read {str(path)!r} ({exc})") from None
    if hasattr(data, "responses") and callable(data.responses):  # a psychoml store
        return data.responses()
    if isinstance(data, pd.DataFrame):
        return data
    arr = np.asarray(data, dtype=float)
    if arr.ndim != 2:
        raise DataError(f"{name}: expected a persons x items table, got an array with {arr.ndim} dimension(s)")
    return pd.DataFrame(arr, columns=[f"item{j + 1}" for j in range(arr.shape[1])])


def _long_to_wide(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    if "status" in frame.columns:  # store tables: refusals and failures are missing responses
        frame = frame[frame["status"].astype(str).str.upper().isin(["OK", "RESPONSESTATUS.OK"])]
    keys = [c for c in ("respondent", "person") if c in frame.columns][:1]
    if not keys:
        keys = [c for c in LONG_RESPONDENT_COLUMNS if c in frame.columns]
    if not keys:
        raise DataError(
            f"{name}: a long table needs a 'respondent' (or 'person') column or some of "
            f"{', '.join(LONG_RESPONDENT_COLUMNS)} next to 'item' and 'value'"
        )
    work = frame[keys + ["item", "value"]].copy()
    work[keys] = work[keys].astype(str)
    work["value"] = pd.to_numeric(work["value"], errors="coerce")
    dup = work.duplicated(keys + ["item"])
    if dup.any():
        raise DataError(
            f"{name}: {int(dup.sum())} duplicate respondent x item row(s) in the long table "
            f"(respondent = {' x '.join(keys)}); aggregate or add the distinguishing column"
        )
    wide = work.pivot(index=keys, columns="item", values="value")
    if len(keys) > 1:
        wide.index = pd.Index(["|".join(map(str, k)) for k in wide.index], name="|".join(keys))
    wide.columns = pd.Index([str(c) for c in wide.columns], name=None)
    return wide


def prepare_data(data: Any, *, binary: bool, name: str = "data") -> IrtData:
    """Validate responses for an IRT model.

    Raises :class:`DataError` for non-numeric or non-integer values, non-binary values for a binary model,
    items with no variance, categories that skip values, fewer than two persons or items.  Persons with no
    responses are dropped with a warning naming them.
    """
    frame = _read(data, name)
    if {"item", "value"}.issubset(frame.columns):
        frame = _long_to_wide(frame, name)
    bad = [str(c) for c in frame.columns
           if not (pd.api.types.is_numeric_dtype(frame[c]) or pd.api.types.is_bool_dtype(frame[c]))]
    if bad:
        raise DataError(f"{name}: non-numeric column(s) {', '.join(repr(b) for b in bad)}; "
                        "keep only item columns (put person ids in the index)")
    frame = frame.astype(float)
    empty = frame.index[frame.isna().all(axis=1)]
    if len(empty):
        shown = ", ".join(repr(i) for i in list(empty)[:5]) + (" ..." if len(empty) > 5 else "")
        warnings.warn(f"{name}: dropped {len(empty)} person(s) with no responses ({shown})", UserWarning,
                      stacklevel=3)
        frame = frame.drop(index=empty)
    all_missing_items = [str(c) for c in frame.columns if frame[c].isna().all()]
    if all_missing_items:
        raise DataError(f"{name}: item(s) {', '.join(map(repr, all_missing_items))} have no responses; drop them")
    if frame.shape[0] < 2 or frame.shape[1] < 2:
        raise DataError(f"{name}: needs at least 2 persons and 2 items, got {frame.shape[0]} x {frame.shape[1]}")
    values = frame.to_numpy()
    obs = values[~np.isnan(values)]
    if np.any(np.abs(obs - np.round(obs)) > 1e-9):
        raise DataError(f"{name}: responses must be whole-number categories (found e.g. "
                        f"{obs[np.abs(obs - np.round(obs)) > 1e-9][0]!r})")
    if binary:
        nonbin = [str(c) for c in frame.columns if not frame[c].dropna().isin([0.0, 1.0]).all()]
        if nonbin:
            raise DataError(
                f"{name}: binary model needs 0/1 responses; item(s) {', '.join(map(repr, nonbin[:5]))} have "
                "other values (use model='grm' or 'gpcm' for ordered categories, or dichotomise first)"
            )
        offset = 0.0
    else:
        offset = float(obs.min())
    const = [str(c) for c in frame.columns if frame[c].nunique(dropna=True) <= 1]
    if const:
        raise DataError(f"{name}: item(s) {', '.join(map(repr, const))} have no variance (every response "
                        "identical); their parameters are not identified: drop them")
    matrix = values - offset
    n_categories = int(np.nanmax(matrix)) + 1
    if not binary:
        used = np.unique(matrix[~np.isnan(matrix)]).astype(int)
        missing_cats = sorted(set(range(n_categories)) - set(used))
        if missing_cats:
            raise DataError(
                f"{name}: categories skip value(s) {[c + offset for c in missing_cats]} (observed "
                f"{[u + offset for u in used]}); recode to consecutive integers"
            )
        for col, j in zip(frame.columns, range(matrix.shape[1])):
            u = np.unique(matrix[:, j][~np.isnan(matrix[:, j])]).astype(int)
            gaps = sorted(set(range(u.min(), u.max() + 1)) - set(u))
            if gaps:
                raise DataError(
                    f"{name}: item {str(col)!r} skips categor{'y' if len(gaps) == 1 else 'ies'} "
                    f"{[g + offset for g in gaps]} between observed values; recode or collapse categories"
                )
    return IrtData(
        matrix=matrix,
        persons=pd.Index(frame.index, name=frame.index.name or "person"),
        items=pd.Index([str(c) for c in frame.columns], name="item"),
        n_categories=n_categories,
        offset=offset,
    )
