"""Statistics commands: reliability, factor structure and validity over a store or a response table."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from psychoml.cli.app import app, console, print_frame, read_table
from psychoml.errors import DataError

DataArg = Annotated[Path, typer.Argument(help="A study store (.db) or a wide response table (CSV/TSV/Parquet).")]
InstrumentOpt = Annotated[str | None, typer.Option("--instrument", "-i",
                                                   help="Instrument id or YAML (required for tables; a store's "
                                                        "instruments are used when omitted).")]


def load_wide(path: Path, instrument: str | None) -> list[tuple[str, pd.DataFrame]]:
    """Respondent x item tables per instrument, from a store or a file.

    A store gives one table per instrument (respondents = model x persona x variant x sample); a file gives
    one table for ``instrument``.
    """
    if path.suffix == ".db":
        from psychoml.store import open as open_store

        if not path.exists():
            raise DataError(f"{path}: store not found")
        with open_store(path) as store:
            responses = store.responses()
        if responses.empty:
            raise DataError(f"{path}: the store holds no responses")
        ids = [instrument] if instrument else sorted(responses["instrument"].unique())
        out = []
        for iid in ids:
            sub = responses[(responses["instrument"] == iid) & (responses["status"] == "ok")]
            if sub.empty:
                raise DataError(f"{path}: no valid responses for instrument {iid!r}")
            wide = sub.pivot_table(index=["model", "persona", "variant", "sample"], columns="item", values="value",
                                   aggfunc="mean", dropna=False)
            out.append((iid, wide))
        return out
    if instrument is None:
        raise DataError("--instrument: required when DATA is a table (which instrument's items are the columns?)")
    return [(instrument, read_table(path))]


def _instrument_items(iid: str, frame: pd.DataFrame, scale: str | None, keyed: bool = True) -> tuple[pd.DataFrame, list]:
    from psychoml.instruments import load

    inst = load(iid)
    answers = inst.check_responses(frame.reset_index(drop=True), source=iid)
    answers.index = frame.index
    if keyed:
        answers = inst.keyed(answers)
    if scale is None:
        return answers.dropna(axis=1, how="all"), [s for s in inst.scales if s.items]
    match = [s for s in inst.scales if s.id == scale]
    if not match:
        raise DataError(f"--scale: {iid} has no scale {scale!r} (has {', '.join(s.id for s in inst.scales)})")
    if not match[0].items:
        raise DataError(f"--scale: {scale!r} is a composite of scales, not of items")
    return answers[match[0].items], match


@app.command("factor")
def factor(
    data: DataArg,
    instrument: InstrumentOpt = None,
    scale: Annotated[str | None, typer.Option(help="Analyse one scale's items (default: every item).")] = None,
    n_factors: Annotated[str, typer.Option(help="Number of factors, or 'parallel' for Horn's parallel analysis.")] = "parallel",
    method: Annotated[str, typer.Option(help="minres | ml | pa")] = "minres",
    rotation: Annotated[str, typer.Option(help="oblimin | varimax | promax | geomin | none")] = "oblimin",
    model: Annotated[str | None, typer.Option(help="lavaan-style CFA model (text or a file) to fit instead of EFA.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of parallel analysis.")] = 0,
) -> None:
    """Factor structure: KMO, parallel analysis and EFA loadings, or a CFA with lavaan's fit indices."""
    from psychoml import stats

    for iid, frame in load_wide(data, instrument):
        items, _ = _instrument_items(iid, frame, scale)
        items = items.dropna()
        if model is not None:
            text = Path(model).read_text() if Path(model).exists() else model
            res = stats.cfa(text, items)
            print_frame(pd.DataFrame([dict(res.fit)]).T.rename(columns={0: "value"}), title=f"{iid}: CFA fit")
            print_frame(res.standardized_loadings, title=f"{iid}: standardised loadings")
            continue
        k = stats.kmo(items)
        console.print(f"[bold]{iid}[/bold]: {items.shape[0]} complete administrations x {items.shape[1]} items; "
                      f"KMO = {k.msa:.3f}")
        if n_factors == "parallel":
            pa = stats.parallel_analysis(items, seed=seed)
            nf = max(pa.n_factors, 1)
            console.print(f"parallel analysis suggests {pa.n_factors} factor(s)")
        else:
            try:
                nf = int(n_factors)
            except ValueError:
                raise DataError(f"--n-factors: expected a number or 'parallel', got {n_factors!r}") from None
        res = stats.efa(items, nf, method=method, rotation=None if rotation == "none" else rotation)  # type: ignore[arg-type]
        print_frame(res.loadings, title=f"{iid}: {method} loadings ({rotation})")


@app.command("validity")
def validity(
    data: DataArg,
    instrument: InstrumentOpt = None,
    permutations: Annotated[int, typer.Option(help="Permutations of the circumplex RTHOR test.")] = 2000,
) -> None:
    """Validity diagnostics: response styles, position bias, MTMM across variants, SVS circumplex."""
    from psychoml import stats
    from psychoml.instruments import load

    for iid, frame in load_wide(data, instrument):
        inst = load(iid)
        answers, scales = _instrument_items(iid, frame, None, keyed=False)
        values = [v for it in inst.items for v in inst.response_scale(it.id).values]
        keys = {it.id: it.keying for it in inst.items if it.id in answers.columns}
        both = {1, -1} <= set(keys.values())
        styles = stats.response_styles(answers, scale_min=min(values), scale_max=max(values),
                                       keys=keys if both else None)
        print_frame(styles.table.describe().T[["mean", "std", "min", "max"]], title=f"{iid}: response styles")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            scored = inst.score(frame.reset_index(drop=True))
        scored.index = frame.index
        if isinstance(frame.index, pd.MultiIndex) and "variant" in frame.index.names and frame.index.get_level_values("variant").nunique() >= 2:
            wide_scores = scored[[s.id for s in scales]].stack().rename("score").reset_index()
            wide_scores.columns = [*frame.index.names, "scale", "score"]
            piv = wide_scores.pivot_table(index=["model", "persona", "sample"], columns=["scale", "variant"],
                                          values="score")
            piv.columns = [f"{s}@{v}" for s, v in piv.columns]
            traits = {c: c.split("@")[0] for c in piv.columns}
            methods = {c: c.split("@")[1] for c in piv.columns}
            try:
                res = stats.mtmm(piv, traits=traits, methods=methods)
                print_frame(res.criteria, title=f"{iid}: MTMM (traits = scales, methods = prompt variants)")
            except DataError as exc:
                console.print(f"[yellow]MTMM skipped:[/yellow] {exc}")
        if inst.base_id.startswith(("svs", "pvq")):
            cols = [c for c in stats.SCHWARTZ_ORDER if f"{c}_centred" in scored.columns]
            if len(cols) == len(stats.SCHWARTZ_ORDER):
                circ_data = scored[[f"{c}_centred" for c in cols]].dropna()
                circ_data.columns = cols
                res = stats.circumplex(circ_data, n_permutations=permutations)
                console.print(f"{iid} circumplex: CI = {res.correspondence_index:.3f}, p = {res.p_value:.4f}, "
                              f"order agreement = {res.order_agreement:.2f}, "
                              f"{'supported' if res.fits else 'not supported'}")
                console.print("recovered order: " + ", ".join(res.recovered_order))
