"""CLI commands: administer, runs list, export (registered on the shared typer app on import)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from psychoml.cli.app import app, console
from psychoml.errors import DataError

runs_app = typer.Typer(help="The runs recorded in a response store.", no_args_is_help=True)
app.add_typer(runs_app, name="runs")


@app.command("administer")
def administer_command(
    instrument: Annotated[str, typer.Option("--instrument", "-i", help="Shipped id (e.g. svs56) or YAML path.")],
    model: Annotated[str, typer.Option("--model", "-m", help="Model spec, e.g. local:smollm2, openai:gpt-4o-mini, "
                                       "openai-compatible:http://127.0.0.1:8000/v1#my-model, simulated:grm?seed=1.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Response store (SQLite); created when missing, "
                                      "resumed when it exists.")],
    design: Annotated[str, typer.Option(help="Design: minimal, quick, full or a design YAML file.")] = "quick",
    samples: Annotated[int, typer.Option(help="Answers per variant and item.")] = 1,
    mode: Annotated[str, typer.Option(help="logprobs (option probabilities) or generate (parsed text).")] = "logprobs",
    temperature: Annotated[float | None, typer.Option(help="Sampling temperature (default 0 for logprobs, "
                                                      "1 for generate).")] = None,
    max_tokens: Annotated[int | None, typer.Option("--max-tokens", help="Completion token limit.")] = None,
    concurrency: Annotated[int, typer.Option(help="Requests in flight at once.")] = 8,
    rpm: Annotated[float | None, typer.Option(help="Requests-per-minute limit.")] = None,
    tpm: Annotated[float | None, typer.Option(help="Tokens-per-minute limit.")] = None,
    max_retries: Annotated[int, typer.Option("--max-retries", help="Retries per request on 429/5xx/timeouts.")] = 6,
    timeout: Annotated[float | None, typer.Option(help="Per-request timeout in seconds (API backends).")] = None,
    persona: Annotated[list[str] | None, typer.Option("--persona", help="Persona text (repeatable); replaces the "
                                                      "design's personas.")] = None,
    max_items: Annotated[int | None, typer.Option("--max-items", help="Only the first N items.")] = None,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Progress bar and summary.")] = True,
) -> None:
    """Administer an instrument to a model under a prompt design; every answer goes to the store.

    A rerun with the same arguments is served from the store; an interrupted run resumes where it stopped.
    """
    from psychoml.administer import administer, print_summary

    options = {"timeout": timeout} if timeout is not None else {}
    summary = administer(
        instrument, model, design=design, samples=samples, out=out, mode=mode, temperature=temperature,
        max_tokens=max_tokens, concurrency=concurrency, rpm=rpm, tpm=tpm, max_retries=max_retries,
        personas=persona or None, max_items=max_items, progress=progress, backend_options=options,
    )
    if not progress:
        print_summary(summary)
    if summary.failed:
        from psychoml.errors import BackendError

        # a non-zero exit: the store is consistent but incomplete (psychoml.cli.main turns this into exit 1)
        raise BackendError(
            f"{summary.failed} of {summary.requests} request(s) failed after retries (stored as failed, with the "
            f"reason, in {summary.store}); rerun the same command to retry them"
        )


@runs_app.command("list")
def runs_list(store: Annotated[Path, typer.Argument(help="Response store (.db).")]) -> None:
    """List the runs in a store: model, instrument, status, counts."""
    from psychoml.store import open as open_store

    with open_store(store, create=False) as s:
        runs = s.runs()
    if runs.empty:
        console.print(f"{store}: no runs")
        return

    # one block per run: a wide table would be cut to ellipses in an 80-column terminal
    for row in runs.itertuples(index=False):
        summary = row.summary if isinstance(row.summary, dict) else {}
        design = row.design.get("name") if isinstance(row.design, dict) else None
        console.print(f"[bold]{row.run_id}[/bold]  {row.status}  started {str(row.started_at)[:19]}"
                      + (f"  finished {str(row.finished_at)[:19]}" if row.finished_at else ""))
        console.print(f"  model {row.model}  instrument {row.instrument}  design {design or '(custom)'}  "
                      f"samples {row.samples}  mode {row.mode}", soft_wrap=True)
        counts = "  ".join(f"{k.replace('_', ' ')} {summary[k]}" for k in
                           ("answered", "refused", "unparseable", "failed", "from_store") if k in summary)
        console.print(f"  requests {row.n_requests}  " + (counts or f"answered {row.answered} (no summary: "
                                                          "interrupted without one)"), soft_wrap=True)


@app.command("export")
def export_command(
    store: Annotated[Path, typer.Argument(help="Response store (.db).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output file: .csv, .tsv or .parquet.")],
    wide: Annotated[bool, typer.Option("--wide", help="Respondent x item table instead of the tidy long table.")]
    = False,
    instrument: Annotated[str | None, typer.Option("--instrument", "-i", help="Only this instrument (needed for "
                                                   "--wide when the store holds several).")] = None,
    value: Annotated[str, typer.Option("--value", help="--wide cells: 'value' (expected value under logprobs "
                                                       "scoring) or 'argmax' (the most probable option: whole "
                                                       "categories, e.g. for IRT).")] = "value",
) -> None:
    """Export a store's responses as CSV or Parquet (tidy long, or wide with --wide)."""
    from psychoml.store import open as open_store

    with open_store(store, create=False) as s:
        if wide and instrument is None:
            held = sorted(s.responses()["instrument"].unique())
            if len(held) > 1:
                raise DataError(f"--instrument: {store} holds several instruments ({', '.join(held)}); a wide "
                                "table is per instrument, so name one")
        if value not in ("value", "argmax"):
            raise DataError(f"--value: expected 'value' or 'argmax', got {value!r}")
        path = s.export(out, wide=wide, instrument=instrument, value=value)
    console.print(f"wrote {path}")
