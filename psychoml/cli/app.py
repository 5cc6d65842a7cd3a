"""Typer application: command groups and the commands over instruments and scoring."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from psychoml.errors import DataError

app = typer.Typer(
    name="psychoml",
    help="Psychometrics for language models: instruments, administration, reliability, validity and IRT.\n\n"
    "Add --debug anywhere to see tracebacks instead of one-line errors.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
instruments_app = typer.Typer(help="List, show and validate instruments; print the instrument JSON Schema.",
                              no_args_is_help=True)
app.add_typer(instruments_app, name="instruments")

console = Console()


def print_frame(frame: pd.DataFrame, *, title: str | None = None, digits: int = 3, index: bool = True) -> None:
    """Print a DataFrame as a rich table (numbers rounded to ``digits``)."""
    # A title wider than the table would wrap mid-word: let the table grow to hold it.
    table = Table(title=title, show_lines=False, header_style="bold", min_width=len(title) if title else None)
    if index:
        table.add_column(str(frame.index.name or ""), style="cyan")
    for col in frame.columns:
        table.add_column(str(col), justify="right" if pd.api.types.is_numeric_dtype(frame[col]) else "left")
    for idx, row in frame.iterrows():
        cells = []
        for col in frame.columns:
            v = row[col]
            if isinstance(v, float):
                cells.append("" if pd.isna(v) else f"{v:.{digits}f}")
            else:
                cells.append("" if v is None else str(v))
        table.add_row(*([str(idx)] if index else []), *cells)
    console.print(table)


def read_table(path: Path, *, what: str = "responses") -> pd.DataFrame:
    """Read a CSV, TSV or Parquet table, with a located error when it cannot be read."""
    if not path.exists():
        raise DataError(f"{path}: {what} file not found")
    try:
        if path.suffix.lower() in {".parquet", ".pq"}:
            return pd.read_parquet(path)
        sep = "\t" if path.suffix.lower() in {".tsv", ".tab"} else ","
        return pd.read_csv(path, sep=sep)
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        raise DataError(f"{path}: cannot read {what} table ({exc})") from None


def write_table(frame: pd.DataFrame, path: Path, *, index: bool = True) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() in {".parquet", ".pq"}:
        frame.to_parquet(path, index=index)
    else:
        frame.to_csv(path, index=index, sep="\t" if path.suffix.lower() == ".tsv" else ",")


# --- instruments ------------------------------------------------------------------------------------------------------
@instruments_app.command("list")
def instruments_list() -> None:
    """List the shipped instruments and editions."""
    from psychoml.instruments import available, load

    rows = [load(i).summary() for i in available()]
    frame = pd.DataFrame(rows).set_index("id") if rows else pd.DataFrame()
    print_frame(frame[["name", "version", "items", "scales", "indices", "checks", "licence"]], title="Instruments")


@instruments_app.command("show")
def instruments_show(
    instrument: Annotated[str, typer.Argument(help="Shipped id (e.g. mfq30) or path to a YAML file.")],
    items: Annotated[bool, typer.Option("--items/--no-items", help="List every item.")] = True,
) -> None:
    """Show an instrument: citation, terms, scales, indices and items."""
    from psychoml.instruments import load

    inst = load(instrument)
    spec = inst.spec
    console.print(f"[bold]{spec.name}[/bold] ({spec.id}, version {spec.version}, language {spec.language})")
    console.print(f"Citation: {spec.citation.text}" + (f" doi:{spec.citation.doi}" if spec.citation.doi else ""))
    console.print(f"Terms: {spec.terms.licence} (redistribution: {spec.terms.redistribution})")
    console.print(f"Instructions: {spec.instructions.text}")
    for i, step in enumerate(spec.instructions.steps, 1):
        console.print(f"  {i}. {step}")
    if spec.scales:
        sc = pd.DataFrame(
            [{"scale": s.id, "components": ", ".join(s.components), "scoring": s.scoring, "min": s.required,
              "centre": s.centre or ""} for s in spec.scales]
        ).set_index("scale")
        print_frame(sc, title="Scales")
    if spec.indices:
        ix = pd.DataFrame([{"index": x.id, "formula": x.formula, "level": x.level} for x in spec.indices]).set_index("index")
        print_frame(ix, title="Indices")
    if spec.checks:
        ck = pd.DataFrame([{"check": c.id, "exclude if": c.exclude_if, "why": c.description} for c in spec.checks])
        print_frame(ck.set_index("check"), title="Attention checks")
    if items:
        print_frame(inst.to_frame()[["number", "text", "range", "keying"]], title="Items")


@instruments_app.command("validate")
def instruments_validate(path: Annotated[Path, typer.Argument(help="Instrument YAML file.")]) -> None:
    """Validate an instrument file; errors name the file, YAML path and line."""
    from psychoml.instruments import validate_file

    inst = validate_file(path)
    console.print(f"[green]ok[/green] {path}: {inst.id}, {len(inst.items)} items, {len(inst.scales)} scales, "
                  f"{len(inst.indices)} indices")


@instruments_app.command("schema")
def instruments_schema() -> None:
    """Print the JSON Schema of instrument files (for editor validation)."""
    from psychoml.instruments import json_schema

    typer.echo(json.dumps(json_schema(), indent=2))


# --- scoring ------------------------------------------------------------------------------------------------------------
@app.command("score")
def score(
    responses: Annotated[Path, typer.Argument(help="Wide CSV/Parquet: rows = respondents, columns = item ids.")],
    instrument: Annotated[str, typer.Option("--instrument", "-i", help="Shipped id or YAML path.")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write scores here (CSV or Parquet).")] = None,
    group: Annotated[str | None, typer.Option(help="Column defining samples for group-level indices.")] = None,
    keep_excluded: Annotated[bool, typer.Option(help="Keep scores of rows failing attention checks.")] = False,
    strict: Annotated[bool, typer.Option(help="Require whole scale values.")] = False,
) -> None:
    """Score a response table with an instrument's official scoring."""
    from psychoml.instruments import load

    inst = load(instrument)
    frame = read_table(responses)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scores = inst.score(frame, group=group, exclude=not keep_excluded, strict=strict, source=str(responses))
    for w in caught:
        console.print(f"[yellow]note:[/yellow] {w.message}")
    if out is not None:
        write_table(scores, out)
        console.print(f"wrote {len(scores)} rows x {scores.shape[1]} scores to {out}")
    else:
        print_frame(scores, title=f"{inst.id} scores")


@app.command("version")
def version() -> None:
    """Print the package version."""
    from psychoml import __version__

    typer.echo(__version__)


from psychoml.cli import admin_commands as _admin_commands  # noqa: F401
from psychoml.cli import bench_commands as _bench_commands  # noqa: F401
from psychoml.cli import commands as _commands  # noqa: F401  (registers the remaining command groups)
from psychoml.cli import irt_commands as _irt_commands  # noqa: F401
from psychoml.cli import prompts_commands as _prompts_commands  # noqa: F401
from psychoml.cli import reliability_commands as _reliability_commands  # noqa: F401
from psychoml.cli import stats_commands as _stats_commands  # noqa: F401
