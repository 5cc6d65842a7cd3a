"""Generate mode: the one place where a backend turns sampled text into option values.

Parsing belongs to :mod:`psychoml.prompts` (``parse_answer`` for one item,
``parse_scale_answer`` for a whole scale), because the prompt that asked
decides what a valid answer looks like.  This module calls them when they
exist and otherwise falls back to a conservative parser of its own, so that
every backend (API, local, simulated) parses the same way.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from psychoml.records import Answer, Option, Request, ResponseStatus

__all__ = ["ParsedText", "answer_from_text", "parse_generated"]


@dataclass(frozen=True)
class ParsedText:
    """Outcome of parsing generated text: a value per item (None = missing) and why not OK."""

    status: ResponseStatus
    values: dict[str, float | None] = field(default_factory=dict)
    reason: str | None = None


_REFUSAL = re.compile(
    r"\b(i\s*(?:can(?:'|no)?t|cannot|am\s+not\s+able|'m\s+not\s+able|am\s+unable|'m\s+unable|won't|will\s+not)"
    r"|as\s+an\s+(?:ai|language\s+model)|i\s+do(?:n't|\s+not)\s+have\s+(?:personal|opinions|feelings|beliefs))",
    re.IGNORECASE,
)


def _status_of(obj: Any) -> ResponseStatus:
    status = getattr(obj, "status", None)
    if isinstance(status, ResponseStatus):
        return status
    if isinstance(status, str):
        return ResponseStatus(status)
    return ResponseStatus.OK if getattr(obj, "value", None) is not None else ResponseStatus.UNPARSEABLE


def _fallback_choice(text: str, options: Sequence[Option]) -> ParsedText:
    """Find exactly one option in ``text``: a whole-answer label, "Option X", a number or an anchor wording."""
    stripped = text.strip().strip("*_`\"' ").strip()
    if not stripped:
        return ParsedText(ResponseStatus.UNPARSEABLE, {"": None}, "empty answer")
    by_label = {o.label.casefold(): o for o in options}
    head = re.sub(r"^(?:option|answer|rating|response)\s*[:\-]?\s*", "", stripped, flags=re.IGNORECASE)
    head = head.strip("()[]{}.:;,!*_`\"' ")
    if head.casefold() in by_label:
        return ParsedText(ResponseStatus.OK, {"": float(by_label[head.casefold()].value)})
    found: dict[str, Option] = {}
    for o in options:
        label = re.escape(o.label)
        if re.search(rf"(?<![\w.]){label}(?![\w]|\.\d)", stripped, flags=re.IGNORECASE if len(o.label) > 1 else 0):
            found[o.label] = o
    if len(found) != 1:
        for o in options:
            if o.text and re.search(rf"(?<!\w){re.escape(o.text)}(?!\w)", stripped, flags=re.IGNORECASE):
                found.setdefault(o.label, o)
    if len(found) == 1:
        return ParsedText(ResponseStatus.OK, {"": float(next(iter(found.values())).value)})
    if _REFUSAL.search(stripped):
        return ParsedText(ResponseStatus.REFUSED, {"": None}, "refused: " + stripped[:120])
    if found:
        return ParsedText(
            ResponseStatus.UNPARSEABLE, {"": None}, "ambiguous: options " + ", ".join(sorted(found)) + " all appear"
        )
    return ParsedText(ResponseStatus.UNPARSEABLE, {"": None}, "no response option found in: " + stripped[:120])


def _fallback_scale(text: str, request: Request) -> ParsedText:
    """One answer per line, in item order, optionally prefixed by the item number or id (``3. 4``, ``bfi03: 4``)."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    values: dict[str, float | None] = {}
    reasons = []
    for pos, item in enumerate(request.item_ids):
        pattern = re.compile(rf"^\s*(?:{re.escape(item)}|{pos + 1})\s*[.):\-]\s*(.+)$", re.IGNORECASE)
        line = next((m.group(1) for ln in lines if (m := pattern.match(ln))), None)
        if line is None and len(lines) == len(request.item_ids):
            line = lines[pos]
        if line is None:
            values[item] = None
            reasons.append(f"{item}: no answer line")
            continue
        one = _fallback_choice(line, request.options)
        values[item] = one.values.get("")
        if one.reason:
            reasons.append(f"{item}: {one.reason}")
    if all(v is None for v in values.values()) and _REFUSAL.search(text):
        return ParsedText(ResponseStatus.REFUSED, values, "refused: " + text.strip()[:120])
    status = ResponseStatus.OK if all(v is not None for v in values.values()) else ResponseStatus.UNPARSEABLE
    return ParsedText(status, values, "; ".join(reasons) or None)


def _prompts_parsers() -> tuple[Any, Any]:
    try:
        from psychoml import prompts
    except ImportError:  # pragma: no cover - prompts always imports in a working install
        return None, None
    choice = getattr(prompts, "parse_answer", None) or getattr(prompts, "parse_choice", None)
    scale = getattr(prompts, "parse_scale_answer", None) or getattr(prompts, "parse_scale_answers", None)
    return choice, scale


def parse_generated(text: str | None, request: Request) -> ParsedText:
    """Parse a generated answer into a value per item of ``request``.

    Uses :func:`psychoml.prompts.parse_answer` (one item) or
    :func:`psychoml.prompts.parse_scale_answer` (a whole scale) when
    available.  Refusals and text naming no option (or several) are
    REFUSED / UNPARSEABLE with a reason, never guessed.
    """
    if text is None or not text.strip():
        return ParsedText(ResponseStatus.UNPARSEABLE, {i: None for i in request.item_ids}, "empty answer")
    choice, scale = _prompts_parsers()
    if len(request.item_ids) == 1:
        item = request.item_ids[0]
        if choice is not None:
            res = choice(text, request.options)
            value = getattr(res, "value", None)
            return ParsedText(_status_of(res), {item: None if value is None else float(value)}, getattr(res, "reason", None))
        one = _fallback_choice(text, request.options)
        return ParsedText(one.status, {item: one.values.get("")}, one.reason)
    if scale is not None:
        res = scale(text, request.item_ids, request.options)
        raw_values: Mapping[str, Any] = getattr(res, "values", {}) or {}
        values = {i: (None if raw_values.get(i) is None else float(raw_values[i])) for i in request.item_ids}
        return ParsedText(_status_of(res), values, getattr(res, "reason", None))
    return _fallback_scale(text, request)


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
