"""The instrument schema: frozen pydantic models that reject unknown fields.

One YAML file per instrument holds everything needed to administer and score
it: citation and terms of use, official instructions, response scales, items
with keying and tags, scales and their scoring rule, catch items with the
exclusion rule, indices (formulas in :mod:`psychoml.instruments.expr`), named
constants and optional human norm tables.  ``psychoml instruments schema``
prints :func:`json_schema` so editors can validate files as they are typed.

Cross-references (an item's scale, a scale's items, a formula's symbols) are
checked by :meth:`InstrumentSpec.check_references`, which reports the YAML path
of the first bad node; :mod:`psychoml.instruments.loader` adds file and line.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from psychoml.errors import InstrumentError
from psychoml.instruments.expr import Expression, ExpressionError

__all__ = [
    "Check",
    "Citation",
    "Edition",
    "Index",
    "Instructions",
    "InstrumentSpec",
    "Item",
    "NormRow",
    "NormTable",
    "Part",
    "RespondentMean",
    "ResponseScale",
    "Scale",
    "Terms",
    "json_schema",
]

Identifier = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="a name usable in formulas")]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class Citation(_Model):
    """A reference to the published instrument."""

    text: str = Field(description="Full reference in APA style.")
    doi: str | None = None
    url: str | None = None


class Terms(_Model):
    """Licence and terms of use of the instrument's text."""

    licence: str = Field(description="Licence or terms, e.g. 'free for non-commercial research use'.")
    redistribution: Literal["allowed", "restricted", "unknown"] = Field(
        description="Whether the item text may be redistributed with psychoml."
    )
    notes: str | None = None
    url: str | None = None


class ResponseScale(_Model):
    """An ordered set of response values with anchor labels.

    ``values`` are the codes a respondent may give, in published order.
    ``labels`` name some or all of them (the anchors).  ``missing`` lists codes
    that mean "no valid answer" (don't know, refused): they are read as missing
    when scoring.
    """

    id: Identifier
    values: list[float] = Field(min_length=2)
    labels: dict[float, str] = Field(default_factory=dict)
    missing: dict[float, str] = Field(default_factory=dict, description="Codes read as missing, e.g. {-1: don't know}.")
    description: str | None = None

    @model_validator(mode="after")
    def _check(self) -> ResponseScale:
        if len(set(self.values)) != len(self.values):
            raise ValueError(f"response scale {self.id!r}: duplicate values")
        for v in self.labels:
            if v not in self.values:
                raise ValueError(f"response scale {self.id!r}: label for {v:g}, which is not one of its values")
        for v in self.missing:
            if v in self.values:
                raise ValueError(f"response scale {self.id!r}: missing code {v:g} is also a valid value")
        return self

    @property
    def low(self) -> float:
        return min(self.values)

    @property
    def high(self) -> float:
        return max(self.values)

    def reverse(self, x: Any) -> Any:
        """Reverse-key ``x`` on this scale: ``low + high - x``."""
        return self.low + self.high - x

    def describe(self) -> str:
        return f"{self.low:g}..{self.high:g}"


class Instructions(_Model):
    """The official respondent instructions, and their steps where the procedure has several."""

    text: str
    steps: list[str] = Field(default_factory=list)


class Part(_Model):
    """A section of the questionnaire with its own instructions (e.g. MFQ relevance / judgment)."""

    id: Identifier
    name: str
    instructions: str
    scale: str | None = Field(default=None, description="Default response scale id of the part's items.")


class Item(_Model):
    """One question.

    ``keying`` is +1 (higher answer = more of the construct) or -1 (reverse
    keyed); ``tags`` carry classification such as the basic value, the
    higher-order group or the WVS category; ``code`` is the original question
    code (``Q154``, ``m05``); ``number`` the position in the published form.
    """

    id: Identifier
    text: str
    scale: str | None = Field(default=None, description="Response scale id; defaults to the part's scale.")
    keying: int = 1
    part: str | None = None
    number: int | None = None
    code: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    note: str | None = None

    @field_validator("keying", mode="before")
    @classmethod
    def _keying(cls, v: Any) -> int:
        if isinstance(v, bool) or v not in (1, -1, "+1", "-1", 1.0, -1.0):
            raise ValueError(f"keying must be +1 or -1, got {v!r}")
        return int(v)


class Scale(_Model):
    """A scored scale: items (reverse keys applied) or other scales, combined by ``scoring``.

    The missing-data rule: a respondent's score is computed when at least
    ``min_items`` of the components are answered (default: half, rounded up);
    ``sum`` scoring is prorated from the mean of the answered components.
    ``centre`` names a respondent mean (e.g. Schwartz's MRAT) to subtract,
    which adds a column ``<id>_centred``.
    """

    id: Identifier
    name: str | None = None
    items: list[str] = Field(default_factory=list)
    scales: list[str] = Field(default_factory=list, description="Component scales of a composite (e.g. higher-order values).")
    scoring: Literal["mean", "sum"] = "mean"
    min_items: int | None = Field(default=None, ge=1)
    centre: str | None = None
    description: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_kind(self) -> Scale:
        if bool(self.items) == bool(self.scales):
            raise ValueError(f"scale {self.id!r} needs either 'items' or 'scales' (not both, not neither)")
        n = len(self.items or self.scales)
        if self.min_items is not None and self.min_items > n:
            raise ValueError(f"scale {self.id!r}: min_items {self.min_items} exceeds its {n} components")
        return self

    @property
    def components(self) -> list[str]:
        return list(self.items or self.scales)

    @property
    def required(self) -> int:
        return self.min_items if self.min_items is not None else math.ceil(len(self.components) / 2)


class RespondentMean(_Model):
    """A per-respondent mean over items, used to centre scores (Schwartz's MRAT)."""

    id: Identifier
    items: list[str] | Literal["all"] = "all"
    description: str | None = None


class Check(_Model):
    """A catch / attention item and the rule that excludes a respondent (formula true => excluded)."""

    id: Identifier
    items: list[str] = Field(min_length=1)
    exclude_if: str
    description: str

    @field_validator("exclude_if")
    @classmethod
    def _parse(cls, v: str) -> str:
        try:
            Expression(v)
        except ExpressionError as exc:
            raise ValueError(str(exc)) from None
        return v


class Index(_Model):
    """A formula over item or scale values.

    ``level="respondent"``: symbols are each respondent's item answers and
    scale scores.  ``level="group"``: symbols are the group's item means and
    scale means (Hofstede's indices are defined on sample means only).
    Constants come from the instrument's ``constants`` and can be overridden
    when scoring.
    """

    id: Identifier
    name: str | None = None
    formula: str
    level: Literal["respondent", "group"] = "respondent"
    description: str | None = None
    values: dict[float, str] = Field(default_factory=dict, description="Labels of the index's values, if categorical.")

    @field_validator("formula")
    @classmethod
    def _parse(cls, v: str) -> str:
        try:
            Expression(v)
        except ExpressionError as exc:
            raise ValueError(str(exc)) from None
        return v

    @property
    def expression(self) -> Expression:
        return Expression(self.formula)


class NormRow(_Model):
    """One group's published scores (country, sample)."""

    group: str
    n: int | None = None
    values: dict[str, float]
    sd: dict[str, float] = Field(default_factory=dict)


class NormTable(_Model):
    """Human norms bundled with the instrument (only where the licence allows it)."""

    id: Identifier
    description: str
    citation: Citation
    licence: str
    rows: list[NormRow] = Field(min_length=1)


class Edition(_Model):
    """Another published version of the same instrument, derived from the base definition.

    Items are replaced by id (same position), added or removed; scales are
    overridden by id.
    """

    id: Identifier
    name: str
    version: str | None = None
    citation: Citation | None = None
    remove_items: list[str] = Field(default_factory=list)
    add_items: list[Item] = Field(default_factory=list)
    scales: list[Scale] = Field(default_factory=list, description="Scales that replace (by id) or extend the base scales.")
    note: str | None = None


class InstrumentSpec(_Model):
    """A complete instrument definition (the content of one YAML file)."""

    id: Identifier
    name: str
    short_name: str | None = None
    version: str
    family: str | None = Field(default=None, description="Instrument family for prompt templates (e.g. 'schwartz').")
    citation: Citation
    additional_citations: list[Citation] = Field(default_factory=list)
    terms: Terms
    language: str = "en"
    instructions: Instructions
    response_scales: list[ResponseScale] = Field(min_length=1)
    parts: list[Part] = Field(default_factory=list)
    items: list[Item] = Field(min_length=1)
    respondent_means: list[RespondentMean] = Field(default_factory=list)
    scales: list[Scale] = Field(default_factory=list)
    checks: list[Check] = Field(default_factory=list)
    constants: dict[str, float] = Field(default_factory=dict)
    indices: list[Index] = Field(default_factory=list)
    norms: list[NormTable] = Field(default_factory=list)
    editions: list[Edition] = Field(default_factory=list)
    scoring_notes: str | None = None

    def check_references(self) -> None:
        """Check every cross-reference; raise :class:`InstrumentError` with the YAML path of the first bad one."""
        scale_ids = [s.id for s in self.response_scales]
        _no_duplicates(scale_ids, "response_scales")
        rs = set(scale_ids)
        part_ids = {p.id: p for p in self.parts}
        _no_duplicates([p.id for p in self.parts], "parts")
        for i, p in enumerate(self.parts):
            if p.scale is not None and p.scale not in rs:
                raise InstrumentError(f"part {p.id!r} names unknown response scale {p.scale!r}", path=("parts", i, "scale"))
        _no_duplicates([it.id for it in self.items], "items")
        item_ids = {it.id for it in self.items}
        for i, it in enumerate(self.items):
            if it.part is not None and it.part not in part_ids:
                raise InstrumentError(f"item {it.id!r} names unknown part {it.part!r}", path=("items", i, "part"))
            scale = it.scale or (part_ids[it.part].scale if it.part else None)
            if scale is None:
                raise InstrumentError(f"item {it.id!r} has no response scale (set 'scale' or its part's)", path=("items", i))
            if scale not in rs:
                raise InstrumentError(f"item {it.id!r} names unknown response scale {scale!r}", path=("items", i, "scale"))
        means = {m.id for m in self.respondent_means}
        for i, m in enumerate(self.respondent_means):
            if m.items != "all":
                for j, ref in enumerate(m.items):
                    if ref not in item_ids:
                        raise InstrumentError(f"respondent mean {m.id!r} names missing item {ref!r}", path=("respondent_means", i, "items", j))
        _no_duplicates([s.id for s in self.scales], "scales")
        seen: set[str] = set()
        for i, s in enumerate(self.scales):
            if s.id in item_ids:
                raise InstrumentError(f"scale id {s.id!r} is also an item id", path=("scales", i, "id"))
            for j, ref in enumerate(s.items):
                if ref not in item_ids:
                    raise InstrumentError(f"scale {s.id!r} names missing item {ref!r}", path=("scales", i, "items", j))
            for j, ref in enumerate(s.scales):
                if ref not in seen:
                    raise InstrumentError(
                        f"scale {s.id!r} names scale {ref!r}, which is not defined before it", path=("scales", i, "scales", j)
                    )
            if s.centre is not None and s.centre not in means:
                raise InstrumentError(f"scale {s.id!r} centres on unknown respondent mean {s.centre!r}", path=("scales", i, "centre"))
            seen.add(s.id)
        for i, c in enumerate(self.checks):
            for j, ref in enumerate(c.items):
                if ref not in item_ids:
                    raise InstrumentError(f"check {c.id!r} names missing item {ref!r}", path=("checks", i, "items", j))
            try:
                Expression(c.exclude_if).check_symbols(item_ids)
            except ExpressionError as exc:
                raise InstrumentError(str(exc), path=("checks", i, "exclude_if")) from None
        _no_duplicates([x.id for x in self.indices], "indices")
        symbols = item_ids | seen | means | set(self.constants)
        for i, idx in enumerate(self.indices):
            try:
                idx.expression.check_symbols(symbols)
            except ExpressionError as exc:
                raise InstrumentError(str(exc), path=("indices", i, "formula")) from None
        known_scores = seen | {x.id for x in self.indices} | means
        for i, table in enumerate(self.norms):
            for j, row in enumerate(table.rows):
                for key in row.values:
                    if key not in known_scores:
                        raise InstrumentError(
                            f"norm table {table.id!r} has a value for unknown score {key!r}",
                            path=("norms", i, "rows", j, "values", key),
                        )
        _no_duplicates([e.id for e in self.editions] + [self.id], "editions")


def _no_duplicates(ids: list[str], where: str) -> None:
    seen: dict[str, int] = {}
    for i, x in enumerate(ids):
        if x in seen:
            raise InstrumentError(f"duplicate id {x!r} (first at {where}[{seen[x]}])", path=(where, i, "id"))
        seen[x] = i


def json_schema() -> dict[str, Any]:
    """The JSON Schema of an instrument file (for editors and ``psychoml instruments schema``)."""
    schema = InstrumentSpec.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "psychoml instrument"
    return schema
