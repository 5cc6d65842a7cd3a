"""Generate mode: the one place where a backend turns sampled text into option values.

Parsing belongs to :mod:`psychoml.prompts` (``parse_answer`` for one item,
``parse_scale_answer`` for a whole scale), because the prompt that asked
decides what a valid answer looks like; every backend (API, local,
simulated) parses through this module, so all parse the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from psychoml.prompts import parse_answer, parse_scale_answer
from psychoml.records import Answer, Request, ResponseStatus

__all__ = ["ParsedText", "answer_from_text", "parse_generated"]


@dataclass(frozen=True)
class ParsedText:
    """Outcome of parsing generated text: a value per item (None = missing) and why not OK."""

    status: ResponseStatus
    values: dict[str, float | None] = field(default_factory=dict)
    reason: str | None = None


def _status_of(obj: Any) -> ResponseStatus:
    status = obj.status
    return status if isinstance(status, ResponseStatus) else ResponseStatus(status)


def parse_generated(text: str | None, request: Request) -> ParsedText:
    """Parse a generated answer into a value per item of ``request``.

    Uses :func:`psychoml.prompts.parse_answer` (one item) or
    :func:`psychoml.prompts.parse_scale_answer` (a whole scale).  Refusals and text naming no option (or several) are
    REFUSED / UNPARSEABLE with a reason, never guessed.
    """
    if text is None or not text.strip():
        return ParsedText(ResponseStatus.UNPARSEABLE, {i: None for i in request.item_ids}, "empty answer")
    if len(request.item_ids) == 1:
        res = parse_answer(text, request.options)
        value = None if res.value is None else float(res.value)
        return ParsedText(_status_of(res), {request.item_ids[0]: value}, res.reason)
    scale = parse_scale_answer(text, request.item_ids, request.options)
    values = {i: (None if scale.values.get(i) is None else float(scale.values[i])) for i in request.item_ids}
    return ParsedText(_status_of(scale), values, scale.reason)


def answer_from_text(
    request: Request,
    text: str | None,
    *,
    backend: Mapping[str, Any],
    tokens_in: int | None = None,
    tokens_out: int | None = None,
    latency_s: float | None = None,
) -> Answer:
    """An :class:`Answer` in generate mode: the parsed value per item, status and reason from the text."""
    parsed = parse_generated(text, request)
    return Answer(
        request_key=request.key(),
        status=parsed.status,
        values=parsed.values,
        raw=text,
        argmax=dict(parsed.values),
        reason=parsed.reason,
        tokens_in=tokens_in,
        tokens_out=tokens_out,
        latency_s=latency_s,
        backend=dict(backend),
    )
