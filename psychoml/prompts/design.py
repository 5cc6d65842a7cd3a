"""Prompt variation as a factorial design: facets, their expansion into variants, and design files.

A :class:`Design` lists, for each facet of how an item is put to a model, the levels to vary:

================  ==============================================================================================
facet             levels
================  ==============================================================================================
instructions      instruction template ids: ``official`` (the instrument's own text) and the paraphrases
                  ``plain``, ``brief``, ``reflective`` (written per instrument family, see
                  :mod:`psychoml.prompts.templates`)
personas          ``None`` (no persona), a text, or a template ``{template: ..., values: {name: [...]}}`` that is
                  expanded into one concrete persona per combination of values
option_order      ``published`` (options listed as in the published form) or ``reversed``
scale_direction   ``ascending`` (option numbers are the published codes) or ``descending`` (the numbers are
                  mirrored: the first published option gets the highest number); the scored value is always the
                  published code
label_format      ``numbers`` (answer with a number; only the end points' anchors shown), ``words`` (answer
                  with the anchor wording; scales without a wording for every point fall back to ``both``),
                  ``both`` (numbers with every published anchor, shown as ``1 = Not like me at all``), or
                  ``letters`` (``A``, ``B``, ... with the anchors)
system_prompt     ``None`` or system prompt texts
layout            ``item`` (one item per prompt) or ``scale`` (the items of one scale per prompt, answered one
                  per line)
option_position   ``before_item`` (the response options follow the instructions and precede the item, as printed
                  questionnaires explain the scale above the statements) or ``after_item`` (the item first, then
                  its options)
================  ==============================================================================================

``design.variants()`` is the full factorial (in the facet order above), or with ``fraction`` a seeded subset of
``max(1, round(fraction * n))`` variants.  Each :class:`Variant` has an ``id``: the first 10 hex digits of the
SHA-256 of its facet values as canonical JSON, so the same combination has the same id in every design, process
and Python version.  ``option_position`` came after the other facets: at ``after_item`` (the only layout before
it existed) it is left out of the hash, so a variant that sends the same prompt as before keeps its id.

Official instructions that spell out the codes (SVS-56: "7 is for rating a value of supreme importance")
keep their wording under every variant, so ``descending`` numbering or ``words`` labels contradict them on
purpose: that is the prompt sensitivity the facet measures.  Paraphrases never mention codes.

Design files are YAML with the same fields (``name`` and ``description`` optional; a facet may be given as one
value or a list); errors name the file, YAML path and line.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field, field_validator

from psychoml.errors import DataError, ValidationError, format_yaml_path
from psychoml.instruments import read_yaml, validate_model
from psychoml.instruments.loader import YamlDocument
from psychoml.prompts.templates import INSTRUCTION_TEMPLATES, data_path, persona_placeholders, persona_templates

__all__ = [
    "FACETS",
    "SHIPPED_DESIGNS",
    "Design",
    "PersonaTemplate",
    "Variant",
    "load_design",
    "variant_id",
]

#: Variant facet names, in expansion order (Design field -> Variant.facets key).
FACETS: tuple[tuple[str, str], ...] = (
    ("instructions", "instruction"),
    ("personas", "persona"),
    ("option_order", "option_order"),
    ("scale_direction", "scale_direction"),
    ("label_format", "label_format"),
    ("system_prompt", "system_prompt"),
    ("layout", "layout"),
    ("option_position", "option_position"),
)

#: Names accepted by :func:`load_design` without a path.
SHIPPED_DESIGNS: tuple[str, ...] = ("minimal", "quick", "full")

_ID_LENGTH = 10


#: Facets added after the first ones, with the level that reproduces the prompts from before they existed: at that
#: level they stay out of the id, so stored variants keep their ids (and resume) when they send the same prompt.
_IDLESS_LEVELS: dict[str, Any] = {"option_position": "after_item"}


def variant_id(facets: Mapping[str, Any]) -> str:
    """Short stable id of a facet combination: SHA-256 of its canonical JSON (sorted keys), first 10 hex digits.

    A facet at its level in ``_IDLESS_LEVELS`` (``option_position="after_item"``) is left out of the JSON.
    """
    canonical = {k: v for k, v in facets.items() if not (k in _IDLESS_LEVELS and v == _IDLESS_LEVELS[k])}
    blob = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(blob.encode("ascii")).hexdigest()[:_ID_LENGTH]


@dataclass(frozen=True)
class PersonaTemplate:
    """A persona text with ``{placeholders}`` and the values each takes; expands to one persona per combination.

    ``template`` is a shipped template id (see ``personas.yaml``: ``country_domain``, ``country``,
    ``demographic``, ``occupation``) or a literal text with placeholders.
    """

    template: str
    values: tuple[tuple[str, tuple[str, ...]], ...]

    @classmethod
    def from_mapping(cls, template: str, values: Mapping[str, Sequence[Any]]) -> PersonaTemplate:
        return cls(template, tuple((str(k), tuple(str(v) for v in vs)) for k, vs in values.items()))

    @property
    def text(self) -> str:
        """The template text (the shipped text when ``template`` is an id)."""
        return persona_templates().get(self.template, self.template)

    def expand(self) -> list[tuple[str, dict[str, str]]]:
        """Concrete personas: (text, {placeholder: value}) for every combination, first placeholder slowest."""
        names = [k for k, _ in self.values]
        out = []
        for combo in itertools.product(*(vs for _, vs in self.values)):
            fields = dict(zip(names, combo))
            out.append((self.text.format(**fields), fields))
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"template": self.template, "values": {k: list(vs) for k, vs in self.values}}


PersonaLevel = str | PersonaTemplate | None


@dataclass(frozen=True, eq=False)
class Variant:
    """One concrete combination of facet levels.

    ``facets`` maps ``instruction``, ``persona``, ``option_order``, ``scale_direction``, ``label_format``,
    ``system_prompt``, ``layout`` and ``option_position`` to JSON-able values (the persona as its concrete text); ``id`` is
    :func:`variant_id` of them.  ``persona_fields`` holds the placeholder values a templated persona was made
    from (e.g. ``{"country": "Japan"}``); it does not enter the id.
    """

    facets: Mapping[str, Any]
    persona_fields: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        facets = dict(self.facets)
        names = [v for _, v in FACETS]
        unknown = sorted(set(facets) - set(names))
        if unknown:
            raise DataError(f"Variant.facets: unknown facet(s) {unknown} (known: {', '.join(names)})")
        defaults = _DEFAULTS
        full = {name: facets.get(name, defaults[name]) for name in names}
        object.__setattr__(self, "facets", MappingProxyType(full))
        object.__setattr__(self, "persona_fields", MappingProxyType(dict(self.persona_fields)))
        object.__setattr__(self, "_id", variant_id(full))

    @property
    def id(self) -> str:
        return self._id  # type: ignore[attr-defined, no-any-return]

    def __getattr__(self, name: str) -> Any:
        # variant.instruction, variant.layout, ... read the facets
        facets = object.__getattribute__(self, "facets")
        if name in facets:
            return facets[name]
        raise AttributeError(name)

    def __reduce__(self) -> tuple[Any, ...]:
        return (Variant, (dict(self.facets), dict(self.persona_fields)))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Variant) and dict(self.facets) == dict(other.facets)

    def __hash__(self) -> int:
        return hash(self.id)

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self.facets.items() if v != _DEFAULTS[k])
        return f"Variant({self.id}{': ' + shown if shown else ''})"

    def to_dict(self) -> dict[str, Any]:
        """``{"id": ..., **facets}`` plus ``persona_fields`` when present (JSON-able)."""
        out: dict[str, Any] = {"id": self.id, **self.facets}
        if self.persona_fields:
            out["persona_fields"] = dict(self.persona_fields)
        return out


_DEFAULTS: dict[str, Any] = {
    "instruction": "official",
    "persona": None,
    "option_order": "published",
    "scale_direction": "ascending",
    "label_format": "both",
    "system_prompt": None,
    "layout": "item",
    "option_position": "before_item",
}


# ---------------------------------------------------------------------------------------------------------------
# validation model (what a design file may contain)


def _listify(v: Any) -> Any:
    if v is None:
        return [None]
    return v if isinstance(v, list | tuple) else [v]


class _PersonaTemplateModel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    template: str = Field(min_length=1)
    values: dict[str, list[str | int | float]] = Field(min_length=1)


class _DesignModel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str | None = None
    description: str | None = None
    instructions: list[str] = Field(default_factory=lambda: ["official"], min_length=1)
    personas: list[None | str | _PersonaTemplateModel] = Field(default_factory=lambda: [None], min_length=1)
    option_order: list[Literal["published", "reversed"]] = Field(default_factory=lambda: ["published"], min_length=1)
    scale_direction: list[Literal["ascending", "descending"]] = Field(
        default_factory=lambda: ["ascending"], min_length=1
    )
    label_format: list[Literal["numbers", "words", "both", "letters"]] = Field(
        default_factory=lambda: ["both"], min_length=1
    )
    system_prompt: list[str | None] = Field(default_factory=lambda: [None], min_length=1)
    layout: list[Literal["item", "scale"]] = Field(default_factory=lambda: ["item"], min_length=1)
    option_position: list[Literal["before_item", "after_item"]] = Field(
        default_factory=lambda: ["before_item"], min_length=1
    )
    fraction: float | None = Field(default=None, gt=0, le=1)
    seed: int = 0

    @field_validator(*(f for f, _ in FACETS), mode="before")
    @classmethod
    def _one_or_many(cls, v: Any) -> Any:
        return _listify(v)


def _semantic_errors(model: _DesignModel) -> list[tuple[str, tuple[str | int, ...]]]:
    """Checks pydantic cannot express; (message, YAML path) of each problem, first one first."""
    problems: list[tuple[str, tuple[str | int, ...]]] = []
    for i, t in enumerate(model.instructions):
        if t not in INSTRUCTION_TEMPLATES:
            problems.append(
                (f"unknown instruction template {t!r} (known: {', '.join(INSTRUCTION_TEMPLATES)})", ("instructions", i))
            )
    for i, p in enumerate(model.personas):
        if isinstance(p, str) and not p.strip():
            problems.append(("a persona text must not be empty (use null for no persona)", ("personas", i)))
        if isinstance(p, _PersonaTemplateModel):
            text = persona_templates().get(p.template, p.template)
            try:
                names = persona_placeholders(text)
            except ValueError as exc:
                problems.append((str(exc), ("personas", i, "template")))
                continue
            if not names:
                problems.append((
                    (f"persona template {p.template!r} is neither a shipped template "
                    f"({', '.join(persona_templates())}) nor a text with {{placeholders}}"),
                    ("personas", i, "template"),
                ))
            for name in names:
                if name not in p.values:
                    problems.append((f"persona template needs values for {{{name}}}", ("personas", i, "values")))
            for name, vals in p.values.items():
                if name not in names:
                    problems.append((f"persona template {text!r} has no placeholder {{{name}}}",
                                     ("personas", i, "values", name)))
                elif not vals:
                    problems.append((f"no values for {{{name}}}", ("personas", i, "values", name)))
    for i, s in enumerate(model.system_prompt):
        if isinstance(s, str) and not s.strip():
            problems.append(("a system prompt must not be empty (use null for none)", ("system_prompt", i)))
    for fname, _ in FACETS:
        seen: dict[str, int] = {}
        for i, v in enumerate(getattr(model, fname)):
            key = json.dumps(v.model_dump() if isinstance(v, BaseModel) else v, sort_keys=True)
            if key in seen:
                problems.append((f"duplicate level (same as {fname}[{seen[key]}])", (fname, i)))
            seen.setdefault(key, i)
    return problems


# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Design:
    """A factorial prompt design (see the module docstring for the facets and their levels).

    Parameters
    ----------
    instructions, personas, option_order, scale_direction, label_format, system_prompt, layout, option_position
        Levels of each facet (a single value is accepted for a one-level facet).
    fraction
        ``None`` for the full factorial; otherwise the share of variants to keep (``0 < fraction <= 1``), chosen
        by ``seed`` (at least one variant is always kept).
    seed
        Seed of the fraction.
    name, description
        Labels only; they do not affect the variants.

    Examples
    --------
    >>> d = Design(instructions=["official", "plain", "brief"], option_order=["published", "reversed"])
    >>> len(d.variants())
    6
    """

    instructions: tuple[str, ...] = ("official",)
    personas: tuple[PersonaLevel, ...] = (None,)
    option_order: tuple[str, ...] = ("published",)
    scale_direction: tuple[str, ...] = ("ascending",)
    label_format: tuple[str, ...] = ("both",)
    system_prompt: tuple[str | None, ...] = (None,)
    layout: tuple[str, ...] = ("item",)
    option_position: tuple[str, ...] = ("before_item",)
    fraction: float | None = None
    seed: int = 0
    name: str | None = None
    description: str | None = None

    def __post_init__(self) -> None:
        raw = self._raw()
        try:
            model = _DesignModel.model_validate(raw)
        except pydantic.ValidationError as exc:
            err = exc.errors(include_url=False)[0]
            loc = [p for p in err["loc"] if not (isinstance(p, str) and p.startswith(("function-", "[")))]
            raise DataError(f"Design.{format_yaml_path(loc)}: {err['msg']} (got {err.get('input')!r})") from None
        problems = _semantic_errors(model)
        if problems:
            msg, path = problems[0]
            raise DataError(f"Design.{format_yaml_path(path)}: {msg}")
        for fname, _ in FACETS:
            values = getattr(model, fname)
            if fname == "personas":
                values = [PersonaTemplate.from_mapping(v.template, v.values) if isinstance(v, BaseModel) else v
                          for v in values]
            object.__setattr__(self, fname, tuple(values))
        object.__setattr__(self, "fraction", model.fraction)
        object.__setattr__(self, "seed", model.seed)

    def _raw(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "description": self.description, "fraction": self.fraction,
                               "seed": self.seed}
        for fname, _ in FACETS:
            value = getattr(self, fname)
            if isinstance(value, str) or value is None or isinstance(value, PersonaTemplate | Mapping):
                value = [value]
            out[fname] = [v.to_dict() if isinstance(v, PersonaTemplate) else v for v in value]
        return out

    # --- construction ---------------------------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "<design>") -> Design:
        """A design from a mapping (the content of a design file); errors are :class:`ValidationError` at a path."""
        if not isinstance(data, Mapping):
            raise ValidationError("a design must be a mapping of facets to levels", file=source)
        return _from_document(YamlDocument(dict(data), {}, source))

    def to_dict(self) -> dict[str, Any]:
        """The design as a JSON/YAML-able mapping (``Design.from_dict(d.to_dict()) == d``)."""
        out = self._raw()
        return {k: v for k, v in out.items() if not (k in ("name", "description") and v is None)}

    # --- expansion -----------------------------------------------------------------------------------------------
    def _levels(self, fname: str) -> list[tuple[Any, dict[str, str]]]:
        values = getattr(self, fname)
        if fname != "personas":
            return [(v, {}) for v in values]
        out: list[tuple[Any, dict[str, str]]] = []
        for v in values:
            if isinstance(v, PersonaTemplate):
                out.extend(v.expand())
            else:
                out.append((v, {}))
        return out

    @property
    def size(self) -> int:
        """Number of variants of the full factorial (the product of the facet sizes)."""
        n = 1
        for fname, _ in FACETS:
            n *= len(self._levels(fname))
        return n

    def factorial(self) -> list[Variant]:
        """Every combination, first facet (instructions) slowest, duplicates (same persona text twice) dropped."""
        levels = [self._levels(fname) for fname, _ in FACETS]
        names = [v for _, v in FACETS]
        out: list[Variant] = []
        seen: set[str] = set()
        for combo in itertools.product(*levels):
            facets = {name: value for name, (value, _) in zip(names, combo)}
            persona_fields = combo[1][1]
            variant = Variant(facets, persona_fields)
            if variant.id not in seen:
                seen.add(variant.id)
                out.append(variant)
        return out

    def variants(self) -> list[Variant]:
        """The design's variants: the full factorial, or the seeded fraction of it (kept in factorial order).

        The fraction ranks variants by SHA-256 of ``"<seed>:<variant id>"`` and keeps the first
        ``max(1, round(fraction * n))``; this depends only on the seed and the ids, so it is the same in every
        process and Python version, and a variant kept at a fraction is kept at every larger fraction.
        """
        full = self.factorial()
        if self.fraction is None:
            return full
        k = max(1, round(self.fraction * len(full)))
        ranked = sorted(full, key=lambda v: hashlib.sha256(f"{self.seed}:{v.id}".encode("ascii")).hexdigest())
        keep = {v.id for v in ranked[:k]}
        return [v for v in full if v.id in keep]

    def variant(self, variant_id: str) -> Variant:
        """The variant with this id (a unique prefix is enough); :class:`DataError` naming the known ids otherwise."""
        variants = self.variants()
        matches = [v for v in variants if v.id == variant_id] or [v for v in variants if v.id.startswith(variant_id)]
        if len(matches) == 1:
            return matches[0]
        shown = ", ".join(v.id for v in variants[:12]) + (" ..." if len(variants) > 12 else "")
        what = "is ambiguous" if matches else "is not a variant of this design"
        raise DataError(f"variant {variant_id!r} {what} (variants: {shown})")

    def __len__(self) -> int:
        return len(self.variants())


_CHOICES: dict[str, tuple[str, ...]] = {
    "option_order": ("published", "reversed"),
    "scale_direction": ("ascending", "descending"),
    "label_format": ("numbers", "words", "both", "letters"),
    "layout": ("item", "scale"),
    "option_position": ("before_item", "after_item"),
}


def _raw_choice_errors(data: Mapping[str, Any]) -> tuple[str, tuple[str | int, ...]] | None:
    """A facet level outside its choices, reported with the value given (pydantic's message omits it)."""
    for fname, choices in _CHOICES.items():
        value = data.get(fname)
        values = value if isinstance(value, list) else [value]
        for i, v in enumerate(values):
            if isinstance(v, str) and v not in choices:
                path: tuple[str | int, ...] = (fname, i) if isinstance(value, list) else (fname,)
                return f"{fname} {v!r} is not one of: {', '.join(choices)}", path
    return None


def _from_document(doc: YamlDocument) -> Design:
    bad = _raw_choice_errors(doc.data)
    if bad is not None:
        raise doc.error(bad[0], bad[1], ValidationError)
    model = validate_model(_DesignModel, doc, ValidationError)
    problems = _semantic_errors(model)
    if problems:
        msg, path = problems[0]
        if len(problems) > 1:
            msg += f" (and {len(problems) - 1} more error{'s' if len(problems) > 2 else ''})"
        raise doc.error(msg, path, ValidationError)
    data = model.model_dump()
    data["personas"] = [
        PersonaTemplate.from_mapping(p["template"], p["values"]) if isinstance(p, dict) else p for p in data["personas"]
    ]
    return Design(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in data.items()})


def load_design(name_or_path: str | Path | Mapping[str, Any] | Design) -> Design:
    """A design by shipped name (``"minimal"``, ``"quick"``, ``"full"``), YAML file path, mapping or Design.

    Raises :class:`ValidationError` naming the file, YAML path and line of the first problem of a design file,
    or saying that a name is neither shipped nor an existing file.

    Examples
    --------
    >>> len(load_design("quick").variants())
    6
    """
    if isinstance(name_or_path, Design):
        return name_or_path
    if isinstance(name_or_path, Mapping):
        return Design.from_dict(name_or_path)
    if not isinstance(name_or_path, str | Path):
        raise DataError(f"load_design: expected a design name, path, mapping or Design, got {type(name_or_path).__name__}")
    text = str(name_or_path)
    if isinstance(name_or_path, str) and text in SHIPPED_DESIGNS:
        path = data_path(f"design_{text}.yaml")
        source = f"design {text!r} ({path.name})"
    else:
        path = Path(text)
        source = text
        if not path.is_file():
            looks_like_file = path.suffix in (".yaml", ".yml") or "/" in text or "\\" in text
            if looks_like_file:
                raise ValidationError("design file not found", file=source)
            raise ValidationError(
                f"unknown design {text!r}: not a shipped design ({', '.join(SHIPPED_DESIGNS)}) nor an existing file"
            )
    doc = read_yaml(path, source=source, error_cls=ValidationError)
    return _from_document(doc)
