"""Study commands: ``run`` (study file -> store -> analyses -> report), ``report`` (store -> report) and ``demo``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from psychoml.cli.app import app, console, print_frame
from psychoml.errors import DataError

if TYPE_CHECKING:
    from psychoml.administer import RunSummary

FORMATS_HELP = "Comma-separated output formats besides the tables: html, md, json."


def _formats(text: str | None, default: list[str]) -> list[str]:
    if text is None:
        return default
    out = [f.strip().lower() for f in text.split(",") if f.strip()]
    bad = [f for f in out if f not in {"html", "md", "json"}]
    if bad or not out:
        raise DataError(f"--formats: unknown format(s) {bad or [text]}; choose from html, md, json")
    return out


def _write_report(result, out: Path, formats: list[str], tables: bool) -> None:  # type: ignore[no-untyped-def]
    from psychoml.report import build_report

    report = build_report(result)
    written = report.write(out, formats=formats, tables=tables)
    if result.skipped:
        console.print(f"[yellow]{len(result.skipped)} analysis(es) not computed[/yellow] (reasons in the report's "
                      "'Not computed' section)")
    for kind, path in written.items():
        console.print(f"{kind}: {path}")


@app.command("run")
def run(
    study: Annotated[Path, typer.Argument(help="Study file (YAML), e.g. analyses/quickstart.yaml.")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Report path (default: the study file's report.out).")] = None,
    formats: Annotated[str | None, typer.Option("--formats", help=FORMATS_HELP)] = None,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Show progress bars.")] = True,
) -> None:
    """Run a study: administer every instrument to every model (resuming from the store), analyse, write the report.

    The study file is validated first; an invalid file stops here with a located error and touches no store.
    """
    from psychoml.study import load_study, resolve_path, run_study

    spec, base = load_study(study)  # validate before anything is created
    fmts = _formats(formats, list(spec.report.formats))

    def on_run(label: str, summary: RunSummary) -> None:
        if not progress:  # with progress bars the runner prints its own summary table
            console.print(f"[bold]{label}[/bold]: {summary.answered} of {summary.requests} answered, "
                          f"{summary.from_store} served from the store, {summary.failed} failed, "
                          f"{summary.refused} refused, {summary.unparseable} unparseable")

    spec, store_path, result = run_study(study, progress=progress, on_run=on_run)
    console.print(f"store: {store_path}")
    if len(result.scores):
        cols = ["model", "instrument", "scale", "n", "mean", "ci_lower", "ci_upper", "variant_range"]
        title = "Scale scores (variant_range: spread across prompt variants)"
        if result.scores["model"].nunique() == 1:  # one model: name it once, keep the table narrow
            title = f"{result.scores['model'].iloc[0]}: {title[0].lower()}{title[1:]}"
            cols.remove("model")
        print_frame(result.scores[cols], title=title, index=False)
        for label, reason in result.skipped:
            if label.startswith("scores "):  # why a scale has n = 0 (or fewer administrations than asked)
                console.print(f"[yellow]{label}[/yellow]: {reason}")
    target = out if out is not None else resolve_path(base, spec.report.out)
    _write_report(result, target, fmts, spec.report.tables)


@app.command("report")
def report(
    store: Annotated[Path, typer.Argument(help="A study store (.db) written by `psychoml administer` or `run`.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Report path; .html, .md or .json (others follow).")] = Path("report.html"),
    study: Annotated[Path | None, typer.Option("--study", help="Study file whose analysis options to use.")] = None,
    formats: Annotated[str | None, typer.Option("--formats", help=FORMATS_HELP)] = None,
    tables: Annotated[bool, typer.Option("--tables/--no-tables", help="Also write every table as CSV and LaTeX.")] = True,
) -> None:
    """Write a self-contained report (HTML, Markdown, JSON; tables as CSV and LaTeX) from a store."""
    from psychoml.study import analyse_store, load_study, study_instruments, study_norms

    spec, instruments, norms = None, None, None
    if study is not None:
        spec, base = load_study(study)
        instruments = study_instruments(spec, base)
        norms = study_norms(spec, base, instruments)
    default = [out.suffix.lstrip(".").replace("markdown", "md")] if out.suffix in {".html", ".md", ".json"} else ["html"]
    fmts = _formats(formats, default)
    result = analyse_store(store, spec=spec, instruments=instruments, norms=norms)
    _write_report(result, out, fmts, tables)


@app.command("demo")
def demo(
    study: Annotated[Path, typer.Option("--study", help="Study file to run.")] = Path("analyses/quickstart.yaml"),
) -> None:
    """The main job: run analyses/quickstart.yaml (SVS-56 and MFQ-30 on the embedded SmolLM2, small design)."""
    if not study.exists():
        raise DataError(f"{study}: study file not found (run `make demo` from the repository root, or pass --study)")
    run(study, out=None, formats=None, progress=True)
