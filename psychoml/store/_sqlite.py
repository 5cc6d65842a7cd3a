"""The response store: one SQLite file per study (WAL mode), crash-safe and append-only.

Tables
------
``meta``
    ``schema_version``, ``package_version`` (that created the file), ``created_at``.  The file also carries
    SQLite's ``application_id`` so another program's database is recognised and never written to.
``runs``
    One row per administration: model spec, instrument and version, design, samples, mode, run parameters,
    backend parameters (never secrets), package version, start / finish time, status and closing summary.
``variants``
    Prompt variants by id (the facet values as JSON; the same id means the same facets everywhere).
``requests``
    One row per request key (:meth:`psychoml.records.Request.key`): model, instrument, items, variant,
    sample, mode, rendered messages, options as presented, parameters, persona, and the run that first asked.
``responses``
    One row per request key: status (ok / refused / unparseable / failed) and reason, raw text, parsed value,
    argmax, option distribution and mass outside the options per item, tokens, latency, timestamps, backend
    parameters, package and instrument version, the run that answered and the number of attempts.

Guarantees
----------
* :meth:`Store.record` is one transaction: the request and its answer are stored together or not at all, so a
  process killed at any moment (``kill -9``) leaves a consistent file (SQLite's WAL journal).
* A final answer (anything but FAILED) is never replaced: recording the same key again is a no-op, so a
  resumed or repeated run neither duplicates nor loses an answer.  A FAILED answer is replaced by the next
  attempt's outcome.
* Nothing is ever deleted or rewritten by a migration: a file written by a newer psychoml (a newer schema) is
  refused with :class:`~psychoml.errors.StoreError` rather than touched.

``synchronous=NORMAL`` is used: in WAL mode a committed transaction survives a crash of the process (what
``kill -9`` does); only an operating-system crash or power loss can lose the last few commits, never corrupt
the file.
"""

from __future__ import annotations

import functools
import json
import math
import sqlite3
import uuid
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import pandas as pd

from psychoml.errors import DataError, StoreError
from psychoml.records import Answer, Request, ResponseStatus, utc_now

__all__ = ["APPLICATION_ID", "RESPONSE_COLUMNS", "SCHEMA_VERSION", "Store", "open"]

#: Bumped when the schema changes; a newer file is refused, an older one is upgraded by adding only.
SCHEMA_VERSION = 1

#: SQLite ``application_id`` of psychoml stores ("PSML").
APPLICATION_ID = 0x50534D4C

_SQLITE_MAGIC = b"SQLite format 3\x00"

#: Columns of :meth:`Store.responses` before the variant facet columns.
RESPONSE_COLUMNS: tuple[str, ...] = (
    "run_id", "model", "instrument", "instrument_version", "item", "variant", "sample", "persona", "mode",
    "value", "argmax", "status", "reason", "mass_outside", "distribution", "raw", "tokens_in", "tokens_out",
    "latency_s", "simulated", "request_key", "created_at",
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    status TEXT NOT NULL,
    model TEXT NOT NULL,
    instrument TEXT NOT NULL,
    instrument_version TEXT,
    design TEXT,
    samples INTEGER,
    mode TEXT,
    parameters TEXT NOT NULL,
    backend TEXT NOT NULL,
    package_version TEXT NOT NULL,
    n_requests INTEGER,
    summary TEXT
);
CREATE TABLE IF NOT EXISTS variants (
    variant_id TEXT PRIMARY KEY,
    facets TEXT NOT NULL,
    persona_fields TEXT
);
CREATE TABLE IF NOT EXISTS requests (
    request_key TEXT PRIMARY KEY,
    run_id TEXT NOT NULL REFERENCES runs(run_id),
    model TEXT NOT NULL,
    instrument TEXT NOT NULL,
    instrument_version TEXT,
    item_ids TEXT NOT NULL,
    variant_id TEXT NOT NULL,
    sample INTEGER NOT NULL,
    mode TEXT NOT NULL,
    messages TEXT NOT NULL,
    options TEXT NOT NULL,
    params TEXT NOT NULL,
    persona TEXT,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS responses (
    request_key TEXT PRIMARY KEY REFERENCES requests(request_key),
    run_id TEXT NOT NULL REFERENCES runs(run_id),
    status TEXT NOT NULL,
    reason TEXT,
    raw TEXT,
    item_values TEXT NOT NULL,
    argmax TEXT NOT NULL,
    distributions TEXT NOT NULL,
    mass_outside TEXT NOT NULL,
    tokens_in INTEGER,
    tokens_out INTEGER,
    latency_s REAL,
    created_at TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    backend TEXT NOT NULL,
    package_version TEXT NOT NULL,
    instrument_version TEXT,
    attempts INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX IF NOT EXISTS requests_by_run ON requests(run_id);
CREATE INDEX IF NOT EXISTS responses_by_status ON responses(status);
"""


@functools.lru_cache(maxsize=1)
def _package_version() -> str:
    from psychoml import __version__

    return str(__version__)


def _dumps(value: Any, *, sort: bool = True) -> str:
    """Compact JSON; ``sort=False`` keeps mapping order (option distributions stay in presented order)."""
    try:  # fast path: everything JSON-able and finite (encoders built once: json.dumps builds one per call)
        return (_SORTED if sort else _UNSORTED).encode(value)
    except ValueError:  # a NaN or infinity somewhere: JSON has none, store null
        return json.dumps(_plain(value), sort_keys=sort, separators=(",", ":"), ensure_ascii=False,
                          allow_nan=False)


def _default(value: Any) -> Any:
    """JSON for what the encoder does not know: mappings (frozen params) as dicts, numpy scalars as numbers."""
    if isinstance(value, Mapping):
        return dict(value)
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return str(value)


_SORTED = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False,
                           default=_default)
_UNSORTED = json.JSONEncoder(sort_keys=False, separators=(",", ":"), ensure_ascii=False, allow_nan=False,
                             default=_default)


def _plain(value: Any) -> Any:
    """Mappings/sequences to dicts/lists; non-finite floats to None (JSON has no NaN)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if hasattr(value, "item"):  # numpy scalars
        return _plain(value.item())
    return str(value)


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _looks_like_sqlite(path: Path) -> bool:
    with path.open("rb") as fh:
        return fh.read(16) == _SQLITE_MAGIC


_INSERT_REQUEST = (
    "INSERT OR IGNORE INTO requests (request_key, run_id, model, instrument, instrument_version, item_ids,"
    " variant_id, sample, mode, messages, options, params, persona, created_at)"
    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
)

# insert, or replace a stored FAILED answer (counting the attempt); a final answer is never replaced
_UPSERT_RESPONSE = (
    "INSERT INTO responses (request_key, run_id, status, reason, raw, item_values, argmax,"
    " distributions, mass_outside, tokens_in, tokens_out, latency_s, created_at, recorded_at, backend,"
    " package_version, instrument_version, attempts) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,1)"
    " ON CONFLICT(request_key) DO UPDATE SET run_id = excluded.run_id, status = excluded.status,"
    " reason = excluded.reason, raw = excluded.raw, item_values = excluded.item_values,"
    " argmax = excluded.argmax, distributions = excluded.distributions,"
    " mass_outside = excluded.mass_outside, tokens_in = excluded.tokens_in,"
    " tokens_out = excluded.tokens_out, latency_s = excluded.latency_s, created_at = excluded.created_at,"
    " recorded_at = excluded.recorded_at, backend = excluded.backend,"
    " package_version = excluded.package_version, instrument_version = excluded.instrument_version,"
    " attempts = responses.attempts + 1"
    " WHERE responses.status = 'failed'"
)


def _request_row(run_id: str, request: Request, key: str, now: str) -> tuple[Any, ...]:
    return (key, run_id, request.model, request.instrument, request.instrument_version, _dumps(request.item_ids),
            request.variant_id, int(request.sample), request.mode,
            _dumps([[m.role, m.content] for m in request.messages]),
            _dumps([[o.label, o.value, o.text] for o in request.options]), _dumps(request.params), request.persona,
            now)


def _response_row(run_id: str, request: Request, key: str, answer: Answer, now: str) -> tuple[Any, ...]:
    return (key, run_id, answer.status.value, answer.reason, answer.raw, _dumps(answer.values, sort=False),
            _dumps(answer.argmax, sort=False), _dumps(answer.distributions, sort=False),
            _dumps(answer.mass_outside), answer.tokens_in, answer.tokens_out, answer.latency_s, answer.created_at,
            now, _dumps(answer.backend), _package_version(), request.instrument_version)


class Store:
    """A study's response store (see the module docstring).  Open it with :func:`open`.

    Use as a context manager (``with psychoml.store.open("study.db") as store: ...``) or call
    :meth:`close`.  One connection: calls from several threads must not overlap (the runner writes from one
    writer thread under a lock); several processes may each open the same file (SQLite locks it).
    """

    def __init__(self, path: Path, connection: sqlite3.Connection) -> None:
        self.path = path
        self._con = connection

    # --- lifecycle -----------------------------------------------------------------------------------------------
    def close(self) -> None:
        """Close the file (idempotent)."""
        con, self._con = self._con, None  # type: ignore[assignment]
        if con is not None:
            con.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r})"

    @property
    def connection(self) -> sqlite3.Connection:
        if self._con is None:
            raise StoreError(f"{self.path}: the store is closed")
        return self._con

    def _transaction(self) -> _Transaction:
        return _Transaction(self)

    # --- runs ----------------------------------------------------------------------------------------------------
    def start_run(
        self,
        *,
        model: str,
        instrument: str,
        instrument_version: str = "",
        design: Mapping[str, Any] | None = None,
        samples: int | None = None,
        mode: str | None = None,
        parameters: Mapping[str, Any] | None = None,
        backend: Mapping[str, Any] | None = None,
        variants: Iterable[Any] = (),
        n_requests: int | None = None,
        run_id: str | None = None,
    ) -> str:
        """Register a run (and its prompt variants); return its id.

        ``variants`` are :class:`psychoml.prompts.Variant` objects (or ``{"id": ..., facet: value}`` mappings);
        ``parameters`` are the run settings, ``backend`` the backend parameters (never secrets).
        """
        run_id = run_id or f"{utc_now()[:19].replace(':', '').replace('-', '')}-{uuid.uuid4().hex[:8]}"
        rows = []
        for v in variants:
            d = v.to_dict() if hasattr(v, "to_dict") else dict(v)
            vid = str(d.pop("id"))
            fields = d.pop("persona_fields", None)
            rows.append((vid, _dumps(d), _dumps(fields) if fields else None))
        with self._transaction() as con:
            con.execute(
                "INSERT INTO runs (run_id, started_at, status, model, instrument, instrument_version, design, samples,"
                " mode, parameters, backend, package_version, n_requests) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (run_id, utc_now(), "running", model, instrument, instrument_version,
                 _dumps(design) if design is not None else None, samples, mode, _dumps(parameters or {}),
                 _dumps(backend or {}), _package_version(), n_requests),
            )
            con.executemany("INSERT OR IGNORE INTO variants (variant_id, facets, persona_fields) VALUES (?,?,?)", rows)
        return run_id

    def finish_run(self, run_id: str, summary: Mapping[str, Any], *, status: str = "finished") -> None:
        """Store a run's closing summary and status (``finished`` or ``interrupted``)."""
        with self._transaction() as con:
            cur = con.execute(
                "UPDATE runs SET finished_at = ?, status = ?, summary = ? WHERE run_id = ?",
                (utc_now(), status, _dumps(summary), run_id),
            )
            if cur.rowcount != 1:
                raise StoreError(f"{self.path}: no run {run_id!r}")

    def runs(self) -> pd.DataFrame:
        """One row per run: id, times, status, model, instrument, design, samples, mode, counts and summary."""
        cur = self.connection.execute(
            "SELECT r.run_id, r.started_at, r.finished_at, r.status, r.model, r.instrument, r.instrument_version,"
            " r.samples, r.mode, r.n_requests, r.package_version, r.design, r.parameters, r.backend, r.summary,"
            " (SELECT COUNT(*) FROM responses s WHERE s.run_id = r.run_id AND s.status != 'failed') AS answered"
            " FROM runs r ORDER BY r.started_at, r.rowid"
        )
        cols = [d[0] for d in cur.description]
        rows = [dict(zip(cols, r)) for r in cur.fetchall()]
        for row in rows:  # JSON decoded before the frame is built (pandas would turn a None into NaN)
            for c in ("design", "parameters", "backend", "summary"):
                row[c] = _loads(row[c])
        frame = pd.DataFrame(rows, columns=cols)
        for c in ("design", "parameters", "backend", "summary", "finished_at"):
            frame[c] = pd.Series([r[c] for r in rows], index=frame.index, dtype=object)
        return frame

    # --- answers -------------------------------------------------------------------------------------------------
    def record(self, run_id: str, request: Request, answer: Answer) -> bool:
        """Store ``request`` and its ``answer`` in one transaction; return whether anything was written.

        Idempotent per request key: when a final answer is already stored, nothing changes (False).  A stored
        FAILED answer is replaced (its attempt count carried on).
        """
        key = request.key()
        if answer.request_key != key:
            raise DataError(f"record: answer.request_key {answer.request_key[:12]}... does not match the request "
                            f"({key[:12]}...)")
        with self._transaction() as con:
            return self._record(con, run_id, request, key, answer)

    def record_many(self, run_id: str, pairs: Sequence[tuple[Request, Answer]], *,
                    keys: Sequence[str] | None = None) -> list[bool]:
        """Store several (request, answer) pairs in one transaction; whether each was written (see :meth:`record`).

        ``keys`` are the requests' keys when the caller has them already (saves hashing them again).
        """
        if keys is None:
            keys = [r.key() for r, _ in pairs]
        elif len(keys) != len(pairs):
            raise DataError(f"record_many: {len(keys)} keys for {len(pairs)} answers")
        for (_, answer), key in zip(pairs, keys):
            if answer.request_key != key:
                raise DataError(f"record_many: an answer's request_key does not match its request ({key[:12]}...)")
        if len(set(keys)) != len(keys):  # the same request twice in one batch: in order, one at a time
            with self._transaction() as con:
                return [self._record(con, run_id, r, k, a) for (r, a), k in zip(pairs, keys)]
        now = utc_now()
        with self._transaction() as con:
            # inside the write transaction, so no other writer can change what is final until the commit
            final = self._final_among(con, keys)
            todo = [(r, k, a) for (r, a), k in zip(pairs, keys) if k not in final]
            con.executemany(_INSERT_REQUEST, [_request_row(run_id, r, k, now) for r, k, _ in todo])
            con.executemany(_UPSERT_RESPONSE, [_response_row(run_id, r, k, a, now) for r, k, a in todo])
        return [k not in final for k in keys]

    def _record(self, con: sqlite3.Connection, run_id: str, request: Request, key: str, answer: Answer) -> bool:
        now = utc_now()
        con.execute(_INSERT_REQUEST, _request_row(run_id, request, key, now))
        # one statement: insert, or replace a stored FAILED answer (counting the attempt); a final one stays
        return con.execute(_UPSERT_RESPONSE, _response_row(run_id, request, key, answer, now)).rowcount == 1

    @staticmethod
    def _final_among(con: sqlite3.Connection, keys: Sequence[str]) -> set[str]:
        out: set[str] = set()
        for i in range(0, len(keys), 500):
            chunk = list(keys[i: i + 500])
            q = ("SELECT request_key FROM responses WHERE status != 'failed' AND request_key IN ("
                 + ",".join("?" * len(chunk)) + ")")
            out.update(r[0] for r in con.execute(q, chunk))
        return out

    def get_answer(self, key: str) -> Answer | None:
        """The stored final answer for a request key, or None (also for a FAILED one: it is to be retried)."""
        row = self.connection.execute(
            "SELECT request_key, status, item_values, raw, distributions, mass_outside, argmax, reason, tokens_in,"
            " tokens_out, latency_s, created_at, backend FROM responses WHERE request_key = ? AND status != 'failed'",
            (key,),
        ).fetchone()
        if row is None:
            return None
        return Answer(
            request_key=row[0], status=ResponseStatus(row[1]), values=_loads(row[2]), raw=row[3],
            distributions=_loads(row[4]), mass_outside=_loads(row[5]), argmax=_loads(row[6]), reason=row[7],
            tokens_in=row[8], tokens_out=row[9], latency_s=row[10], created_at=row[11], backend=_loads(row[12]),
        )

    def final_keys(self, keys: Iterable[str] | None = None) -> set[str]:
        """The request keys (among ``keys``, or all) that have a final answer."""
        con = self.connection
        if keys is None:
            return {r[0] for r in con.execute("SELECT request_key FROM responses WHERE status != 'failed'")}
        return self._final_among(con, list(keys))

    def counts(self, run_id: str | None = None) -> dict[str, int]:
        """Number of stored responses by status (of one run, or all)."""
        q = "SELECT status, COUNT(*) FROM responses" + (" WHERE run_id = ?" if run_id else "") + " GROUP BY status"
        return {s: int(n) for s, n in self.connection.execute(q, (run_id,) if run_id else ())}

    # --- tables --------------------------------------------------------------------------------------------------
    def variants(self) -> pd.DataFrame:
        """The prompt variants: id and one column per facet."""
        rows = self.connection.execute("SELECT variant_id, facets FROM variants ORDER BY rowid").fetchall()
        return pd.DataFrame([{"variant": vid, **_loads(f)} for vid, f in rows])

    def persona_fields(self) -> dict[str, dict[str, str]]:
        """The placeholder values each templated persona was made from, by variant id (``{"country": "Japan"}``);
        variants without a templated persona are absent."""
        rows = self.connection.execute("SELECT variant_id, persona_fields FROM variants ORDER BY rowid").fetchall()
        return {vid: _loads(f) for vid, f in rows if f}

    def responses(
        self,
        *,
        run_id: str | Sequence[str] | None = None,
        instrument: str | None = None,
        model: str | None = None,
        status: str | Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """Tidy long table: one row per request x item.

        Columns are :data:`RESPONSE_COLUMNS` (``run_id`` is the run that answered) followed by one column per
        variant facet (``instruction``, ``option_order`` ...).  ``persona`` is ``""`` when there was none (so
        grouping and pivoting keep those rows); ``value`` and ``argmax`` are NaN where the answer is missing
        (refused, unparseable, failed); ``distribution`` is the option distribution as JSON text
        (``{label: p}``); ``simulated`` is True for answers of a simulated respondent.
        """
        where, args = [], []
        for col, val in (("s.run_id", run_id), ("s.status", status)):
            if val is not None:
                vals = [val] if isinstance(val, str) else list(val)
                where.append(f"{col} IN ({','.join('?' * len(vals))})")
                args.extend(vals)
        if instrument is not None:
            where.append("q.instrument = ?")
            args.append(instrument)
        if model is not None:
            where.append("q.model = ?")
            args.append(model)
        sql = (
            "SELECT s.run_id, q.model, q.instrument, COALESCE(s.instrument_version, q.instrument_version), q.item_ids,"
            " q.variant_id, q.sample, q.persona, q.mode, s.item_values, s.argmax, s.status, s.reason, s.mass_outside,"
            " s.distributions, s.raw, s.tokens_in, s.tokens_out, s.latency_s, s.backend, s.request_key, s.created_at"
            " FROM responses s JOIN requests q ON q.request_key = s.request_key"
            + (" WHERE " + " AND ".join(where) if where else "")
            + " ORDER BY s.rowid"
        )
        records = []
        for (rid, mdl, ins, iver, items, vid, sample, persona, mode, vals, amax, st, reason, outside, dists, raw,
             tin, tout, lat, backend, key, created) in self.connection.execute(sql, args):
            items_l = json.loads(items)
            vals_d, amax_d, out_d, dist_d = json.loads(vals), json.loads(amax), json.loads(outside), json.loads(dists)
            simulated = bool(json.loads(backend).get("simulated", False))
            n = len(items_l)
            for item in items_l:
                v, a, m = vals_d.get(item), amax_d.get(item), out_d.get(item)
                d = dist_d.get(item)
                records.append((
                    rid, mdl, ins, iver, item, vid, sample, persona or "", mode,
                    math.nan if v is None else float(v), math.nan if a is None else float(a), st, reason,
                    math.nan if m is None else float(m), None if d is None else _dumps(d, sort=False), raw,
                    tin if n == 1 else None, tout if n == 1 else None, lat, simulated, key, created,
                ))
        frame = pd.DataFrame.from_records(records, columns=list(RESPONSE_COLUMNS))
        if len(frame):  # a stable order: instrument, model, variant, sample, then the instrument's item order
            pos: dict[tuple[str, str], int] = {}
            for ins in frame["instrument"].unique():
                items = list(dict.fromkeys(frame.loc[frame["instrument"] == ins, "item"]))
                pos.update({(ins, i): k for k, i in enumerate(_item_order(ins, items))})
            frame["_pos"] = [pos[(a, b)] for a, b in zip(frame["instrument"], frame["item"])]
            frame = frame.sort_values(["instrument", "model", "variant", "sample", "_pos"], kind="stable")
            frame = frame.drop(columns="_pos").reset_index(drop=True)
        for c in ("value", "argmax", "mass_outside", "latency_s"):
            frame[c] = frame[c].astype(float)
        frame["sample"] = frame["sample"].astype("int64")
        frame["simulated"] = frame["simulated"].astype(bool)
        for c in ("tokens_in", "tokens_out"):
            frame[c] = frame[c].astype("Int64")
        facets = self.variants()
        if not facets.empty:
            facet_cols = [c for c in facets.columns if c != "variant" and c not in frame.columns]
            lookup = facets.set_index("variant")
            for c in facet_cols:
                frame[c] = frame["variant"].map(lookup[c]).astype(object)
        return frame

    def matrix(
        self,
        *,
        instrument: str | None = None,
        value: str = "value",
        respondent: Sequence[str] = ("model", "persona", "variant", "sample"),
        run_id: str | Sequence[str] | None = None,
        model: str | None = None,
    ) -> pd.DataFrame:
        """Wide respondent x item table of one instrument's answers.

        Parameters
        ----------
        instrument
            Required when the store holds more than one instrument.
        value
            ``"value"`` (parsed option, or expected value in logprobs mode) or ``"argmax"`` (most probable option).
        respondent
            Columns that identify a respondent (the row index); default model x persona x variant x sample.
        run_id, model
            Restrict to these runs / this model.

        Only OK answers fill cells; refusals, unparseable and failed answers are NaN.  Columns are in the
        instrument's item order when the instrument is shipped, else sorted.  A respondent x item cell answered
        twice (e.g. two runs with different temperatures under the same respondent columns) is a
        :class:`DataError` naming the fix (``run_id=`` or more ``respondent`` columns).
        """
        if value not in ("value", "argmax"):
            raise DataError(f"matrix: value must be 'value' or 'argmax', got {value!r}")
        long = self.responses(run_id=run_id, instrument=instrument, model=model)
        if long.empty:
            raise DataError(f"{self.path}: no responses" + (f" for instrument {instrument!r}" if instrument else ""))
        instruments = sorted(long["instrument"].unique())
        if len(instruments) > 1:
            raise DataError(f"matrix: the store holds several instruments ({', '.join(instruments)}); "
                            "pass instrument=")
        bad = [c for c in respondent if c not in long.columns]
        if bad:
            raise DataError(f"matrix: unknown respondent column(s) {bad}; available: {', '.join(long.columns)}")
        keys = [*respondent, "item"]
        dup = long.duplicated(keys, keep=False)
        if dup.any():
            example = long.loc[dup, keys].iloc[0].to_dict()
            raise DataError(
                f"matrix: {int(dup.sum())} rows answer the same respondent x item more than once (e.g. {example}); "
                "restrict with run_id= or add columns to respondent="
            )
        cells = long[keys].copy()
        cells["cell"] = long[value].where(long["status"] == "ok")
        wide = cells.set_index(keys)["cell"].unstack("item")
        order = _item_order(instruments[0], list(wide.columns))
        wide = wide[order]
        wide.columns.name = "item"
        return wide

    def export(self, path: str | Path, *, wide: bool = False, instrument: str | None = None,
               value: str = "value") -> Path:
        """Write :meth:`responses` (or with ``wide=True`` :meth:`matrix` of ``value``) to CSV/TSV or Parquet."""
        out = Path(path)
        suffix = out.suffix.lower()
        if suffix not in (".csv", ".tsv", ".parquet", ".pq"):
            raise DataError(f"{out}: export writes .csv, .tsv or .parquet, got suffix {out.suffix or '(none)'!r}")
        frame = (self.matrix(instrument=instrument, value=value).reset_index() if wide
                 else self.responses(instrument=instrument))
        out.parent.mkdir(parents=True, exist_ok=True)
        if suffix in (".parquet", ".pq"):
            frame.to_parquet(out, index=False)
        else:
            frame.to_csv(out, index=False, sep="\t" if suffix == ".tsv" else ",")
        return out


def _item_order(instrument: str, items: list[str]) -> list[str]:
    try:
        from psychoml.instruments import load

        known = load(instrument).item_ids
    except Exception:  # noqa: BLE001 - an instrument that is not shipped (a YAML path that moved): sorted order
        return sorted(items)
    pos = {i: k for k, i in enumerate(known)}
    return sorted(items, key=lambda i: (pos.get(i, len(pos)), i))


class _Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` on any exception, KeyboardInterrupt included)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def __enter__(self) -> sqlite3.Connection:
        self._con = self._store.connection
        try:
            self._con.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise StoreError(f"{self._store.path}: cannot write ({exc})") from None
        return self._con

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if exc_type is None:
            try:
                self._con.execute("COMMIT")
            except sqlite3.Error as err:
                self._con.execute("ROLLBACK")
                raise StoreError(f"{self._store.path}: cannot write ({err})") from None
        else:
            self._con.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise StoreError(f"{self._store.path}: cannot write ({exc})") from exc


def open(path: str | Path, *, create: bool = True) -> Store:
    """Open (or with ``create`` make) the response store at ``path``.

    Raises
    ------
    StoreError
        ``path`` is not a psychoml store (another file, another program's SQLite database), was written by a
        newer psychoml (its schema is newer than this one understands), or is missing and ``create`` is False.
        The message names the file.  The file is not modified in any of these cases.
    """
    p = Path(path)
    if p.is_dir():
        raise StoreError(f"{p}: is a directory, not a response store")
    exists = p.exists() and p.stat().st_size > 0
    if not exists:
        if not create:
            raise StoreError(f"{p}: response store not found")
        if p.exists():  # an empty file: fine to initialise, nothing to lose
            pass
        elif not p.parent.exists():
            raise StoreError(f"{p}: folder {str(p.parent)!r} does not exist")
    elif not _looks_like_sqlite(p):
        raise StoreError(f"{p}: not a psychoml response store (not an SQLite database)")
    try:
        con = sqlite3.connect(str(p), isolation_level=None, timeout=30.0, check_same_thread=False)
    except sqlite3.Error as exc:
        raise StoreError(f"{p}: cannot open response store ({exc})") from None
    try:
        if exists:
            _check_existing(p, con, create=create)
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=NORMAL")
        con.execute("PRAGMA foreign_keys=ON")
        _ensure_schema(p, con, new=not exists)
    except BaseException:
        con.close()
        raise
    return Store(p, con)


def _check_existing(p: Path, con: sqlite3.Connection, *, create: bool) -> None:
    """Refuse (without writing) a database that is not a psychoml store or is newer than this version.

    An empty SQLite database is accepted only for ``create``: it is also what a run's first moments leave (sqlite
    creates the file before the schema), and a reader must not initialise it behind the writer's back.
    """
    try:
        app_id = con.execute("PRAGMA application_id").fetchone()[0]
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{p}: not a psychoml response store ({exc})") from None
    if app_id != APPLICATION_ID or "meta" not in tables:
        if not tables and app_id == 0:
            if not create:
                raise StoreError(f"{p}: response store not found (an empty SQLite database)")
            return  # an empty SQLite database: nothing to lose
        raise StoreError(f"{p}: not a psychoml response store (an SQLite database of another program)")
    row = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    try:
        version = int(row[0]) if row else -1
    except ValueError:
        version = -1
    if version < 1:
        raise StoreError(f"{p}: damaged psychoml response store (no schema version)")
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"{p}: written by a newer psychoml (store schema {version}, this version reads up to {SCHEMA_VERSION}); "
            "upgrade psychoml to open it"
        )


def _ensure_schema(p: Path, con: sqlite3.Connection, *, new: bool) -> None:
    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if {"meta", "runs", "variants", "requests", "responses"} <= tables:
        return
    try:
        con.execute("BEGIN IMMEDIATE")
        for statement in filter(None, (s.strip() for s in _SCHEMA.split(";"))):
            con.execute(statement)
        con.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        for k, v in (("schema_version", str(SCHEMA_VERSION)), ("package_version", _package_version()),
                     ("created_at", utc_now())):
            con.execute("INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)", (k, v))
        con.execute("COMMIT")
    except sqlite3.Error as exc:
        if con.in_transaction:
            con.execute("ROLLBACK")
        raise StoreError(f"{p}: cannot initialise response store ({exc})") from None

