"""CLI commands: reliability (registered on the shared typer app on import).

``psychoml reliability DATA`` prints one row per scale: the number of items
and administrations, Cronbach's alpha with its interval, standardised alpha,
Guttman's lambda-6, split-half reliability (min / mean / max over splits) and,
for scales of three or more items, McDonald's omega total and hierarchical.
"""

from __future__ import annotations

import contextlib
import math
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer

from psychoml.cli.app import app, console, print_frame, write_table
from psychoml.cli.stats_commands import DataArg, InstrumentOpt, _instrument_items, load_wide
from psychoml.errors import DataError, PsychomlError


def scale_reliability(
    block: pd.DataFrame,
    *,
    ci: float = 0.95,
    bootstrap: int = 0,
    seed: int = 0,
    missing: str = "pairwise",
    n_factors: int = 3,
) -> dict[str, Any]:
    """One table row of reliability statistics for the (already keyed) items of one scale.

    Omega total and hierarchical come from a Schmid-Leiman solution with
    ``n_factors`` group factors where that many factors are identified by the
    scale's items; otherwise from a one-factor model (``omega_model`` says
    which), the usual choice for short unidimensional scales.
    """
    from psychoml.stats import cronbach_alpha, guttman_lambda6, omega, split_half

    block = block.dropna(axis=0, how="all")
    k = block.shape[1]
    method = "bootstrap" if bootstrap else "feldt"
    a = cronbach_alpha(block, ci=ci, ci_method=method, n_boot=max(bootstrap, 2), seed=seed, missing=missing)  # type: ignore[arg-type]
    sh = split_half(block, missing=missing, seed=seed)  # type: ignore[arg-type]
    row: dict[str, Any] = {
        "items": k,
        "n": a.n_obs,
        "alpha": a.alpha,
        "ci_lower": a.ci[0],
        "ci_upper": a.ci[1],
        "std_alpha": a.std_alpha,
        "lambda6": guttman_lambda6(block, missing=missing).lambda6,  # type: ignore[arg-type]
        "split_min": sh.min,
        "split_mean": sh.mean,
        "split_max": sh.max,
        "omega_total": math.nan,
        "omega_h": math.nan,
        "omega_model": "",
    }
    if k >= 3:
        identified = n_factors > 1 and (k - n_factors) ** 2 >= k + n_factors
        nf = n_factors if identified else 1
        try:
            om = omega(block, n_factors=nf, missing=missing)  # type: ignore[arg-type]
        except PsychomlError as exc:  # e.g. a singular correlation matrix: the other statistics still stand
            row["omega_model"] = f"not computed ({str(exc).removeprefix('data: ')})"
        else:
            row.update(omega_total=om.omega_total, omega_h=om.omega_hierarchical,
                       omega_model=f"{nf} factor{'s' if nf > 1 else ''}")
    return row


@app.command("reliability")
def reliability(
    data: DataArg,
    instrument: InstrumentOpt = None,
    scale: Annotated[str | None, typer.Option(help="Report one scale only (default: every scale of items).")] = None,
    ci: Annotated[float, typer.Option(help="Confidence level of the alpha interval.")] = 0.95,
    bootstrap: Annotated[int, typer.Option(help="Bootstrap resamples for the alpha interval (0: Feldt's interval).")] = 0,
    missing: Annotated[str, typer.Option(help="Missing-data rule: pairwise (default) or listwise.")] = "pairwise",
    n_factors: Annotated[int, typer.Option(help="Group factors of the omega (Schmid-Leiman) solution; scales too short to "
                                                   "identify them use a one-factor model.")] = 3,
    by_model: Annotated[bool, typer.Option("--by-model", help="One row per model and scale (stores only).")] = False,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap and of random split halves.")] = 0,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Also write the table (CSV or Parquet).")] = None,
) -> None:
    """Per-scale reliability: alpha (with CI), std alpha, lambda-6, split-half, omega total / hierarchical.

    DATA is a study store (.db; every instrument in it, or --instrument) or a
    wide CSV/Parquet of responses with one column per item id (--instrument
    required).  Reverse-keyed items are reflected with the instrument's keys
    before any statistic is computed.
    """
    if missing not in ("pairwise", "listwise"):
        raise DataError(f"--missing: expected 'pairwise' or 'listwise', got {missing!r}")
    if not 0.0 < ci < 1.0:
        raise DataError(f"--ci: expected a confidence level in (0, 1), got {ci}")
    if bootstrap < 0 or bootstrap == 1:
        raise DataError(f"--bootstrap: expected 0 (Feldt) or at least 2 resamples, got {bootstrap}")
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    for source, frame in load_wide(data, instrument):
        answers, scales = _instrument_items(source, frame, scale)
        iid = _instrument_id(source)
        if by_model:
            if "model" not in (answers.index.names or []):
                raise DataError("--by-model: DATA has no model column (only stores record the model)")
            groups = list(answers.groupby(level="model", sort=True))
        else:
            groups = [(None, answers)]
        for model, part in groups:
            for s in scales:
                label = {"instrument": iid, **({"model": model} if by_model else {}), "scale": s.id}
                block = part[[c for c in s.items if c in part.columns]]
                if block.shape[1] < 2:
                    notes.append(f"{iid}/{s.id}: {block.shape[1]} item(s); reliability needs at least two")
                    continue
                try:
                    rows.append({**label, **scale_reliability(block, ci=ci, bootstrap=bootstrap, seed=seed,
                                                              missing=missing, n_factors=n_factors)})
                except PsychomlError as exc:
                    where = f"{iid}/{model}/{s.id}" if by_model else f"{iid}/{s.id}"
                    notes.append(f"{where}: {exc}")
    if not rows:
        raise DataError(f"{data}: no scale could be analysed ({'; '.join(notes) or 'no scales of items'})")
    table = pd.DataFrame(rows).set_index(["instrument", *(["model"] if by_model else []), "scale"])
    interval = "bootstrap" if bootstrap else "Feldt"
    print_frame(_display(table, by_model=by_model),
                title=f"Reliability ({round(ci * 100):g}% {interval} interval for alpha; {missing} missing data)")
    for note in notes:
        console.print(f"[yellow]skipped:[/yellow] {note}")
    if out is not None:
        write_table(table, out)
        console.print(f"wrote {len(table)} rows to {out}")


def _instrument_id(source: str) -> str:
    """The id of an instrument given by id or by YAML path (read from the file, without loading it twice)."""
    path = Path(source)
    if path.suffix.lower() in {".yaml", ".yml"} and path.is_file():
        import yaml

        with contextlib.suppress(yaml.YAMLError, OSError):
            doc = yaml.safe_load(path.read_text())
            if isinstance(doc, dict) and isinstance(doc.get("id"), str):
                return doc["id"]
        return path.stem
    return source


def _display(table: pd.DataFrame, *, by_model: bool) -> pd.DataFrame:
    """The printed form of the table: intervals and split-half ranges as one cell each, 3 decimals."""

    def f(v: float) -> str:
        return "" if pd.isna(v) else f"{v:.3f}"

    shown = pd.DataFrame(index=table.index)
    shown["items"] = table["items"].astype(str)
    shown["n"] = table["n"].astype(str)
    shown["alpha"] = table["alpha"].map(f)
    shown["alpha CI"] = [f"[{f(lo)}, {f(hi)}]" for lo, hi in zip(table["ci_lower"], table["ci_upper"])]
    shown["std alpha"] = table["std_alpha"].map(f)
    shown["lambda6"] = table["lambda6"].map(f)
    shown["split-half min/mean/max"] = [f"{f(a)} {f(b)} {f(c)}" for a, b, c in
                                        zip(table["split_min"], table["split_mean"], table["split_max"])]
    shown["omega t"] = table["omega_total"].map(f)
    shown["omega h"] = table["omega_h"].map(f)
    shown = shown.reset_index()
    label = shown["instrument"] + "/" + (shown["model"].astype(str) + "/" if by_model else "") + shown["scale"]
    shown.index = pd.Index(label, name="scale")
    return shown.drop(columns=["instrument", "scale", *(["model"] if by_model else [])])
