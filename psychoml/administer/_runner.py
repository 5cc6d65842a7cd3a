"""Administering an instrument to a model: design x items x samples -> requests -> answers in the store.

Order of work (so that bad input never touches the store)
----------------------------------------------------------
1. Validate every argument: the instrument loads, the design loads (design files with located errors),
   samples / concurrency / limits are in range, every prompt renders, the model spec resolves to a backend (an
   unknown spec, a missing optional dependency or API key fails here) and supports the scoring mode.
2. Read which request keys the store (if the file exists) already holds a final answer for: a rerun is served
   from the store.  Opening an existing store writes nothing.
3. Answer the pending requests with bounded concurrency (``concurrency`` in flight), token buckets for requests
   and tokens per minute, and retries with exponential backoff and jitter on transient errors (HTTP 429, 5xx,
   timeouts, malformed bodies) that honour the server's Retry-After.
4. The store file is created, and the run registered, only when the first answer arrives.  Until then a
   connection error is retried once only, and an unreachable server or a permanent error (bad key, unknown
   model) stops the run with a clear error before the store is created or written.
5. Answers are stored as they arrive, by one writer thread (SQLite releases the GIL while it writes, so the
   event loop keeps serving responses); the answers that arrive within ``GROUP_COMMIT_S`` (50 ms) share one
   transaction (group commit).  A run killed at any moment loses at most the answers in flight or not yet
   committed (50 ms' worth), and a rerun asks exactly those again.  A request that still fails after
   ``max_retries`` retries (or fails permanently) is stored as FAILED with its reason; FAILED answers are
   asked again by the next run.  The run's closing summary is stored with it.

Backends with a batch entry point (``answer_many``, the local transformers models) get their requests in
batches; the others one request per task.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import math
import random
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from psychoml._base import Result
from psychoml.administer._limits import TokenBucket, backoff_delay
from psychoml.administer._prices import estimate_cost
from psychoml.errors import BackendError, ConfigurationError, DataError, StoreError, TransientBackendError
from psychoml.instruments import Instrument
from psychoml.instruments import load as load_instrument
from psychoml.prompts import Design, Variant, item_groups, load_design, render
from psychoml.records import Answer, Request, ResponseStatus
from psychoml.store import Store
from psychoml.store import open as open_store

__all__ = ["RunSummary", "administer", "administer_async", "build_requests"]

_MODES = ("logprobs", "generate")

#: The writer stores the answers that arrived within this many seconds (or this many answers) in one transaction.
GROUP_COMMIT_S = 0.05
GROUP_COMMIT_MAX = 256


@dataclass(frozen=True, repr=False)
class RunSummary(Result):
    """What a run did.

    ``requests`` is the number of requests the design asks for; each ended as one of ``answered`` (OK),
    ``refused``, ``unparseable``, ``failed`` (after retries; asked again by the next run) or ``from_store``
    (already answered by an earlier run).  ``tokens_in`` / ``tokens_out`` count this run's new answers;
    ``est_cost`` is their estimated USD cost at list prices (None where the price table does not know the
    model; 0 for local and simulated models).  ``interrupted`` is True when the run stopped early.
    """

    run_id: str
    store: str
    model: str
    instrument: str
    requests: int
    answered: int
    refused: int
    unparseable: int
    failed: int
    from_store: int
    retries: int
    tokens_in: int
    tokens_out: int
    est_cost: float | None
    elapsed_s: float
    interrupted: bool = False

    @property
    def tokens(self) -> int:
        return self.tokens_in + self.tokens_out

    @property
    def complete(self) -> bool:
        """Whether every request of the design now has a final answer in the store."""
        return not self.interrupted and self.failed == 0 and (
            self.answered + self.refused + self.unparseable + self.from_store == self.requests
        )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_frame(self) -> pd.DataFrame:
        """One row per quantity (``quantity``, ``value``)."""
        return pd.DataFrame({"value": pd.Series(self.to_dict(), dtype=object)}).rename_axis("quantity")


# --------------------------------------------------------------------------------------------------------------------
# validation and request building


def _positive_int(name: str, value: Any, *, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise DataError(f"administer: {name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _positive_float(name: str, value: Any) -> float | None:
    if value is None:
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise DataError(f"administer: {name} must be a positive number, got {value!r}") from None
    if not (math.isfinite(out) and out > 0):
        raise DataError(f"administer: {name} must be a positive number, got {value!r}")
    return out


def _resolve_design(design: Any, personas: Sequence[str | None] | None) -> Design:
    d = load_design(design)
    if personas is not None:
        if isinstance(personas, str):
            personas = [personas]
        plist = list(personas)
        if not plist:
            raise DataError("administer: personas must not be empty (leave it out to use the design's personas)")
        for p in plist:
            if p is not None and not isinstance(p, str):
                raise DataError(f"administer: each persona must be a text or None, got {type(p).__name__}")
        d = dataclasses.replace(d, personas=tuple(plist))
    return d


def build_requests(
    instrument: Instrument,
    model: str,
    design: Design,
    *,
    samples: int = 1,
    mode: str = "logprobs",
    params: Mapping[str, Any] | None = None,
    items: Sequence[str] | None = None,
) -> tuple[list[Variant], list[Request]]:
    """The design's variants and every request of the run: variants x prompts (items or scales) x samples."""
    variants = design.variants()
    requests: list[Request] = []
    params = dict(params or {})
    for variant in variants:
        for group in item_groups(instrument, variant, items):
            rendered = render(instrument, variant, group)
            for sample in range(samples):
                requests.append(Request(
                    model=model, instrument=instrument.id, item_ids=tuple(group), variant_id=variant.id,
                    sample=sample, messages=rendered.messages, options=rendered.options, mode=mode,  # type: ignore[arg-type]
                    params=params, instrument_version=instrument.version, persona=variant.facets["persona"],
                ))
    return variants, requests


def _get_backend(spec: str, options: Mapping[str, Any]) -> Any:
    try:
        from psychoml.backends import get_backend  # type: ignore[attr-defined]
    except ImportError:  # re-export not in place yet
        from psychoml.backends._registry import get_backend
    return get_backend(spec, **dict(options))


def _failed(request: Request, reason: str, backend: Mapping[str, Any]) -> Answer:
    return Answer(
        request_key=request.key(), status=ResponseStatus.FAILED, values={i: None for i in request.item_ids},
        argmax={i: None for i in request.item_ids}, reason=reason, backend=dict(backend),
    )


def _is_connection_error(exc: BaseException) -> bool:
    cause = exc.__cause__
    return (cause is not None and type(cause).__name__ == "APIConnectionError") or "cannot connect" in str(exc)


# --------------------------------------------------------------------------------------------------------------------


class _Progress:
    """A rich progress bar with ETA and running counts (silent when disabled)."""

    def __init__(self, enabled: bool, total: int, description: str) -> None:
        self._bar: Any = None
        self._counts: dict[str, int] = {}
        if not enabled:
            return
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._bar = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), TextColumn("{task.fields[counts]}"),
            console=Console(stderr=True), transient=False, refresh_per_second=4,
        )
        self._task = self._bar.add_task(description, total=total, rate="", counts="")
        self._t0 = time.perf_counter()
        self._done = 0
        self._bar.start()

    def advance(self, status: ResponseStatus | str, n: int = 1) -> None:
        if self._bar is None:
            return
        self._done += n
        name = status.value if isinstance(status, ResponseStatus) else status
        self._counts[name] = self._counts.get(name, 0) + n
        rate = self._done / max(1e-9, time.perf_counter() - self._t0)
        counts = " ".join(f"{k} {v}" for k, v in sorted(self._counts.items()))
        self._bar.update(self._task, advance=n, rate=f"{rate:.1f}/s", counts=counts)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


def print_summary(summary: RunSummary) -> None:
    """The closing summary as a small table on stderr."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"run {summary.run_id}" + (" (interrupted)" if summary.interrupted else ""),
                  show_header=False)
    cost = "unknown (no price for this model)" if summary.est_cost is None else f"${summary.est_cost:.4f} (estimate)"
    for k, v in (
        ("model", summary.model), ("instrument", summary.instrument), ("requests", summary.requests),
        ("answered", summary.answered), ("refused", summary.refused), ("unparseable", summary.unparseable),
        ("failed (retried next run)", summary.failed), ("served from store", summary.from_store),
        ("retries", summary.retries), ("tokens in / out", f"{summary.tokens_in} / {summary.tokens_out}"),
        ("estimated cost", cost), ("elapsed", f"{summary.elapsed_s:.1f} s"), ("store", summary.store),
    ):
        table.add_row(k, str(v))
    Console(stderr=True).print(table)


class _Run:
    """State of one run: limits, retry policy and counters."""

    def __init__(self, backend: Any, *, max_retries: int, rpm: float | None, tpm: float | None,
                 retry_base: float, retry_cap: float, seed: int | None) -> None:
        self.backend = backend
        self.parameters = dict(getattr(backend, "parameters", {}) or {})
        self.max_retries = max_retries
        self.rpm = TokenBucket(rpm / 60.0, max(1.0, rpm / 60.0)) if rpm else None
        self.tpm = TokenBucket(tpm / 60.0, max(1.0, tpm / 60.0)) if tpm else None
        self.retry_base = retry_base
        self.retry_cap = retry_cap
        self.rng = random.Random(seed)
        self.retries = 0

    @staticmethod
    def estimated_tokens(request: Request) -> int:
        return len(request.prompt_text) // 4 + int(request.params.get("max_tokens") or 16)

    async def _limit(self, requests: Sequence[Request]) -> None:
        if self.rpm is not None:
            await self.rpm.acquire(len(requests))
        if self.tpm is not None:
            await self.tpm.acquire(sum(self.estimated_tokens(r) for r in requests))

    async def answer(self, request: Request, *, max_retries: int | None = None,
                     fail_fast_on_connection: bool = False) -> tuple[Answer, BaseException | None]:
        """The backend's answer, retrying transient errors; FAILED (with the reason) when retries run out.

        Returns the answer and, for a FAILED one, the error that ended it.  ``fail_fast_on_connection`` gives
        up after one retry on a connection error (used until the first answer is stored, so an unreachable
        server is reported in seconds).
        """
        limit = self.max_retries if max_retries is None else max_retries
        attempt = 0
        while True:
            await self._limit([request])
            try:
                return await self.backend.answer(request), None
            except TransientBackendError as exc:
                attempt += 1
                if attempt > limit or (fail_fast_on_connection and _is_connection_error(exc) and attempt > 1):
                    return _failed(request, f"gave up after {attempt} attempt(s): {exc}", self.parameters), exc
                self.retries += 1
                await asyncio.sleep(backoff_delay(attempt, retry_after=exc.retry_after, base=self.retry_base,
                                                  cap=self.retry_cap, rng=self.rng))
            except BackendError as exc:
                return _failed(request, str(exc), self.parameters), exc

    async def answer_many(self, requests: Sequence[Request]) -> tuple[list[Answer], BaseException | None]:
        attempt = 0
        while True:
            await self._limit(requests)
            try:
                return list(await self.backend.answer_many(list(requests))), None
            except TransientBackendError as exc:
                attempt += 1
                if attempt > self.max_retries:
                    return [_failed(r, f"gave up after {attempt} attempt(s): {exc}", self.parameters)
                            for r in requests], exc
                self.retries += 1
                await asyncio.sleep(backoff_delay(attempt, retry_after=exc.retry_after, base=self.retry_base,
                                                  cap=self.retry_cap, rng=self.rng))
            except BackendError as exc:
                return [_failed(r, str(exc), self.parameters) for r in requests], exc


async def administer_async(
    instrument: Instrument | str | Path,
    model: str,
    *,
    design: Design | str | Path | Mapping[str, Any] = "quick",
    samples: int = 1,
    out: str | Path | Store | None = None,
    mode: str = "logprobs",
    temperature: float | None = None,
    max_tokens: int | None = None,
    concurrency: int = 8,
    rpm: float | None = None,
    tpm: float | None = None,
    max_retries: int = 6,
    personas: Sequence[str | None] | None = None,
    max_items: int | None = None,
    items: Sequence[str] | None = None,
    progress: bool = True,
    backend_options: Mapping[str, Any] | None = None,
    retry_base: float = 0.5,
    retry_cap: float = 60.0,
    seed: int | None = None,
) -> RunSummary:
    """Administer ``instrument`` to ``model`` under ``design`` and store every answer (async core).

    Parameters
    ----------
    instrument
        Shipped instrument id (``"svs56"``), YAML path or :class:`~psychoml.instruments.Instrument`.
    model
        Model spec: ``openai:MODEL``, ``openai-compatible:BASE_URL#MODEL``, ``anthropic:MODEL``,
        ``hf:PATH_OR_ID``, ``local:smollm2`` or ``simulated:SPEC``.
    design
        Shipped design name (``"minimal"``, ``"quick"``, ``"full"``), design YAML path, mapping or
        :class:`~psychoml.prompts.Design`.
    samples
        Answers per (variant, item).
    out
        The store file (created when missing) or an open :class:`~psychoml.store.Store`.
    mode
        ``"logprobs"`` (option probabilities) or ``"generate"`` (sampled text parsed to an option).
    temperature
        Sampling temperature; default 0 in logprobs mode, 1 in generate mode.
    max_tokens
        Completion token limit (default: the backend's choice for the mode).
    concurrency
        Requests in flight at once.
    rpm, tpm
        Requests / tokens per minute limits (token buckets; tokens estimated as prompt characters / 4 plus
        ``max_tokens``).
    max_retries
        Retries per request on transient errors (HTTP 429 / 5xx, timeouts, malformed bodies), with exponential
        backoff and jitter from ``retry_base`` seconds (capped at ``retry_cap``), honouring Retry-After.
    personas
        Persona texts replacing the design's persona facet (``None`` in the list: no persona).
    max_items, items
        Administer only the first ``max_items`` items, or the listed ``items``.
    progress
        Show a progress bar with ETA on stderr and print the closing summary.
    backend_options
        Passed to :func:`psychoml.backends.get_backend` (e.g. ``{"timeout": 30}``, ``{"batch_size": 16}``).
    seed
        Seed of the retry jitter.

    Returns
    -------
    RunSummary

    Raises
    ------
    DataError, InstrumentError, ValidationError
        Invalid arguments, instrument or design (file, YAML path and line named).
    ModelSpecError, ConfigurationError
        Unknown model spec, missing optional dependency or API key.
    BackendError
        The model cannot be reached or rejects the first request.
    StoreError
        ``out`` is not a psychoml store or was written by a newer psychoml.

    None of these errors creates or changes the store file.
    """
    t0 = time.perf_counter()
    # --- 1. validate everything before touching the store ---------------------------------------------------------
    if isinstance(instrument, Instrument):
        inst = instrument
    elif isinstance(instrument, str | Path):
        inst = load_instrument(instrument)
    else:
        raise DataError(f"administer: instrument must be an id, a path or an Instrument, got {type(instrument).__name__}")
    if not isinstance(model, str) or not model.strip():
        raise DataError(f"administer: model must be a model spec such as 'openai:gpt-4o-mini', got {model!r}")
    if mode not in _MODES:
        raise DataError(f"administer: mode must be 'logprobs' or 'generate', got {mode!r}")
    samples = _positive_int("samples", samples)
    concurrency = _positive_int("concurrency", concurrency)
    max_retries = _positive_int("max_retries", max_retries, minimum=0)
    rpm_v = _positive_float("rpm", rpm)
    tpm_v = _positive_float("tpm", tpm)
    if temperature is not None and (isinstance(temperature, bool) or not isinstance(temperature, int | float)
                                    or not (math.isfinite(temperature) and temperature >= 0)):
        raise DataError(f"administer: temperature must be a number >= 0, got {temperature!r}")
    if max_tokens is not None:
        max_tokens = _positive_int("max_tokens", max_tokens)
    if out is None:
        raise DataError("administer: out must name the store file (e.g. out='study.db')")
    d = _resolve_design(design, personas)
    if items is not None and max_items is not None:
        raise DataError("administer: give items or max_items, not both")
    item_ids: list[str] | None = None
    if items is not None:
        item_ids = [inst.item(i).id for i in ([items] if isinstance(items, str) else items)]
        if not item_ids:
            raise DataError("administer: items is empty")
    elif max_items is not None:
        item_ids = list(inst.item_ids[: _positive_int("max_items", max_items)])
    params: dict[str, Any] = {"temperature": float(temperature if temperature is not None else
                                                   (0.0 if mode == "logprobs" else 1.0))}
    if max_tokens is not None:
        params["max_tokens"] = max_tokens
    variants, requests = build_requests(inst, model, d, samples=samples, mode=mode, params=params, items=item_ids)

    store_path = out.path if isinstance(out, Store) else Path(out)
    if not isinstance(out, Store):
        if store_path.is_dir():
            raise StoreError(f"{store_path}: is a directory, not a response store")
        if not store_path.parent.exists():
            raise StoreError(f"{store_path}: folder {str(store_path.parent)!r} does not exist")

    backend = _get_backend(model, backend_options or {})
    try:
        if mode not in getattr(backend, "capabilities", frozenset(_MODES)):
            raise ConfigurationError(
                f"model spec {model!r} does not support mode {mode!r} (supported: "
                f"{', '.join(sorted(backend.capabilities))})"
            )
        run = _Run(backend, max_retries=max_retries, rpm=rpm_v, tpm=tpm_v, retry_base=retry_base,
                   retry_cap=retry_cap, seed=seed)

        # --- 2. what the store already holds (opening an existing store writes nothing) --------------------------
        store: Store | None = None
        if isinstance(out, Store):
            store = out
        elif store_path.exists() and store_path.stat().st_size > 0:
            store = open_store(store_path, create=False)  # writes nothing (and refuses a foreign file)
        session = _Session(store, store_path, own=not isinstance(out, Store), start={
            "model": model, "instrument": inst.id, "instrument_version": inst.version, "design": d.to_dict(),
            "samples": samples, "mode": mode, "backend": run.parameters, "variants": variants, "n_requests": len(requests),
            "parameters": {
                "design": d.name, "samples": samples, "mode": mode, **params, "concurrency": concurrency,
                "rpm": rpm_v, "tpm": tpm_v, "max_retries": max_retries, "max_items": max_items,
                "items": item_ids, "personas": list(personas) if personas is not None else None,
            },
        })
        try:
            keys = [r.key() for r in requests]
            done = store.final_keys(keys) if store is not None else set()
            pending = [(r, k) for r, k in zip(requests, keys) if k not in done]
            return await _execute(session, run, inst, model, len(requests), pending, concurrency=concurrency,
                                  progress=progress, t0=t0)
        finally:
            session.close()
    finally:
        await backend.aclose()


class _Session:
    """The store side of a run.

    The store file is created (and the run registered) only when the first answer worth keeping arrives, so
    that an unreachable server or a rejected key leaves no file behind.  Answers are written by one writer
    thread in group commits: those that arrive while a write is under way share the next transaction (each
    answer is still stored whole or not at all; a kill loses at most the few answers not yet committed, which
    the next run asks again).
    """

    def __init__(self, store: Store | None, path: Path, *, own: bool, start: dict[str, Any]) -> None:
        self.store = store
        self.path = path
        self.own = own
        self.start = start
        self.run_id: str | None = None
        self.answered = False  # a final answer has arrived (it may still be on its way to the file)
        self.buffer: list[tuple[Request, str, Answer]] = []
        self._lock = threading.Lock()  # one writer at a time: the writer thread, or the final flush
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None

    @property
    def started(self) -> bool:
        return self.run_id is not None

    @property
    def executor(self) -> concurrent.futures.ThreadPoolExecutor:
        if self._executor is None:
            self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="psychoml-store")
        return self._executor

    def ensure(self) -> tuple[Store, str]:
        with self._lock:
            return self._ensure()

    def _ensure(self) -> tuple[Store, str]:
        if self.store is None:
            self.store = open_store(self.path)
        if self.run_id is None:
            self.run_id = self.store.start_run(**self.start)
        return self.store, self.run_id

    def write(self, batch: list[tuple[Request, str, Answer]]) -> list[tuple[Answer, bool]]:
        """Write ``batch`` in one transaction (thread-safe); (answer, written) for each."""
        if not batch:
            return []
        with self._lock:
            store, run_id = self._ensure()
            written = store.record_many(run_id, [(r, a) for r, _, a in batch], keys=[k for _, k, _ in batch])
        return [(a, w) for (_, _, a), w in zip(batch, written)]

    def finish(self, summary: Mapping[str, Any], status: str) -> None:
        """Store the closing summary (after any write still in flight)."""
        with self._lock:
            if self.store is not None and self.run_id is not None:
                self.store.finish_run(self.run_id, summary, status=status)

    def take(self) -> list[tuple[Request, str, Answer]]:
        batch, self.buffer = self.buffer, []
        return batch

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)
        if self.own and self.store is not None:
            self.store.close()


def _unreachable_error(model: str, session: _Session, answer: Answer) -> BackendError:
    what = "written to" if session.store is not None else "created at"
    return BackendError(f"{model}: the model did not answer ({answer.reason}); nothing was {what} {session.path}")


async def _execute(
    session: _Session, run: _Run, inst: Instrument, model: str, n_requests: int,
    pending: list[tuple[Request, str]], *, concurrency: int, progress: bool, t0: float,
) -> RunSummary:
    counts = {s: 0 for s in ResponseStatus}
    tokens = [0, 0]
    from_store = n_requests - len(pending)
    bar = _Progress(progress, n_requests, f"{inst.id} -> {model}")
    if from_store:
        bar.advance("from store", from_store)

    wake = asyncio.Event()  # an answer is buffered
    flush_now = asyncio.Event()  # write the buffer now: it is full, or the run is ending

    def settle(request: Request, key: str, answer: Answer, error: BaseException | None) -> None:
        """Buffer an answer; an unreachable server / permanent error before any answer arrived aborts the run."""
        if answer.request_key != key:
            raise BackendError(f"{model}: the backend returned an answer that does not belong to the request")
        failed = answer.status is ResponseStatus.FAILED
        if failed and not session.answered and error is not None and (
                not isinstance(error, TransientBackendError) or _is_connection_error(error)):
            raise _unreachable_error(model, session, answer)
        if not failed:
            session.answered = True
        session.buffer.append((request, key, answer))
        wake.set()
        if len(session.buffer) >= GROUP_COMMIT_MAX:
            flush_now.set()

    def account(results: list[tuple[Answer, bool]]) -> None:
        nonlocal from_store
        for answer, written in results:
            if written:
                counts[answer.status] += 1
                tokens[0] += int(answer.tokens_in or 0)
                tokens[1] += int(answer.tokens_out or 0)
                bar.advance(answer.status)
            else:  # answered meanwhile by a concurrent run on the same store
                from_store += 1
                bar.advance("from store")

    def flush() -> None:
        account(session.write(session.take()))

    async def writer(stop: asyncio.Event) -> None:
        """Writes what the workers buffered, off the event loop (SQLite releases the GIL while it writes).

        Group commit: after the first answer of a group arrives, the writer waits ``GROUP_COMMIT_S`` (or until
        ``GROUP_COMMIT_MAX`` answers are buffered) and stores the whole group in one transaction.  A transaction
        costs far more than a row, so this keeps the store's cost per answer small at any concurrency; a kill
        loses at most the answers of the last ``GROUP_COMMIT_S``, which the next run asks again.
        """
        loop = asyncio.get_running_loop()
        while True:
            await wake.wait()
            wake.clear()
            if not stop.is_set() and len(session.buffer) < GROUP_COMMIT_MAX:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(flush_now.wait(), GROUP_COMMIT_S)
            flush_now.clear()
            while session.buffer:
                account(await loop.run_in_executor(session.executor, session.write, session.take()))
            if stop.is_set():
                return

    def summary(interrupted: bool) -> RunSummary:
        return RunSummary(
            run_id=session.run_id or "", store=str(session.path), model=model, instrument=inst.id,
            requests=n_requests, answered=counts[ResponseStatus.OK], refused=counts[ResponseStatus.REFUSED],
            unparseable=counts[ResponseStatus.UNPARSEABLE], failed=counts[ResponseStatus.FAILED],
            from_store=from_store, retries=run.retries, tokens_in=tokens[0], tokens_out=tokens[1],
            est_cost=estimate_cost(model, tokens[0], tokens[1]), elapsed_s=time.perf_counter() - t0,
            interrupted=interrupted,
        )

    interrupted = True
    try:
        if not pending:
            session.ensure()  # nothing to ask: the run is still recorded, all served from the store
        elif hasattr(run.backend, "answer_many"):
            size = max(1, int(getattr(run.backend, "batch_size", 16))) * 4
            # a batch of one first: a model that cannot answer fails fast, before any file is written
            chunks = [pending[:1]] + [pending[1:][j: j + size] for j in range(0, len(pending) - 1, size)]
            for chunk in chunks:
                answers, error = await run.answer_many([r for r, _ in chunk])
                if len(answers) != len(chunk):
                    raise BackendError(f"{model}: answer_many returned {len(answers)} answers for {len(chunk)} "
                                       "requests")
                for (r, k), a in zip(chunk, answers):
                    settle(r, k, a, error)
                flush()
        else:
            queue: asyncio.Queue[tuple[Request, str]] = asyncio.Queue()
            for item in pending:
                queue.put_nowait(item)

            stop = asyncio.Event()
            writing = asyncio.ensure_future(writer(stop))

            async def worker() -> None:
                while True:
                    try:
                        r, k = queue.get_nowait()
                    except asyncio.QueueEmpty:
                        return
                    answer, error = await run.answer(r, fail_fast_on_connection=not session.answered)
                    settle(r, k, answer, error)
                    if writing.done():  # the writer stopped: a store error, raised here
                        writing.result()
                        raise StoreError(f"{session.path}: the store writer stopped")

            workers = [asyncio.ensure_future(worker()) for _ in range(min(concurrency, len(pending)))]
            try:
                await asyncio.gather(*workers)
                stop.set()
                wake.set()
                flush_now.set()
                await writing
            except BaseException:
                for w in [*workers, writing]:
                    w.cancel()
                await asyncio.gather(*workers, writing, return_exceptions=True)
                raise
        interrupted = False
    finally:
        bar.close()
        try:
            if session.buffer and (session.started or session.answered):
                flush()  # answers that arrived before the interruption are kept (waits for a write in flight)
        except (StoreError, BackendError):
            if not interrupted:
                raise
        result = summary(interrupted)
        if session.started:
            try:
                session.finish(result.to_dict(), "interrupted" if interrupted else "finished")
            except StoreError:
                if not interrupted:
                    raise
    if progress:
        print_summary(result)
    return result


def administer(instrument: Instrument | str | Path, model: str, **kwargs: Any) -> RunSummary:
    """Administer ``instrument`` to ``model`` and store every answer (see :func:`administer_async`).

    Examples
    --------
    >>> from psychoml.administer import administer
    >>> summary = administer("svs56", "simulated:grm?seed=1", design="quick", samples=2,
    ...                      out="study.db")                                  # doctest: +SKIP
    >>> summary.answered, summary.from_store                                  # doctest: +SKIP
    """
    coro = administer_async(instrument, model, **kwargs)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    # called from inside an event loop (a notebook): run in a helper thread with its own loop
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()
