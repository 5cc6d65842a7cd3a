"""Turning a model's generated text into a response option, or a recorded reason why not.

The prompt decides what a valid answer looks like, so the parsers live here; backends call them (through
``psychoml.backends._parse``) for generate mode.  A refusal or text that names no option (or several) is
reported as such, never guessed.

Rules of :func:`parse_answer`, in order:

1. Markdown emphasis and code marks are dropped; lead-ins (``Option``, ``Answer:``, ``My answer is``,
   ``I would choose`` ...) are skipped.
2. If the answer *starts* with an option (its label, or its anchor wording) the option is taken, unless the
   next words offer an alternative (``"4 or 5"``, ``"4/5"``) which makes it ambiguous.  The longest match wins
   (``"Not like me at all"`` over ``"Not like me"``).
3. Otherwise every mention of an option in the text is collected, after masking range expressions (``"1 to
   6"``, ``"1-6"``, ``"between 1 and 6"``, ``"out of 6"``, ``"/6"``) and dropping mentions inside a longer
   mention (``"important"`` inside ``"very important"``).  Exactly one option mentioned: it is taken (even after
   a disclaimer such as ``"As an AI I have no values, but I would say 4"``).
4. Otherwise a refusal (``"I'm an AI and can't ..."``, ``"I don't have personal opinions"``) is ``refused``,
   several options are ``unparseable`` (ambiguous), none is ``unparseable``.

Numbers match as whole numbers (``"1"`` is not found in ``"10"``, ``"1.5"`` or ``"-1"``); labels longer than one
character match case-insensitively; a one-letter label (``"A"``) is only found at the start of the answer, after
``Option``/``Answer``, or in brackets, because ``"A"`` is also a word.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from typing import NamedTuple

from psychoml.errors import DataError
from psychoml.prompts.messages import Option

__all__ = [
    "OK",
    "REFUSED",
    "UNPARSEABLE",
    "ParsedChoice",
    "ParsedScale",
    "is_refusal",
    "parse_answer",
    "parse_scale_answer",
]

#: Status strings (the values of ``psychoml.records.ResponseStatus``).
OK, REFUSED, UNPARSEABLE = "ok", "refused", "unparseable"


class ParsedChoice(NamedTuple):
    """One item's parsed answer: ``value`` (the option's value, or None), ``status`` and ``reason``."""

    value: float | None
    status: str
    reason: str | None


class ParsedScale(NamedTuple):
    """A whole-scale answer: ``values`` per item id (None = missing), ``status`` and ``reason``."""

    values: dict[str, float | None]
    status: str
    reason: str | None


_REFUSAL = re.compile(
    r"(\bas an? (?:ai|artificial intelligence|language model|llm|assistant)\b"
    r"|\bi(?:'m| am) (?:just |only )?(?:an? )?(?:ai|artificial intelligence|language model|llm|chatbot)\b"
    r"|\bi (?:can(?:no|')?t|cannot|won't|will not|am unable to|'m unable to|am not able to|'m not able to"
    r"|do not feel comfortable|don't feel comfortable|must decline|prefer not to)\b"
    r"|\bi do(?:n't| not) (?:have|hold|possess) (?:personal |any |my own )?"
    r"(?:opinions?|values|feelings|beliefs|preferences|experiences|views|emotions)\b"
    r"|\bnot (?:able|in a position) to (?:answer|provide|share|express|rate)\b)",
    re.IGNORECASE,
)

_LEAD_IN = re.compile(
    r"^\s*(?:(?:my |the |final )*(?:answer|response|rating|choice|selection|option)s?(?: is| would be)?\s*[:#=\-]?\s*"
    r"|i (?:would |will |'d )?(?:choose|select|pick|say|answer|go with|rate (?:it|this|myself)?(?: as| at)?)\s*:?\s*"
    r"|i'd (?:choose|select|pick|say|go with|rate (?:it|this)?(?: as| at)?)\s*:?\s*)",
    re.IGNORECASE,
)
_OPTION_WORD = re.compile(r"(?:option|answer|choice|response|rating)\s*[:#]?\s*$", re.IGNORECASE)
_RANGES = re.compile(
    r"(?:(?:from|between)\s+)?-?\d+(?:\.\d+)?\s*(?:to|through|and|-|–|—|\.\.)\s*-?\d+(?:\.\d+)?"
    r"|\bout of\s+\d+|/\s*\d+|\bscale of\s+-?\d+",
    re.IGNORECASE,
)
_MARKUP = re.compile(r"[*_`]+")
_LETTER_END = re.compile(r"[ \t]*(?:$|\n|[.):\],;=\-–])")


def is_refusal(text: str) -> bool:
    """Whether ``text`` reads as a refusal or an AI disclaimer."""
    return bool(_REFUSAL.search(text or ""))


def _is_number(label: str) -> bool:
    return re.fullmatch(r"[+-]?\d+(?:\.\d+)?", label) is not None


def _pattern(s: str, *, anchored: bool = False) -> re.Pattern[str]:
    body = re.escape(s.strip())
    if _is_number(s.strip()):
        before = r"(?<![\w.+\-])"
        after = r"(?![\w]|[.,]\d)"
        flags = 0
    else:
        before = r"(?<!\w)"
        after = r"(?!\w)"
        flags = re.IGNORECASE if len(s.strip()) > 1 else 0
    return re.compile(("^" if anchored else before) + body + after, flags)


class _Matcher:
    """Compiled patterns of each option's label and anchor wording."""

    def __init__(self, options: Sequence[Option]) -> None:
        if not options:
            raise DataError("parse_answer: options is empty")
        self.options = list(options)
        self.strings: list[tuple[int, str, bool]] = []  # (option index, string, is a single letter label)
        for k, o in enumerate(self.options):
            label = str(o.label).strip()
            if label:
                self.strings.append((k, label, len(label) == 1 and label.isalpha()))
            if o.text and o.text.strip() and o.text.strip().casefold() != label.casefold():
                self.strings.append((k, o.text.strip(), False))
        # longest first so that "Not like me at all" is tried before "Not like me"
        self.strings.sort(key=lambda t: -len(t[1]))
        self.leading = [(k, s, _pattern(s, anchored=True)) for k, s, _ in self.strings]
        self.anywhere = [(k, s, letter, _pattern(s)) for k, s, letter in self.strings]

    def at_start(self, text: str) -> tuple[int, int] | None:
        """(option index, end of the match) of the longest option string ``text`` starts with.

        A one-letter label must stand alone ("B", "B.", "B) ...", "B - ..."), since "A great deal" starts with
        the article "A", not with option A.
        """
        for k, s, pat in self.leading:
            m = pat.match(text)
            if m:
                if len(s) == 1 and s.isalpha() and not _LETTER_END.match(text[m.end():]):
                    continue
                return k, m.end()
        return None

    def mentions(self, text: str) -> set[int]:
        """Options mentioned anywhere in ``text`` (ranges masked, mentions inside longer mentions dropped)."""
        masked = _RANGES.sub(lambda m: " " * len(m.group(0)), text)
        spans: list[tuple[int, int, int]] = []
        for k, _, letter, pat in self.anywhere:
            for m in pat.finditer(masked):
                if letter:
                    before = masked[: m.start()]
                    bracketed = before.endswith(("(", "[")) and masked[m.end(): m.end() + 1] in (")", "]")
                    if not (bracketed or _OPTION_WORD.search(before)):
                        continue
                spans.append((m.start(), m.end(), k))
        kept = {
            k for s, e, k in spans
            if not any(s2 <= s and e <= e2 and (e2 - s2) > (e - s) and k2 != k for s2, e2, k2 in spans)
        }
        return kept


@functools.lru_cache(maxsize=512)
def _matcher(options: tuple[Option, ...]) -> _Matcher:
    """Compiled matchers are cached per option set: a run parses many answers against the same few sets."""
    return _Matcher(options)


def _clean(text: str) -> str:
    return _MARKUP.sub("", text).strip()


def _strip_lead_in(text: str) -> str:
    out = text.strip().lstrip("\"'([{>#").strip()
    for _ in range(3):
        new = _LEAD_IN.sub("", out, count=1).strip().lstrip("\"'([{").strip()
        if new == out:
            break
        out = new
    return out


def _value(option: Option) -> float:
    return float(option.value)


def parse_answer(text: str | None, options: Sequence[Option]) -> ParsedChoice:
    """Parse generated ``text`` into one of ``options`` (see the module docstring for the rules).

    Returns
    -------
    ParsedChoice
        ``(value, status, reason)``: status ``"ok"`` with the option's value, or ``"refused"`` /
        ``"unparseable"`` with ``value=None`` and a reason quoting the answer.
    """
    matcher = _matcher(tuple(options))
    if text is None or not str(text).strip():
        return ParsedChoice(None, UNPARSEABLE, "empty answer")
    clean = _clean(str(text))
    quoted = " ".join(clean.split())[:120]
    head = _strip_lead_in(clean)
    start = matcher.at_start(head)
    if start is not None:
        k, end = start
        rest = head[end:]
        alt = re.match(r"^\s*(?:or|/|and|,|-|–|to)\s*", rest, re.IGNORECASE)
        other = matcher.at_start(rest[alt.end():].lstrip("\"'([{")) if alt else None
        if other is not None and other[0] != k:
            labels = sorted({options[k].label, options[other[0]].label})
            return ParsedChoice(None, UNPARSEABLE, f"ambiguous: options {', '.join(labels)} both given in: {quoted}")
        return ParsedChoice(_value(options[k]), OK, None)
    found = matcher.mentions(clean)
    if len(found) == 1:
        k = next(iter(found))
        reason = "answered after a disclaimer" if is_refusal(clean) else None
        return ParsedChoice(_value(options[k]), OK, reason)
    if is_refusal(clean):
        return ParsedChoice(None, REFUSED, f"refused: {quoted}")
    if found:
        labels = ", ".join(options[k].label for k in sorted(found))
        return ParsedChoice(None, UNPARSEABLE, f"ambiguous: options {labels} all appear in: {quoted}")
    return ParsedChoice(None, UNPARSEABLE, f"no response option found in: {quoted}")


_LINE = re.compile(
    r"^\s*(?:item|question|q|no\.?|number)?\s*#?\s*(?P<key>[A-Za-z_][A-Za-z0-9_]*|\d+)\s*[:.)\]=]\s*(?P<answer>.*)$",
    re.IGNORECASE,
)
_LINE_DASH = re.compile(
    r"^\s*(?:item|question|q)?\s*#?\s*(?P<key>[A-Za-z_][A-Za-z0-9_]*|\d+)\s+[-–]\s+(?P<answer>.*)$", re.IGNORECASE
)


def parse_scale_answer(text: str | None, item_ids: Sequence[str], options: Sequence[Option]) -> ParsedScale:
    """Parse a whole-scale answer (``"<item number>: <answer>"`` per line) into a value per item.

    A line is assigned by its prefix: the item's position in the prompt (1-based) or its id.  If prefixes do not
    account for every item but the answer has exactly one option-bearing line per item, the lines are taken in
    order.  Each answer is parsed with :func:`parse_answer`.  Status is ``"ok"`` when every item has a value,
    ``"refused"`` when none has and the text refuses, else ``"unparseable"`` with a reason per missing item
    (the values found are kept).
    """
    ids = list(item_ids)
    if not ids:
        raise DataError("parse_scale_answer: item_ids is empty")
    _matcher(tuple(options))  # validates options
    if text is None or not str(text).strip():
        return ParsedScale({i: None for i in ids}, UNPARSEABLE, "empty answer")
    clean = _clean(str(text))
    lines = [ln.strip() for ln in clean.splitlines() if ln.strip()]
    by_key = {i.casefold(): i for i in ids}
    assigned: dict[str, list[str]] = {}
    for ln in lines:
        m = _LINE.match(ln) or _LINE_DASH.match(ln)
        if not m:
            continue
        key = m.group("key")
        item = None
        if key.isdigit() and 1 <= int(key) <= len(ids):
            item = ids[int(key) - 1]
        elif key.casefold() in by_key:
            item = by_key[key.casefold()]
        if item is not None:
            assigned.setdefault(item, []).append(m.group("answer"))
    if len(assigned) < len(ids):
        answer_lines = [ln for ln in lines if parse_answer(ln, options).status == OK]
        if len(answer_lines) == len(ids):
            assigned = {i: [ln] for i, ln in zip(ids, answer_lines)}
    values: dict[str, float | None] = {}
    reasons: list[str] = []
    for pos, item in enumerate(ids, start=1):
        answers = assigned.get(item)
        if not answers:
            values[item] = None
            reasons.append(f"{item} (item {pos}): no answer line")
            continue
        parsed = [parse_answer(a, options) for a in answers]
        got = {p.value for p in parsed if p.status == OK}
        if len(got) == 1 and all(p.status == OK for p in parsed):
            values[item] = next(iter(got))
        elif len(answers) > 1:
            values[item] = None
            reasons.append(f"{item} (item {pos}): answered {len(answers)} times")
        else:
            values[item] = None
            reasons.append(f"{item} (item {pos}): {parsed[0].reason}")
    if all(v is not None for v in values.values()):
        return ParsedScale(values, OK, None)
    if all(v is None for v in values.values()) and is_refusal(clean):
        return ParsedScale(values, REFUSED, "refused: " + " ".join(clean.split())[:120])
    return ParsedScale(values, UNPARSEABLE, "; ".join(reasons))
