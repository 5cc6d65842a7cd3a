"""CLI commands: prompts (registered on the shared typer app on import).

``psychoml prompts variants --design quick`` lists a design's variants and their facets;
``psychoml prompts preview --instrument svs56 --design quick [--variant ID] --item svs01`` prints the exact
messages and options a variant sends for an item; ``psychoml prompts validate FILE`` checks a design file;
``psychoml prompts templates --instrument mfq30`` prints every instruction template for each part.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from psychoml.cli.app import app

prompts_app = typer.Typer(help="Prompt designs: list variants, preview the exact prompt of any variant and item.",
                          no_args_is_help=True)
app.add_typer(prompts_app, name="prompts")

DesignOpt = Annotated[str, typer.Option("--design", "-d", help="Shipped design (minimal, quick, full) or a YAML file.")]


@prompts_app.command("variants")
def prompts_variants(
    design: DesignOpt = "quick",
    as_json: Annotated[bool, typer.Option("--json", help="Print the variants as JSON.")] = False,
) -> None:
    """List the variants of a design with their facet levels."""
    import pandas as pd
    from rich.markup import escape

    from psychoml.cli.app import console, print_frame
    from psychoml.prompts import load_design

    d = load_design(design)
    variants = d.variants()
    if as_json:
        typer.echo(json.dumps([v.to_dict() for v in variants], indent=2, ensure_ascii=False))
        return
    # columns only for the facets that vary; the constant ones are listed once below the table
    varying = [k for k in variants[0].facets if len({json.dumps(v.facets[k]) for v in variants}) > 1]
    constant = [k for k in variants[0].facets if k not in varying]
    rows = []
    for v in variants:
        row = {k: ("-" if v.facets[k] is None else escape(str(v.facets[k]))) for k in varying}
        rows.append({"variant": v.id, **row})
    frame = pd.DataFrame(rows).set_index("variant")
    frac = f", fraction {d.fraction:g} (seed {d.seed}) of {d.size}" if d.fraction is not None else ""
    title = f"Design {escape(d.name or design)}: {len(variants)} variant{'s' if len(variants) != 1 else ''}{frac}"
    print_frame(frame, title=title)
    fixed = ", ".join(f"{k}={'-' if variants[0].facets[k] is None else variants[0].facets[k]}" for k in constant)
    if fixed:
        console.print(escape(f"same in every variant: {fixed}"))
    if d.description:
        console.print(escape(d.description))


@prompts_app.command("preview")
def prompts_preview(
    instrument: Annotated[str, typer.Option("--instrument", "-i", help="Instrument id or YAML file.")],
    design: DesignOpt = "quick",
    variant: Annotated[str | None, typer.Option("--variant", "-v", help="Variant id (default: the first).")] = None,
    item: Annotated[str | None, typer.Option("--item", help="Item id (default: the instrument's first item).")] = None,
    all_variants: Annotated[bool, typer.Option("--all", help="Show every variant of the design.")] = False,
) -> None:
    """Print the exact messages and response options a design variant sends for one item."""
    from psychoml.instruments import load
    from psychoml.prompts import load_design, preview

    inst = load(instrument)
    d = load_design(design)
    item_id = item or inst.item_ids[0]
    inst.item(item_id)  # a clear error for an unknown item before anything is printed
    if all_variants:
        chosen = d.variants()
    else:
        chosen = [d.variant(variant) if variant else d.variants()[0]]
    blocks = [preview(inst, v, item_id) for v in chosen]
    typer.echo(("\n\n" + "=" * 80 + "\n\n").join(blocks))
    if not all_variants and not variant and len(d.variants()) > 1:
        typer.echo(f"\n({len(d.variants())} variants in this design: --variant ID picks one, --all shows every one)")


@prompts_app.command("validate")
def prompts_validate(path: Annotated[str, typer.Argument(help="Design YAML file (or shipped design name).")]) -> None:
    """Validate a design file; print its number of variants."""
    from psychoml.prompts import load_design

    d = load_design(path)
    n = len(d.variants())
    typer.echo(f"{path}: ok ({n} variant{'s' if n != 1 else ''})")


@prompts_app.command("templates")
def prompts_templates(
    instrument: Annotated[str, typer.Option("--instrument", "-i", help="Instrument id or YAML file.")],
    part: Annotated[str | None, typer.Option("--part", help="Part id (default: every part).")] = None,
) -> None:
    """Print each instruction template's text for an instrument (per part), and the persona templates."""
    from psychoml.errors import DataError
    from psychoml.instruments import load
    from psychoml.prompts import INSTRUCTION_TEMPLATES, instruction_text, persona_templates
    from psychoml.prompts.templates import instruction_family

    inst = load(instrument)
    parts = [p.id for p in inst.spec.parts]
    if part is not None and part not in parts:
        raise DataError(f"instrument {inst.id!r} has no part {part!r} (parts: {', '.join(parts) or 'none'})")
    has_unparted = any(it.part is None for it in inst.items)
    chosen: list[str | None] = [part] if part is not None else [*parts, *([None] if has_unparted else [])]
    typer.echo(f"instrument {inst.id}, instruction family {instruction_family(inst)}")
    for p in chosen:
        for t in INSTRUCTION_TEMPLATES:
            typer.echo(f"\n--- {t}" + (f" (part {p})" if p else "") + " ---")
            typer.echo(instruction_text(inst, t, p))
    typer.echo("\n--- persona templates ---")
    for tid, text in persona_templates().items():
        typer.echo(f"{tid}: {text}")
