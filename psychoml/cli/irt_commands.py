"""CLI commands: irt (registered on the shared typer app on import).

``psychoml irt fit DATA --model 2pl --method nuts -o fit.nc`` fits an item response model to a respondent x
item table (CSV/TSV/Parquet, wide or long) and prints the item table; ``psychoml irt compare FIT1 FIT2 ...``
compares saved fits of the same responses by PSIS-LOO (or WAIC).  psychoml.irt (and PyMC through it) is
imported inside the commands so ``psychoml --help`` stays fast.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Annotated

import typer

from psychoml.cli.app import app, console, print_frame, write_table
from psychoml.errors import DataError

irt_app = typer.Typer(help="Item response theory: fit 1PL/2PL/3PL/GRM/GPCM models and compare fits.",
                      no_args_is_help=True)
app.add_typer(irt_app, name="irt")


@irt_app.command("fit")
def irt_fit(
    data: Annotated[Path, typer.Argument(help="Responses: wide CSV/TSV/Parquet (first column may be person ids) "
                                              "or a long table with item and value columns.")],
    model: Annotated[str, typer.Option("--model", "-m", help="1pl (rasch), 2pl, 3pl, grm, gpcm.")] = "2pl",
    method: Annotated[str, typer.Option(help="nuts, numpyro, advi, pathfinder, map, mml.")] = "nuts",
    dims: Annotated[int, typer.Option(help="Latent dimensions (1 or 2).")] = 1,
    draws: Annotated[int, typer.Option(help="Posterior draws per chain.")] = 1000,
    tune: Annotated[int, typer.Option(help="Tuning steps per chain.")] = 1000,
    chains: Annotated[int, typer.Option(help="Chains.")] = 4,
    seed: Annotated[int | None, typer.Option(help="Random seed.")] = None,
    index_col: Annotated[str | None, typer.Option("--id", help="Column holding person ids (wide tables; a table "
                                                              "from `psychoml export --wide` needs none).")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Save the fit (InferenceData, .nc).")] = None,
    items_out: Annotated[Path | None, typer.Option(help="Write the item table (CSV/Parquet).")] = None,
    persons_out: Annotated[Path | None, typer.Option(help="Write the person table (CSV/Parquet).")] = None,
) -> None:
    """Fit an IRT model and print item parameters with posterior sd and 90% HDI."""
    import pandas as pd

    from psychoml.cli.app import read_table
    from psychoml.irt import IrtConvergenceWarning, fit

    table = read_table(data)
    if index_col is not None:
        if index_col not in table.columns:
            raise DataError(f"{data}: --id column {index_col!r} not found")
        table = table.set_index(index_col)
    elif {"model", "variant", "sample"} <= set(table.columns):  # `psychoml export --wide`: administrations
        table = table.set_index([c for c in ("model", "persona", "variant", "sample") if c in table.columns])
    elif not {"item", "value"}.issubset(table.columns) and len(table.columns) and not \
            pd.api.types.is_numeric_dtype(table[table.columns[0]]):
        table = table.set_index(table.columns[0])  # a leading text column is the person id
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = fit(table, model=model, method=method, n_dims=dims, draws=draws, tune=tune, chains=chains,
                     seed=seed)
    for w in caught:
        if issubclass(w.category, IrtConvergenceWarning) or "psychoml" in (w.filename or ""):
            console.print(f"[yellow]warning:[/yellow] {w.message}")
    cols = [c for c in result.items.columns if not c.endswith(("_hdi_low", "_hdi_high"))]
    print_frame(result.items[cols], title=f"{result.model} by {result.method}: {result.n_persons} persons x "
                                          f"{result.n_items} items")
    if result.diagnostics:
        d = result.diagnostics
        console.print(f"max R-hat {d['max_rhat']:.3f}, min ESS bulk {d['min_ess_bulk']:.0f} / tail "
                      f"{d['min_ess_tail']:.0f}, divergences {int(d['divergences'])}")
    if result.loglik is not None:
        console.print(f"log-likelihood {result.loglik:.3f}")
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        result.idata.to_netcdf(str(out))
        console.print(f"saved fit to {out}")
    if items_out is not None:
        write_table(result.items, items_out)
    if persons_out is not None:
        write_table(result.persons, persons_out)


@irt_app.command("compare")
def irt_compare(
    fits: Annotated[list[Path], typer.Argument(help="Two or more fits saved by `psychoml irt fit -o`.")],
    ic: Annotated[str, typer.Option(help="loo or waic.")] = "loo",
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write the comparison table.")] = None,
) -> None:
    """Compare fits of the same responses by PSIS-LOO or WAIC (best first)."""
    from psychoml.irt import load_result

    if len(fits) < 2:
        raise DataError("compare: give at least two fit files")
    results = [load_result(p) for p in fits]
    table = results[0].compare(*results[1:], ic=ic)
    files = _files_by_name(results, fits)
    table.index = [f"{name} ({files[name].name})" for name in table.index]
    print_frame(table.drop(columns=[c for c in ("scale",) if c in table.columns]), title=f"{ic.upper()} comparison")
    if out is not None:
        write_table(table, out)


def _files_by_name(results: list, fits: list[Path]) -> dict[str, Path]:  # type: ignore[type-arg]
    """The comparison's row names (model/method, repeats primed, as IrtResult.compare names them) -> file."""
    names: dict[str, Path] = {}
    for r, p in zip(results, fits):
        name = f"{r.model}{'-2d' if r.n_dims == 2 else ''}/{r.method}"
        while name in names:
            name += "'"
        names[name] = p
    return names
