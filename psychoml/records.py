"""What the store and the backends share: requests, answers, their status, and request keys.

A :class:`Request` is everything that determines a model's answer: the model
spec, the rendered chat messages, the response options as presented, the
scoring mode and the sampling parameters, plus the design coordinates that say
where it belongs (instrument, items, variant, sample).  Its :meth:`Request.key`
is a content hash of all of that, so a rerun of the same request is recognised
and served from the store, and nothing is asked twice.

An :class:`Answer` is what came back, parsed: per item a value (the parsed
option, or the expected value under the option distribution), the full
distribution where log-probabilities were available, and a status that keeps
refusals and unparseable text apart from valid answers.
"""

from __future__ import annotations

import datetime as _dt
import enum
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from psychoml.errors import DataError
from psychoml.prompts.messages import Message, Option

__all__ = [
    "KEY_VERSION",
    "Answer",
    "Message",
    "Option",
    "Request",
    "ResponseStatus",
    "ScoringMode",
    "request_key",
    "utc_now",
]

#: Bumped when the fields that enter a request key change meaning.
KEY_VERSION = 1

ScoringMode = Literal["logprobs", "generate"]


class ResponseStatus(str, enum.Enum):
    """Outcome of one request."""

    OK = "ok"
    REFUSED = "refused"
    UNPARSEABLE = "unparseable"
    FAILED = "failed"

    @property
    def is_final(self) -> bool:
        """Whether the answer is kept (a FAILED request is retried on resume, the others are not)."""
        return self is not ResponseStatus.FAILED


def _freeze(mapping: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True)
class Request:
    """One prompt to one model.

    ``item_ids`` holds one item for item-per-prompt designs, or every item of a
    scale for whole-scale prompts.  ``options`` are in presented order (after
    any reversal), identical for every item of the request.
    """

    model: str
    instrument: str
    item_ids: tuple[str, ...]
    variant_id: str
    sample: int
    messages: tuple[Message, ...]
    options: tuple[Option, ...]
    mode: ScoringMode = "logprobs"
    params: Mapping[str, Any] = field(default_factory=dict)
    instrument_version: str = ""
    persona: str | None = None

    def __post_init__(self) -> None:
        if not self.item_ids:
            raise DataError("Request.item_ids: at least one item is needed")
        if not self.options:
            raise DataError("Request.options: at least one response option is needed")
        if self.mode not in ("logprobs", "generate"):
            raise DataError(f"Request.mode: expected 'logprobs' or 'generate', got {self.mode!r}")
        object.__setattr__(self, "params", _freeze(self.params))
        object.__setattr__(self, "item_ids", tuple(self.item_ids))
        object.__setattr__(self, "messages", tuple(self.messages))
        object.__setattr__(self, "options", tuple(self.options))

    def canonical(self) -> dict[str, Any]:
        """The JSON-able content that identifies this request (what :meth:`key` hashes)."""
        return {
            "v": KEY_VERSION,
            "model": self.model,
            "instrument": self.instrument,
            "instrument_version": self.instrument_version,
            "items": list(self.item_ids),
            "variant": self.variant_id,
            "sample": self.sample,
            "messages": [[m.role, m.content] for m in self.messages],
            "options": [[o.label, o.value, o.text] for o in self.options],
            "mode": self.mode,
            "params": {k: self.params[k] for k in sorted(self.params)},
            "persona": self.persona,
        }

    def key(self) -> str:
        """SHA-256 content hash of :meth:`canonical` (hex), computed once per request."""
        # The runner, the backend and the store each ask for the key; the request is frozen, so hash it once.
        key = self.__dict__.get("_key")
        if key is None:
            key = request_key(self.canonical())
            object.__setattr__(self, "_key", key)
        return key

    @property
    def prompt_text(self) -> str:
        """The messages as one readable block (for previews and the store)."""
        return "\n\n".join(f"[{m.role}]\n{m.content}" for m in self.messages)


def request_key(content: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical JSON of ``content`` (sorted keys, no whitespace)."""
    blob = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def utc_now() -> str:
    """ISO-8601 UTC timestamp with microseconds."""
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class Answer:
    """A model's answer to one :class:`Request`.

    ``values`` maps each item id to its score (parsed option value in
    ``generate`` mode, the expected value under ``distributions`` in
    ``logprobs`` mode), or ``None`` when missing.  ``distributions`` maps item
    id to ``{option label: probability}`` renormalised over the options, and
    ``mass_outside`` to the probability that fell outside them before
    renormalisation.  ``reason`` says why a status is not OK.
    """

    request_key: str
    status: ResponseStatus
    values: Mapping[str, float | None] = field(default_factory=dict)
    raw: str | None = None
    distributions: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    mass_outside: Mapping[str, float] = field(default_factory=dict)
    argmax: Mapping[str, float | None] = field(default_factory=dict)
    reason: str | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    latency_s: float | None = None
    created_at: str = field(default_factory=utc_now)
    backend: Mapping[str, Any] = field(default_factory=dict)  # backend parameters actually used, never secrets

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", ResponseStatus(self.status))
        for name in ("values", "distributions", "mass_outside", "argmax", "backend"):
            object.__setattr__(self, name, _freeze(getattr(self, name)))
