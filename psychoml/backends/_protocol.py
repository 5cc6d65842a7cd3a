"""The backend protocol and what every backend shares: building an Answer from option probabilities."""

from __future__ import annotations

import inspect
import math
import time
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, Self, runtime_checkable

from psychoml.errors import BackendError, ConfigurationError
from psychoml.records import Answer, Option, Request, ResponseStatus

__all__ = ["Backend", "Timer", "answer_from_distributions", "check_capability", "option_values"]


@runtime_checkable
class Backend(Protocol):
    """A model that answers :class:`~psychoml.records.Request` objects.

    ``spec`` is the model spec it was built from (``openai:gpt-4o-mini``,
    ``local:smollm2``, ``simulated:grm?seed=1`` ...); ``capabilities`` says
    which scoring modes it supports (``"logprobs"``, ``"generate"``);
    ``parameters`` the settings actually used (never secrets), copied into
    every :attr:`Answer.backend`.

    ``answer`` raises :class:`~psychoml.errors.TransientBackendError` for
    failures worth retrying (HTTP 429 / 5xx, timeouts, connection errors,
    malformed response bodies) with ``retry_after`` from the server's
    Retry-After, and :class:`~psychoml.errors.BackendError` for permanent ones.
    It never retries by itself: the runner does.  A refusal or an unparseable
    answer is an :class:`Answer` with that status, not an exception.
    """

    spec: str
    capabilities: frozenset[str]

    @property
    def parameters(self) -> Mapping[str, Any]: ...

    async def answer(self, request: Request) -> Answer: ...

    async def aclose(self) -> None: ...


def check_capability(backend: Any, request: Request) -> None:
    """Raise :class:`BackendError` when ``backend`` cannot score ``request.mode``."""
    if request.mode not in backend.capabilities:
        modes = ", ".join(sorted(backend.capabilities))
        hint = " (it does not expose log-probabilities)" if request.mode == "logprobs" else ""
        raise BackendError(f"{backend.spec}: mode {request.mode!r} is not supported{hint}; supported: {modes}")


def check_options(spec: str, options: Mapping[str, Any], backend_class: type) -> None:
    """Raise :class:`ConfigurationError` naming any option ``backend_class`` does not accept (and the accepted ones)."""
    params = inspect.signature(backend_class.__init__).parameters
    accepted = [n for n, p in params.items() if p.kind is inspect.Parameter.KEYWORD_ONLY]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ConfigurationError(
            f"model spec {spec!r}: unknown backend option(s) {', '.join(unknown)}; accepted: {', '.join(accepted)}"
        )


def option_values(options: Sequence[Option]) -> dict[str, float]:
    return {o.label: float(o.value) for o in options}


def answer_from_distributions(
    request: Request,
    distributions: Mapping[str, Mapping[str, float]],
    mass_outside: Mapping[str, float],
    *,
    raw: str | None,
    backend: Mapping[str, Any],
    tokens_in: int | None = None,
    tokens_out: int | None = None,
    latency_s: float | None = None,
) -> Answer:
    """An :class:`Answer` in logprobs mode: expected value and argmax per item from its option distribution.

    ``distributions`` maps item id to ``{label: probability}`` already
    renormalised over the options.  An item with an empty distribution (no
    probability fell on any option) gets value ``None`` and makes the answer
    UNPARSEABLE, naming the item: a missing answer is never guessed.

    The expected value is :math:`\\sum_k p_k v_k` over the options' scored
    values :math:`v_k`; the argmax is the value of the most probable option
    (the first presented one on an exact tie).
    """
    values_by_label = option_values(request.options)
    values: dict[str, float | None] = {}
    argmax: dict[str, float | None] = {}
    dists: dict[str, dict[str, float]] = {}
    empty: list[str] = []
    for item in request.item_ids:
        dist = dict(distributions.get(item) or {})
        if not dist or not math.isfinite(sum(dist.values())) or sum(dist.values()) <= 0:
            values[item] = None
            argmax[item] = None
            empty.append(item)
            continue
        ordered = [(o.label, float(dist.get(o.label, 0.0))) for o in request.options]
        dists[item] = dict(ordered)
        values[item] = float(sum(p * values_by_label[label] for label, p in ordered))
        best = max(ordered, key=lambda lp: lp[1])  # max keeps the first of equal maxima
        argmax[item] = values_by_label[best[0]]
    status = ResponseStatus.OK
    reason = None
    if empty:
        status = ResponseStatus.UNPARSEABLE
        reason = "no probability on any response option for item(s) " + ", ".join(empty)
    return Answer(
        request_key=request.key(),
        status=status,
        values=values,
        raw=raw,
        distributions=dists,
        mass_outside={k: float(v) for k, v in mass_outside.items()},
        argmax=argmax,
        reason=reason,
        tokens_in=tokens_in,
        tokens_out=tokens_out,
        latency_s=latency_s,
        backend=dict(backend),
    )


class Timer:
    """Wall-clock latency of one request (``with Timer() as t: ...; t.seconds``)."""

    def __enter__(self) -> Self:
        self._t0 = time.perf_counter()
        self.seconds = 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self._t0
