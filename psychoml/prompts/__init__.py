"""Prompt variation as a factorial design: designs, variants, rendering, previews and answer parsing.

>>> from psychoml.prompts import load_design, render
>>> design = load_design("quick")                                   # 3 instructions x 2 option orders
>>> prompt = render("svs56", design.variants()[0], ["svs01"])       # doctest: +SKIP
>>> prompt.messages, prompt.options                                 # doctest: +SKIP
"""

from psychoml.prompts.design import (
    FACETS,
    SHIPPED_DESIGNS,
    Design,
    PersonaTemplate,
    Variant,
    load_design,
    variant_id,
)
from psychoml.prompts.messages import Message, Option
from psychoml.prompts.parse import (
    ParsedChoice,
    ParsedScale,
    parse_answer,
    parse_scale_answer,
)
from psychoml.prompts.render import RenderedPrompt, item_groups, option_line, preview, render, response_options
from psychoml.prompts.templates import FAMILIES, INSTRUCTION_TEMPLATES, instruction_text, persona_templates

__all__ = [
    "FACETS",
    "FAMILIES",
    "INSTRUCTION_TEMPLATES",
    "SHIPPED_DESIGNS",
    "Design",
    "Message",
    "Option",
    "ParsedChoice",
    "ParsedScale",
    "PersonaTemplate",
    "RenderedPrompt",
    "Variant",
    "instruction_text",
    "item_groups",
    "load_design",
    "option_line",
    "parse_answer",
    "parse_scale_answer",
    "persona_templates",
    "preview",
    "render",
    "response_options",
    "variant_id",
]
