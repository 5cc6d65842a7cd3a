"""Rendering an instrument's items into the exact chat messages and response options a variant sends.

Layout of a rendered prompt
---------------------------
* **system message** (only when there is something to put in it): the variant's system prompt, then its
  persona (``"Suppose you are from Japan, in the context of work."``), separated by a blank line.  Personas go
  in the system message so that the user message, and with it the shared prompt prefix, is the same for every
  persona.
* **user message**, blocks separated by a blank line: the instruction text (see
  :mod:`psychoml.prompts.templates`); ``Response options:`` with one option per line in presented order; what
  to answer; the item text (layout ``item``) or the numbered items (layout ``scale``).  With
  ``option_position="after_item"`` the order is instructions, item(s), options, what to answer.

  The default, everything before the item, is how the printed questionnaires (and PsychoBench's LLM prompts)
  explain the scale above the statements, and it makes everything up to the item the same for all items of a
  part, so a local backend computes that prefix once (:class:`psychoml.backends.hf.HFBackend`) and scores each
  item from its last few tokens.

Response options
----------------
Each item's own response scale is used (SVS-56: -1..7 with anchors at -1, 0, 3, 6 and 7; MFQ-30: 0..5 with the
relevance or agreement anchors of the item's part; VSM 2013 and WVS-7: the per-question scales of their YAML).
Missing-value codes (WVS "Don't know") are not offered.  ``Option.label`` is exactly what the model must
answer; ``Option.value`` the published code it scores as; ``Option.text`` the anchor wording shown after the
label (``"1 = Not like me at all"``), if any:

* ``numbers``: label = the number, anchors shown for the two end points only;
* ``both``: label = the number, every published anchor shown;
* ``words``: label = the anchor wording (needs a wording for every point, otherwise ``both`` is used);
* ``letters``: label = ``A``, ``B``, ... with every published anchor shown.

``scale_direction="descending"`` mirrors the numbers (or letters): the first published option gets the last
number.  ``option_order="reversed"`` lists the options from last to first.  Neither changes ``value``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from psychoml.errors import DataError
from psychoml.instruments import Instrument, ResponseScale
from psychoml.instruments import load as load_instrument
from psychoml.prompts.design import Design, Variant
from psychoml.prompts.messages import Message, Option
from psychoml.prompts.templates import instruction_text

__all__ = ["RenderedPrompt", "item_groups", "option_line", "preview", "render", "response_options"]


@dataclass(frozen=True)
class RenderedPrompt:
    """The messages and options (in presented order) one variant sends for one item or one scale's items."""

    messages: tuple[Message, ...]
    options: tuple[Option, ...]
    item_ids: tuple[str, ...] = ()
    variant_id: str = ""
    persona: str | None = None
    label_format: str = "both"  # the format actually used (``words`` falls back to ``both``)

    @property
    def text(self) -> str:
        """The messages as one readable block (the same format as ``Request.prompt_text``)."""
        return "\n\n".join(f"[{m.role}]\n{m.content}" for m in self.messages)


def _fmt(value: float) -> str:
    return f"{value:g}"


def option_line(option: Option) -> str:
    """How an option is shown in the prompt: ``"1 = Not like me at all"``, ``"2"`` or ``"Agree"``."""
    return f"{option.label} = {option.text}" if option.text else option.label


def _words_usable(scale: ResponseScale) -> bool:
    labels = [scale.labels.get(v) for v in scale.values]
    if any(not lab for lab in labels):
        return False
    folded = [str(lab).strip().casefold() for lab in labels]
    return len(set(folded)) == len(folded)


def response_options(scale: ResponseScale, variant: Variant) -> tuple[tuple[Option, ...], str]:
    """The options of ``scale`` as ``variant`` presents them, and the label format actually used."""
    fmt = variant.facets["label_format"]
    if fmt == "words" and not _words_usable(scale):
        fmt = "both"
    values = list(scale.values)
    n = len(values)
    descending = variant.facets["scale_direction"] == "descending"
    options = []
    for i, v in enumerate(values):
        j = n - 1 - i if descending else i
        anchor = scale.labels.get(v)
        anchor = str(anchor).strip() if anchor is not None else None
        if fmt == "words":
            label, text = str(anchor), None
        elif fmt == "letters":
            if n > 26:
                raise DataError(f"response scale {scale.id!r} has {n} points, too many for letter labels")
            label, text = chr(ord("A") + j), anchor
        else:
            label = _fmt(values[j])
            text = anchor if fmt == "both" or i in (0, n - 1) else None
        options.append(Option(label=label, value=float(v), text=text))
    if variant.facets["option_order"] == "reversed":
        options.reverse()
    return tuple(options), fmt


def _as_instrument(instrument: Instrument | str) -> Instrument:
    return instrument if isinstance(instrument, Instrument) else load_instrument(instrument)


def _answer_instruction(fmt: str, options: Sequence[Option], layout: str) -> str:
    what = {
        "letters": "the letter of the option that fits best",
        "words": "the option that fits best, written exactly as above",
    }.get(fmt, "the number of the option that fits best")
    if layout == "item":
        return f"Answer with {what}, and nothing else."
    example = options[0].label
    return (
        f'Answer every item, one per line, as "<item number>: <answer>" (for example "1: {example}"), where '
        f"<answer> is {what}. Write nothing else."
    )


def render(instrument: Instrument | str, variant: Variant, item_ids: Sequence[str] | str) -> RenderedPrompt:
    """Render ``item_ids`` of ``instrument`` under ``variant``.

    Parameters
    ----------
    instrument
        An :class:`~psychoml.instruments.Instrument` or a shipped instrument id.
    variant
        A :class:`Variant` of a design.
    item_ids
        One item id (or a one-element list) for layout ``item``; the items of one prompt for layout ``scale``
        (see :func:`item_groups`).  Items in one prompt must share their response scale and part, since they
        share the instructions and the options.

    Returns
    -------
    RenderedPrompt
        ``messages`` (system message only when there is a system prompt or persona) and ``options`` in
        presented order.
    """
    inst = _as_instrument(instrument)
    if not isinstance(variant, Variant):
        raise DataError(f"render: variant must be a Variant (from Design.variants()), got {type(variant).__name__}")
    ids = (item_ids,) if isinstance(item_ids, str) else tuple(item_ids)
    if not ids:
        raise DataError("render: item_ids is empty")
    items = [inst.item(i) for i in ids]
    layout = variant.facets["layout"]
    if layout == "item" and len(ids) != 1:
        raise DataError(f"render: layout 'item' renders one item per prompt, got {len(ids)} ({', '.join(ids[:4])})")
    scales = {inst.response_scale(i).id for i in ids}
    parts = {it.part for it in items}
    if len(scales) > 1 or len(parts) > 1:
        raise DataError(
            f"render: items {', '.join(ids)} of {inst.id!r} do not share one response scale and part "
            f"(scales: {', '.join(sorted(scales))}); group them with item_groups()"
        )
    scale = inst.response_scale(ids[0])
    options, fmt = response_options(scale, variant)
    instructions = instruction_text(inst, variant.facets["instruction"], items[0].part)

    if layout == "item":
        body = items[0].text.strip()
    else:
        body = "\n".join(f"{k}. {it.text.strip()}" for k, it in enumerate(items, start=1))
    option_block = "Response options:\n" + "\n".join(option_line(o) for o in options)
    answer = _answer_instruction(fmt, options, layout)
    if variant.facets["option_position"] == "after_item":
        blocks = [instructions, body, option_block, answer]
    else:
        blocks = [instructions, option_block, answer, body]
    user = "\n\n".join(blocks)

    persona = variant.facets["persona"]
    system_parts = [p for p in (variant.facets["system_prompt"], persona) if p]
    messages: list[Message] = []
    if system_parts:
        messages.append(Message("system", "\n\n".join(str(p).strip() for p in system_parts)))
    messages.append(Message("user", user))
    return RenderedPrompt(
        messages=tuple(messages), options=options, item_ids=ids, variant_id=variant.id, persona=persona,
        label_format=fmt,
    )


def item_groups(
    instrument: Instrument | str, layout: str | Variant, item_ids: Sequence[str] | None = None
) -> list[tuple[str, ...]]:
    """The item ids of each prompt: one item each for layout ``item``; for layout ``scale`` the items of each
    scale that share a part and response scale.

    Scales are taken in the instrument's order (item scales only, not composites); an item already placed is
    not repeated; items in no scale (VSM 2013, WVS-7) are grouped by part and response scale.  ``item_ids``
    restricts and orders nothing: groups keep the instrument's order.
    """
    inst = _as_instrument(instrument)
    lay = layout.facets["layout"] if isinstance(layout, Variant) else layout
    if lay not in ("item", "scale"):
        raise DataError(f"item_groups: layout must be 'item' or 'scale', got {lay!r}")
    wanted = list(inst.item_ids) if item_ids is None else [inst.item(i).id for i in item_ids]
    wanted_set = set(wanted)
    if lay == "item":
        return [(i,) for i in inst.item_ids if i in wanted_set]
    placed: set[str] = set()
    groups: list[tuple[str, ...]] = []

    def key(i: str) -> tuple[str | None, str]:
        return inst.item(i).part, inst.response_scale(i).id

    for s in inst.scales:
        members = [i for i in s.items if i in wanted_set and i not in placed]
        buckets: dict[tuple[str | None, str], list[str]] = {}
        for i in members:
            buckets.setdefault(key(i), []).append(i)
        for b in buckets.values():
            groups.append(tuple(b))
            placed.update(b)
    rest: dict[tuple[str | None, str], list[str]] = {}
    for i in inst.item_ids:
        if i in wanted_set and i not in placed:
            rest.setdefault(key(i), []).append(i)
    groups.extend(tuple(b) for b in rest.values())
    return groups


def preview(
    instrument: Instrument | str, design_or_variant: Design | Variant | str, item_id: str, *,
    variant_id: str | None = None,
) -> str:
    """The exact messages and options a variant sends for ``item_id`` (its whole group in layout ``scale``).

    ``design_or_variant`` is a :class:`Variant`, a :class:`Design` or a design name/path; for a design, the
    variant ``variant_id`` (default: its first variant) is shown.
    """
    from psychoml.prompts.design import load_design

    inst = _as_instrument(instrument)
    if isinstance(design_or_variant, Variant):
        variant = design_or_variant
    else:
        design = load_design(design_or_variant)
        variant = design.variant(variant_id) if variant_id else design.variants()[0]
    inst.item(item_id)
    if variant.facets["layout"] == "scale":
        ids = next(g for g in item_groups(inst, "scale") if item_id in g)
    else:
        ids = (item_id,)
    rendered = render(inst, variant, ids)
    facets = ", ".join(f"{k}={v!r}" for k, v in variant.facets.items())
    lines = [f"instrument {inst.id}  variant {variant.id}  items {', '.join(ids)}", f"facets: {facets}", ""]
    for m in rendered.messages:
        lines += [f"--- {m.role} ---", m.content, ""]
    lines.append("--- options (label -> value) ---")
    for o in rendered.options:
        lines.append(f"{o.label!r} -> {o.value:g}" + (f"  ({o.text})" if o.text else ""))
    return "\n".join(lines)
