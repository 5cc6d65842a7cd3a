"""Instruction templates per instrument family and persona templates, read from ``psychoml/prompts/data``.

Instruction template ids are the same for every family so that one design applies to any instrument:

* ``official``: the instrument's own instructions from its YAML (``instructions.text``, followed by the item's
  part instructions; when the instrument-level text already contains the part text, as in MFQ-30 whose
  instructions concatenate both parts, only the part text is used, so each MFQ-30 item gets its own part's
  question and scale wording);
* ``plain``, ``brief``, ``reflective``: paraphrases written per family (``schwartz``, ``mfq``, ``hofstede``,
  ``wvs``) plus a ``generic`` family for user instruments.  A family file may give one text per template or
  texts keyed by instrument, part or ``<instrument>.<part>``.

Persona templates (``personas.yaml``) are texts with ``{placeholders}`` that a design expands over value lists.
"""

from __future__ import annotations

import functools
import importlib.resources
import string
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from psychoml.errors import DataError
from psychoml.instruments import Instrument, read_yaml

__all__ = [
    "FAMILIES",
    "INSTRUCTION_TEMPLATES",
    "data_path",
    "instruction_family",
    "instruction_text",
    "persona_placeholders",
    "persona_templates",
]

#: Template ids every family defines, besides ``official``.
PARAPHRASES: tuple[str, ...] = ("plain", "brief", "reflective")
#: Every valid value of the ``instructions`` facet.
INSTRUCTION_TEMPLATES: tuple[str, ...] = ("official", *PARAPHRASES)
#: Families with their own paraphrases (``generic`` serves every other instrument).
FAMILIES: tuple[str, ...] = ("schwartz", "mfq", "hofstede", "wvs", "generic")


def data_path(name: str) -> Path:
    """Path of a shipped data file of this subpackage (``psychoml/prompts/data/<name>``)."""
    return Path(str(importlib.resources.files("psychoml.prompts").joinpath("data", name)))


@functools.cache
def _family(family: str) -> dict[str, Any]:
    doc = read_yaml(data_path(f"instructions_{family}.yaml"))
    data = doc.data
    templates = data.get("templates") or {}
    missing = [t for t in PARAPHRASES if t not in templates]
    if missing:  # a packaging error, not a user error: the shipped files define every id
        raise DataError(f"{doc.source}: family {family!r} lacks instruction templates {missing}")
    return data


def instruction_family(instrument: Instrument) -> str:
    """The family whose paraphrases an instrument uses (its YAML ``family`` if shipped here, else ``generic``)."""
    family = instrument.spec.family
    return family if family in FAMILIES else "generic"


def _official(instrument: Instrument, part_id: str | None) -> str:
    text = instrument.spec.instructions.text.strip()
    if part_id is None:
        return text
    part = next(p for p in instrument.spec.parts if p.id == part_id)
    part_text = part.instructions.strip()
    if part_text in text:
        return part_text
    return f"{text}\n\n{part_text}"


def instruction_text(instrument: Instrument, template: str, part_id: str | None = None) -> str:
    """The instruction text of ``template`` for the items of ``part_id`` of ``instrument``.

    Raises :class:`DataError` for an unknown template id.
    """
    if template == "official":
        return _official(instrument, part_id)
    if template not in PARAPHRASES:
        raise DataError(f"unknown instruction template {template!r} (known: {', '.join(INSTRUCTION_TEMPLATES)})")
    data = _family(instruction_family(instrument))
    entry = data["templates"][template]
    if isinstance(entry, str):
        text, part_specific = entry, False
    else:
        keys: list[tuple[str, bool]] = []
        if part_id is not None:
            keys += [(f"{instrument.id}.{part_id}", True), (f"{instrument.base_id}.{part_id}", True), (part_id, True)]
        keys += [(instrument.id, False), (instrument.base_id, False), ("default", False)]
        found = next(((entry[k], ps) for k, ps in keys if k in entry), None)
        if found is None:
            generic = _family("generic")["templates"][template]
            found = (generic, False)
        text, part_specific = found
    text = str(text).strip()
    if part_id is not None and not part_specific and data.get("keep_part_instructions", True):
        part = next(p for p in instrument.spec.parts if p.id == part_id)
        text = f"{text}\n\n{part.instructions.strip()}"
    return text


@functools.cache
def persona_templates() -> Mapping[str, str]:
    """The shipped persona templates by id (``country_domain`` -> ``"Suppose you are from {country}, ..."``)."""
    doc = read_yaml(data_path("personas.yaml"))
    return dict(doc.data.get("templates") or {})


def persona_placeholders(template: str) -> list[str]:
    """The ``{placeholder}`` names of a template text, in order of first appearance.

    Raises :class:`ValueError` for malformed braces or positional ``{}`` fields.
    """
    names: list[str] = []
    for _, field, _, _ in string.Formatter().parse(template):
        if field is None:
            continue
        if not field.isidentifier():
            raise ValueError(f"persona template {template!r}: placeholder {{{field}}} must be a name")
        if field not in names:
            names.append(field)
    return names
