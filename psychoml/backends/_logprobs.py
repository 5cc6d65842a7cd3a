"""Option probabilities from log-probabilities, robust to how the answer is tokenised.

Two situations:

* **API top-logprobs** (:func:`option_distribution_from_top_logprobs`): an
  OpenAI-compatible server returns, for each generated position, the sampled
  token and the ``top_logprobs`` alternatives.  The probability of each
  option is collected by walking the sampled path: at position *k* every
  alternative token that, appended to the text generated so far, spells an
  option label (``"5"``, ``" 5"``, ``"5."``, ``"**5"``, ``"Agree"`` /
  ``" agree"``) adds :math:`\\pi_k\\,p_k(t)` to that option, where
  :math:`\\pi_k` is the probability of the sampled prefix; when the sampled
  token is only a start (whitespace, ``"**"``, ``"Option"``, the first piece
  of a multi-token word shared by several labels) the walk goes on.  What is
  left (tokens that spell no option, the tail beyond the top-k, prefixes
  that cannot be resolved because the server reported only the sampled path)
  is ``mass_outside``.

* **Full next-token distributions** (:func:`label_variants`,
  :func:`exact_sequence_probabilities`): a local model gives the probability
  of any token sequence.  Each option is the sum over its spellings (``"5"``
  and ``" 5"``; for word labels also lower-case and capitalised forms) of the
  probability of its token sequence *followed by something that is not the
  continuation of a longer label* (``"1"`` on a 0..10 scale excludes
  ``"10"``).

In both cases the option probabilities are renormalised to sum to 1 and the
mass outside the options before renormalisation is recorded.

Matching rules (documented approximations)
------------------------------------------
* Labels longer than one character match case-insensitively; one-character
  labels (``"A"``, ``"5"``) match exactly, because ``"a"`` is also a word.
* A label must end at a word boundary: ``"As"`` is not option ``"A"``.
* An alternative token that spells a label completely counts for it even
  when a longer label starts with it (``"1"`` when ``"10"`` is an option):
  the server reports no continuation of tokens it did not sample.  Tokenisers
  that encode multi-digit numbers as one token (OpenAI's) make this exact.
* An alternative token that is a proper prefix of exactly one label counts
  for it when it has at least two characters (``"Dis"`` -> ``"Disagree"``);
  a shared prefix (``"Strongly"``) or a single letter is left outside.  The
  same holds for the sampled path when the reported positions end there.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from psychoml.records import Option

__all__ = [
    "OptionDistribution",
    "TokenLogprob",
    "exact_sequence_probabilities",
    "label_variants",
    "normalise_distribution",
    "option_distribution_from_top_logprobs",
]

#: Characters a model may put before its answer: whitespace, quotes, brackets, markdown emphasis.
_OPENERS = " \t\r\n\"'`([{*_>#"
#: Words a model may put before the label ("Option A", "Answer: 4").
_LEAD_INS = ("option", "answer", "rating", "response", "choice")


@dataclass(frozen=True)
class TokenLogprob:
    """One generated position: the sampled token, its log-probability and the top alternatives."""

    token: str
    logprob: float
    top: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class OptionDistribution:
    """Probabilities renormalised over the options, the raw (unnormalised) mass and what fell outside."""

    probabilities: dict[str, float] = field(default_factory=dict)
    raw: dict[str, float] = field(default_factory=dict)
    mass_outside: float = 1.0

    @property
    def empty(self) -> bool:
        return not self.probabilities


def normalise_distribution(raw: Mapping[str, float], labels: Sequence[str]) -> OptionDistribution:
    """Renormalise ``raw`` option masses over ``labels``; ``mass_outside = 1 - sum(raw)`` (clipped to [0, 1])."""
    masses = {label: max(0.0, float(raw.get(label, 0.0))) for label in labels}
    total = sum(masses.values())
    outside = min(1.0, max(0.0, 1.0 - total))
    if total <= 0.0 or not math.isfinite(total):
        return OptionDistribution({}, masses, 1.0)
    return OptionDistribution({k: v / total for k, v in masses.items()}, masses, outside)


# --------------------------------------------------------------------------------------------------
# API top-logprobs


class _Kind:
    NONE = "none"  # spells no option and cannot become one
    PARTIAL = "partial"  # a proper prefix of one or more labels (or of a lead-in): undecided
    EXACT = "exact"  # spells a label, closed by a boundary
    OPEN = "open"  # spells a label exactly but a longer label starts with it ("1" vs "10")


@dataclass(frozen=True)
class _Class:
    kind: str
    label: str | None = None
    unique_prefix_of: str | None = None  # for PARTIAL: the only label it can become


class _Matcher:
    def __init__(self, labels: Sequence[str]) -> None:
        self.labels = list(labels)
        self._fold = {label: (label.casefold() if len(label) > 1 else label) for label in self.labels}
        # Every answer of a run sees the same few candidate tokens ("4", " 4", "Option"...): classify each once.
        self._seen: dict[str, _Class] = {}

    def _norm(self, label: str, text: str) -> str:
        return text.casefold() if len(label) > 1 else text

    def classify(self, text: str) -> _Class:
        cls = self._seen.get(text)
        if cls is None:
            if len(self._seen) > 100_000:
                self._seen.clear()
            cls = self._seen[text] = self._classify(text)
        return cls

    def _classify(self, text: str) -> _Class:
        body = text.lstrip(_OPENERS)
        if not body:
            return _Class(_Kind.PARTIAL)
        cls = self._classify_body(body)
        if cls.kind != _Kind.NONE:
            return cls
        low = body.casefold()
        for word in _LEAD_INS:
            if word.startswith(low):
                return _Class(_Kind.PARTIAL)
            if low.startswith(word):
                rest = body[len(word):]
                if rest[:1].isalnum():
                    continue
                rest = rest.lstrip(" \t:-#.")
                if not rest:
                    return _Class(_Kind.PARTIAL)
                return self._classify_body(rest.lstrip(_OPENERS))
        return cls

    def _classify_body(self, body: str) -> _Class:
        if not body:
            return _Class(_Kind.PARTIAL)
        complete: list[str] = []
        closed: list[str] = []
        extendable: list[str] = []
        for label in self.labels:
            lab = self._fold[label]
            txt = self._norm(label, body)
            if txt == lab:
                complete.append(label)
            elif txt.startswith(lab):
                nxt, after = txt[len(lab)], txt[len(lab) + 1 : len(lab) + 2]
                # closed by a boundary; "5.5" or "10" continue a number, "As" continues a word
                if not nxt.isalnum() and not (nxt in ".," and after.isdigit()):
                    closed.append(label)
            elif lab.startswith(txt):
                extendable.append(label)
        if complete:
            return _Class(_Kind.OPEN if extendable else _Kind.EXACT, complete[0])
        if closed:
            longest = max(closed, key=len)
            return _Class(_Kind.OPEN if extendable else _Kind.EXACT, longest)
        if extendable:
            return _Class(_Kind.PARTIAL, None, extendable[0] if len(extendable) == 1 else None)
        return _Class(_Kind.NONE)


@functools.lru_cache(maxsize=256)
def _matcher(labels: tuple[str, ...]) -> _Matcher:
    """One matcher per option set, shared by every answer that presents those options."""
    return _Matcher(labels)


def option_distribution_from_top_logprobs(
    positions: Sequence[TokenLogprob], options: Sequence[Option]
) -> OptionDistribution:
    """Option probabilities from the per-position top log-probabilities an API returned.

    Parameters
    ----------
    positions
        The generated positions in order (sampled token, its logprob, the
        top alternatives with theirs), as in OpenAI's ``choices[0].logprobs.content``.
    options
        The response options as presented.

    Returns
    -------
    OptionDistribution
        ``probabilities`` renormalised over the option labels (empty when no
        probability fell on any option) and ``mass_outside``, the probability
        not attributed to any option.  See the module docstring for the rules.
    """
    matcher = _matcher(tuple(o.label for o in options))
    raw: dict[str, float] = {label: 0.0 for label in matcher.labels}
    path_prob = 1.0
    prefix = ""
    pending: str | None = None  # label the sampled prefix already spells while a longer one may follow
    for pos in positions:
        seen: set[str] = set()
        for tok, lp in pos.top:
            if tok == pos.token or tok in seen:
                continue
            seen.add(tok)
            cls = matcher.classify(prefix + tok)
            p = path_prob * math.exp(lp)
            if cls.kind in (_Kind.EXACT, _Kind.OPEN):
                raw[cls.label] += p  # type: ignore[index]
            elif cls.kind == _Kind.PARTIAL and cls.unique_prefix_of and len((prefix + tok).strip(_OPENERS)) >= 2:
                raw[cls.unique_prefix_of] += p
        cls = matcher.classify(prefix + pos.token)
        p_tok = math.exp(pos.logprob)
        if cls.kind == _Kind.EXACT:
            raw[cls.label] += path_prob * p_tok  # type: ignore[index]
            path_prob = 0.0
            break
        if cls.kind == _Kind.NONE:
            path_prob = 0.0
            break
        prefix += pos.token
        path_prob *= p_tok
        if cls.kind == _Kind.OPEN:
            pending = cls.label
        elif cls.kind == _Kind.PARTIAL and cls.unique_prefix_of and len(prefix.strip(_OPENERS)) >= 2:
            pending = cls.unique_prefix_of  # same rule as for alternatives: "Dis" can only become "Disagree"
        else:
            pending = None
    if path_prob > 0.0 and pending is not None:
        # the answer ended (or the server stopped reporting) right after a complete label or a unique start
        raw[pending] += path_prob
    return normalise_distribution(raw, matcher.labels)


# --------------------------------------------------------------------------------------------------
# Full distributions (local models)


def label_variants(label: str) -> list[str]:
    """The spellings of ``label`` a model may produce as its answer: with or without a leading space, and for
    labels longer than one character, lower-case, capitalised and as written (deduplicated, in that order)."""
    forms = [label]
    if len(label) > 1 and any(c.isalpha() for c in label):
        for f in (label.lower(), label[:1].upper() + label[1:].lower(), label.capitalize()):
            if f not in forms:
                forms.append(f)
    out: list[str] = []
    for f in forms:
        for v in (f, " " + f):
            if v not in out:
                out.append(v)
    return out


def exact_sequence_probabilities(
    prefix_probability: Mapping[tuple[int, ...], float],
) -> dict[tuple[int, ...], float]:
    """Probability that the answer is exactly each token sequence and not a longer one in the set.

    ``prefix_probability[s]`` is :math:`P(\\text{generation starts with } s)`.
    For a sequence *s* that is a proper token prefix of others (``"1"`` and
    ``"10"`` tokenised ``[1]`` and ``[1, 0]``), the answer "is *s*" only when
    it does not go on into one of them:
    :math:`P(s) - \\sum_{m} P(m)` over the minimal extensions *m* of *s* in
    the set (those that do not themselves extend another extension; their
    events are disjoint, and longer ones are contained in them).
    """
    seqs = sorted(prefix_probability, key=len)
    out: dict[tuple[int, ...], float] = {}
    for s in seqs:
        exts = [t for t in seqs if len(t) > len(s) and t[: len(s)] == s]
        minimal = [t for t in exts if not any(len(u) < len(t) and t[: len(u)] == u for u in exts)]
        out[s] = max(0.0, prefix_probability[s] - sum(prefix_probability[m] for m in minimal))
    return out


def sum_by_label(seq_probability: Mapping[tuple[int, ...], float], seqs_by_label: Mapping[str, Iterable[tuple[int, ...]]]) -> dict[str, float]:
    """Sum exact sequence probabilities over each label's spellings (each distinct sequence counted once)."""
    counted: set[tuple[int, ...]] = set()
    out: dict[str, float] = {}
    for label, seqs in seqs_by_label.items():
        total = 0.0
        for s in seqs:
            if s in counted:
                continue
            counted.add(s)
            total += seq_probability.get(s, 0.0)
        out[label] = total
    return out
