"""Readers and validation of model x item correctness matrices for benchmark design.

Three layouts are read into one :class:`CorrectnessMatrix`:

* **wide**: one row per model, one column per item (a ``model`` column or the
  first text column names the rows), entries 0/1 (booleans and blanks allowed);
* **long**: columns ``model``, ``item``, ``correct`` and optionally ``benchmark``
  (several benchmarks at once; item ids are then ``benchmark/item``);
* **lm-evaluation-harness** per-sample logs written by ``lm_eval --log_samples``:
  ``<output_path>/<model>/samples_<task>_<timestamp>.jsonl``, one JSON object per
  document with ``doc_id``, ``doc``, ``target``, ``arguments``, ``resps``,
  ``filtered_resps``, ``filter``, ``metrics``, ``doc_hash``, ``prompt_hash``,
  ``target_hash`` and the per-sample metric values (``acc``, ``acc_norm``,
  ``exact_match`` ...).  The task becomes the benchmark, ``task/doc_id`` the item.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from psychoml._base import Result
from psychoml.errors import DataError

__all__ = ["CorrectnessMatrix", "correctness_matrix", "read_correctness", "read_lm_eval_samples"]

#: metrics tried, in order, when an lm-eval log is read without ``metric=``
LM_EVAL_METRICS = ("acc", "exact_match", "acc_norm", "pass@1", "pass_at_1", "em", "correct")
_SAMPLES_NAME = re.compile(r"^samples_(?P<task>.+?)_(?P<stamp>\d{4}-\d{2}-\d{2}T[0-9:\-\.]+)\.jsonl$")


@dataclasses.dataclass(frozen=True, repr=False)
class CorrectnessMatrix(Result):
    """A model x item correctness table (1 right, 0 wrong, NaN not administered).

    Attributes
    ----------
    matrix
        Models (rows) x items (columns), float 0/1/NaN.
    benchmarks
        Benchmark of each item (index: item ids, same order as ``matrix.columns``).
    source
        Where the data came from (file name or ``<DataFrame>``).
    """

    matrix: pd.DataFrame
    benchmarks: pd.Series
    source: str = "<DataFrame>"

    @property
    def n_models(self) -> int:
        return int(self.matrix.shape[0])

    @property
    def n_items(self) -> int:
        return int(self.matrix.shape[1])

    def accuracy(self) -> pd.DataFrame:
        """Observed accuracy per model (rows) and benchmark (columns), over administered items."""
        out = {}
        for bench, items in self.benchmarks.groupby(self.benchmarks, sort=False):
            out[bench] = self.matrix[items.index].mean(axis=1)
        return pd.DataFrame(out)

    def to_frame(self) -> pd.DataFrame:
        return self.matrix


def _rows_text(labels: Sequence[Any], limit: int = 5, *, quote: bool = True) -> str:
    shown = ", ".join(repr(x) if quote and not isinstance(x, (int, np.integer)) else str(x)
                      for x in list(labels)[:limit])
    return shown + (f" ... ({len(labels)} in all)" if len(labels) > limit else "")


def _binary_column(values: pd.Series, *, what: str, where: str, row_names: Sequence[Any]) -> np.ndarray:
    """Coerce one column to float 0/1/NaN or raise naming the column and the offending rows."""
    s = values
    if s.dtype == object or pd.api.types.is_string_dtype(s):
        mapped = s.map(lambda v: {"true": 1.0, "false": 0.0}.get(v.strip().lower(), v) if isinstance(v, str) else v)
        s = pd.to_numeric(mapped, errors="coerce")
        bad_text = values.notna() & s.isna() & ~values.map(lambda v: isinstance(v, str) and v.strip() == "")
        if bad_text.any():
            rows = [row_names[i] for i in np.flatnonzero(bad_text.to_numpy())]
            raise DataError(f"{where}: column {what!r} has non-binary entries "
                            f"{_rows_text(list(values[bad_text].unique()), 3)} in row(s) {_rows_text(rows, quote=False)}; "
                            "expected 0/1 (or true/false, blank for not administered)")
    arr = pd.to_numeric(s, errors="coerce").to_numpy(dtype=float)
    bad = ~np.isnan(arr) & (arr != 0.0) & (arr != 1.0)
    if bad.any():
        rows = [row_names[i] for i in np.flatnonzero(bad)]
        vals = sorted(set(arr[bad].tolist()))
        raise DataError(f"{where}: column {what!r} has non-binary entries {_rows_text(vals, 3)} in row(s) "
                        f"{_rows_text(rows, quote=False)}; expected 0/1 (or true/false, blank for not administered)")
    return arr


def _from_long(frame: pd.DataFrame, *, where: str, model_column: str, item_column: str, value_column: str,
               benchmark_column: str, line_offset: int) -> CorrectnessMatrix:
    missing = [c for c in (model_column, item_column, value_column) if c not in frame.columns]
    if missing:
        raise DataError(f"{where}: long format needs column(s) {', '.join(map(repr, missing))}")
    rows = [i + line_offset for i in range(len(frame))]
    correct = _binary_column(frame[value_column].reset_index(drop=True), what=value_column, where=where,
                             row_names=[f"line {r}" for r in rows])
    model = frame[model_column].astype(str).to_numpy()
    has_bench = benchmark_column in frame.columns
    raw_item = frame[item_column].astype(str).to_numpy()
    if has_bench:
        bench = frame[benchmark_column].astype(str).to_numpy()
        item = np.array([f"{b}/{i}" for b, i in zip(bench, raw_item)], dtype=object)
    else:
        bench = np.full(len(frame), "benchmark", dtype=object)
        item = raw_item.astype(object)
    keys = pd.DataFrame({"model": model, "item": item})
    dup = keys.duplicated(keep=False).to_numpy()
    if dup.any():
        idx = np.flatnonzero(dup)
        first = keys.iloc[idx[0]]
        raise DataError(f"{where}: duplicate model/item pair(s), e.g. model {first['model']!r} item "
                        f"{first['item']!r}, at line(s) {_rows_text([rows[i] for i in idx])}; "
                        "keep one answer per model and item")
    long = pd.DataFrame({"model": model, "item": item, "correct": correct})
    models = list(dict.fromkeys(model))
    items = list(dict.fromkeys(item))
    wide = long.pivot(index="model", columns="item", values="correct").reindex(index=models, columns=items)
    wide.index.name, wide.columns.name = "model", None
    benchmarks = pd.Series(dict(zip(item, bench))).reindex(items)
    benchmarks.name = "benchmark"
    return CorrectnessMatrix(matrix=wide.astype(float), benchmarks=benchmarks, source=where)


def _from_wide(frame: pd.DataFrame, *, where: str, model_column: str, line_offset: int,
               benchmarks: pd.Series | dict[str, str] | None) -> CorrectnessMatrix:
    frame = frame.copy()
    if model_column in frame.columns:
        frame = frame.set_index(model_column)
    elif len(frame.columns) and (frame[frame.columns[0]].dtype == object
                                 or pd.api.types.is_string_dtype(frame[frame.columns[0]])):
        first = frame[frame.columns[0]]
        if not first.astype(str).str.strip().str.lower().isin({"0", "1", "true", "false", "", "nan"}).all():
            frame = frame.set_index(frame.columns[0])
    frame.index = frame.index.map(str)
    frame.columns = frame.columns.map(str)
    if frame.index.duplicated().any():
        dups = list(frame.index[frame.index.duplicated(keep=False)].unique())
        raise DataError(f"{where}: duplicate model/item pair(s): model row(s) {_rows_text(dups)} appear more than "
                        "once; keep one row per model")
    if frame.columns.duplicated().any():
        dups = list(frame.columns[frame.columns.duplicated()].unique())
        raise DataError(f"{where}: duplicate model/item pair(s): item column(s) {_rows_text(dups)} appear more "
                        "than once")
    names = [f"{m!r} (line {i + line_offset})" if line_offset else repr(m) for i, m in enumerate(frame.index)]
    cols = {}
    for c in frame.columns:
        cols[c] = _binary_column(frame[c].reset_index(drop=True), what=c, where=where, row_names=names)
    matrix = pd.DataFrame(cols, index=frame.index)
    matrix.index.name = "model"
    if benchmarks is None:
        bench = pd.Series("benchmark", index=matrix.columns, name="benchmark")
    else:
        bench = pd.Series(benchmarks, name="benchmark").astype(str)
        absent = [c for c in matrix.columns if c not in bench.index]
        if absent:
            raise DataError(f"benchmarks: no benchmark given for item(s) {_rows_text(absent)}")
        bench = bench.reindex(matrix.columns)
    return CorrectnessMatrix(matrix=matrix, benchmarks=bench, source=where)


def correctness_matrix(data: Any, *, name: str = "data", model_column: str = "model", item_column: str = "item",
                       value_column: str = "correct", benchmark_column: str = "benchmark",
                       benchmarks: pd.Series | dict[str, str] | None = None) -> CorrectnessMatrix:
    """Validate an in-memory table (wide or long) or array into a :class:`CorrectnessMatrix`.

    Long format is recognised by the ``model``/``item``/``correct`` columns; anything
    else is read as wide (rows = models, columns = items).  Entries must be 0/1
    (booleans, ``true``/``false`` and blanks allowed); duplicate model/item pairs and
    non-binary entries raise :class:`~psychoml.errors.DataError` naming the column
    and the rows.
    """
    if isinstance(data, CorrectnessMatrix):
        return data
    if isinstance(data, np.ndarray):
        if data.ndim != 2:
            raise DataError(f"{name}: expected a 2-D models x items array, got {data.ndim} dimension(s)")
        data = pd.DataFrame(data, index=[f"model{i + 1}" for i in range(data.shape[0])],
                            columns=[f"item{j + 1}" for j in range(data.shape[1])])
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"{name}: expected a DataFrame, array or CorrectnessMatrix, got {type(data).__name__}")
    if {model_column, item_column, value_column} <= set(map(str, data.columns)):
        return _from_long(data, where=name, model_column=model_column, item_column=item_column,
                          value_column=value_column, benchmark_column=benchmark_column, line_offset=0)
    return _from_wide(data, where=name, model_column=model_column, line_offset=0, benchmarks=benchmarks)


def read_correctness(source: str | Path | pd.DataFrame | Iterable[str | Path], *, model_column: str = "model",
                     item_column: str = "item", value_column: str = "correct", benchmark_column: str = "benchmark",
                     metric: str | None = None, filter: str | None = None, model: str | None = None) -> CorrectnessMatrix:
    """Read a correctness matrix from CSV/TSV/Parquet (wide or long), lm-eval JSONL logs or a DataFrame.

    Parameters
    ----------
    source
        A file (``.csv``, ``.tsv``, ``.parquet``, ``.jsonl``), a directory searched
        recursively for lm-eval ``samples_*.jsonl`` logs, a list of such paths, or a
        DataFrame.
    model_column, item_column, value_column, benchmark_column
        Column names of the long layout (``benchmark`` optional).
    metric, filter, model
        For lm-eval logs only: the per-sample metric to read (default: the first of
        ``acc``, ``exact_match``, ``acc_norm``, ... present), the lm-eval filter to
        keep when a task logs several (default: the first in the file), and the model
        name (default: the log's folder name, ``org__name`` read as ``org/name``).

    Raises
    ------
    DataError
        File missing or unreadable, non-binary entries (naming the column and the
        rows/lines), duplicate model/item pairs (naming the lines).
    """
    if isinstance(source, pd.DataFrame):
        return correctness_matrix(source, model_column=model_column, item_column=item_column,
                                  value_column=value_column, benchmark_column=benchmark_column)
    paths = [Path(source)] if isinstance(source, (str, Path)) else [Path(p) for p in source]
    jsonl: list[Path] = []
    for p in paths:
        if not p.exists():
            raise DataError(f"{p}: correctness file not found")
        if p.is_dir():
            found = sorted(p.rglob("samples_*.jsonl"))
            if not found:
                raise DataError(f"{p}: no lm-eval samples_*.jsonl logs under this folder")
            jsonl.extend(found)
        elif p.suffix.lower() == ".jsonl":
            jsonl.append(p)
    if jsonl:
        if len(jsonl) != len(paths) and any(not p.is_dir() and p.suffix.lower() != ".jsonl" for p in paths):
            raise DataError("source: mix of lm-eval JSONL logs and tables; read them separately")
        long = read_lm_eval_samples(jsonl, metric=metric, filter=filter, model=model)
        return _from_long(long, where=", ".join(str(p) for p in paths), model_column="model", item_column="item",
                          value_column="correct", benchmark_column="benchmark", line_offset=1)
    if len(paths) != 1:
        raise DataError("source: give one table file (or several lm-eval JSONL logs)")
    path = paths[0]
    try:
        if path.suffix.lower() in {".parquet", ".pq"}:
            frame = pd.read_parquet(path)
            offset = 0
        else:
            frame = pd.read_csv(path, sep="\t" if path.suffix.lower() in {".tsv", ".tab"} else ",")
            offset = 2  # header is line 1, first data row line 2
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        raise DataError(f"{path}: cannot read correctness table ({exc})") from None
    if {model_column, item_column, value_column} <= set(map(str, frame.columns)):
        return _from_long(frame, where=str(path), model_column=model_column, item_column=item_column,
                          value_column=value_column, benchmark_column=benchmark_column, line_offset=offset)
    return _from_wide(frame, where=str(path), model_column=model_column, line_offset=offset, benchmarks=None)


def _model_from_path(path: Path) -> str:
    # lm-eval writes <output_path>/<model name with "/" replaced by "__">/samples_<task>_<date>.jsonl
    return path.parent.name.replace("__", "/", 1) if path.parent.name else path.stem


def read_lm_eval_samples(paths: Sequence[str | Path] | str | Path, *, metric: str | None = None,
                         filter: str | None = None, model: str | None = None) -> pd.DataFrame:
    """Read lm-evaluation-harness ``--log_samples`` JSONL files into a long table.

    Returns columns ``model``, ``benchmark`` (the task), ``item`` (``doc_id``),
    ``correct`` (the per-sample metric) and ``line`` (line in its file).

    The format is the one written by ``lm_eval.evaluator.evaluate`` (lm-eval 0.4):
    each line a JSON object with ``doc_id``, ``doc``, ``target``, ``arguments``,
    ``resps``, ``filtered_resps``, ``filter``, ``metrics`` and one key per metric.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    rows: list[dict[str, Any]] = []
    for raw in paths:
        path = Path(raw)
        m = _SAMPLES_NAME.match(path.name)
        task = m.group("task") if m else path.stem.removeprefix("samples_")
        who = model or _model_from_path(path)
        records: list[tuple[int, dict[str, Any]]] = []
        try:
            with path.open(encoding="utf-8") as fh:
                for lineno, line in enumerate(fh, 1):
                    if not line.strip():
                        continue
                    try:
                        rec = json.loads(line)
                    except json.JSONDecodeError as exc:
                        raise DataError(f"{path}:{lineno}: not valid JSON ({exc.msg})") from None
                    if not isinstance(rec, dict) or "doc_id" not in rec:
                        raise DataError(f"{path}:{lineno}: not an lm-eval sample record (no 'doc_id')")
                    records.append((lineno, rec))
        except OSError as exc:
            raise DataError(f"{path}: cannot read ({exc})") from None
        if not records:
            raise DataError(f"{path}: no sample records")
        filters = list(dict.fromkeys(r.get("filter", "none") for _, r in records))
        # a task logged with one filter keeps it; ``filter`` chooses among several
        keep = filter if filter is not None and len(filters) > 1 else filters[0]
        if keep not in filters:
            raise DataError(f"{path}: filter {keep!r} not in the log (has {', '.join(map(repr, filters))})")
        chosen = [(ln, r) for ln, r in records if r.get("filter", "none") == keep]
        first = chosen[0][1]
        name = metric
        if name is None:
            name = next((k for k in LM_EVAL_METRICS if k in first), None)
            if name is None and first.get("metrics"):
                name = first["metrics"][0]
            if name is None:
                raise DataError(f"{path}: no per-sample correctness metric found (looked for "
                                f"{', '.join(LM_EVAL_METRICS)}); pass metric=")
        for lineno, rec in chosen:
            if name not in rec:
                raise DataError(f"{path}:{lineno}: metric {name!r} missing from the sample record")
            value = rec[name]
            if isinstance(value, bool):
                value = float(value)
            if not isinstance(value, (int, float)) or value not in (0, 1):
                raise DataError(f"{path}:{lineno}: metric {name!r} is {value!r}, not binary (0/1); "
                                "choose a binary metric with metric=")
            rows.append({"model": who, "benchmark": task, "item": str(rec["doc_id"]), "correct": float(value),
                         "line": lineno, "file": str(path)})
    out = pd.DataFrame(rows)
    dup = out.duplicated(["model", "benchmark", "item"], keep=False)
    if dup.any():
        bad = out[dup].iloc[0]
        raise DataError(f"{bad['file']}: duplicate model/item pair: doc_id {bad['item']!r} of task "
                        f"{bad['benchmark']!r} for model {bad['model']!r} at line(s) "
                        f"{_rows_text(out.loc[dup & (out['item'] == bad['item']), 'line'].tolist())}")
    return out
