"""CLI commands: bench (registered on the shared typer app on import).

``psychoml bench fit MATRIX -o calib.json``, ``bench select CALIB --n 100``,
``bench estimate CALIB --answers NEW.csv``, ``bench evaluate MATRIX --plot curve.svg``,
``bench adaptive CALIB --answers FULL.csv``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from psychoml.cli.app import app, console, print_frame, write_table
from psychoml.errors import DataError

bench_app = typer.Typer(help="IRT for benchmark design: calibrate items, select subsets, score new models "
                             "from few items, cross-validate, simulate adaptive testing.", no_args_is_help=True)
app.add_typer(bench_app, name="bench")


def _sizes(text: str) -> list[int]:
    try:
        out = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise DataError(f"--sizes: expected comma-separated integers, got {text!r}") from None
    if not out or min(out) < 1:
        raise DataError(f"--sizes: expected positive integers, got {text!r}")
    return out


def _read_selection(path: Path):  # -> ItemSelectionResult
    import pandas as pd

    from psychoml.irt import ItemSelectionResult

    if not path.exists():
        raise DataError(f"{path}: selection file not found")
    try:
        raw = json.loads(path.read_text())
        weights = pd.Series(raw["weights"], dtype=float)
        return ItemSelectionResult(items=tuple(raw["items"]), weights=weights.reindex(raw["items"]),
                                   benchmarks=pd.Series(raw["benchmarks"]), method=raw["method"], n=raw["n"],
                                   seed=raw["seed"], lambdas=pd.Series(raw.get("lambdas", {}), dtype=float))
    except (ValueError, KeyError, TypeError) as exc:
        raise DataError(f"{path}: not a selection written by `psychoml bench select -o FILE.json` ({exc})") from None


@bench_app.command("fit")
def bench_fit(
    matrix: Annotated[Path, typer.Argument(help="Correctness matrix: wide/long CSV or Parquet, an lm-eval "
                                                "samples_*.jsonl log or a folder of them.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Calibration file to write (.json or .npz).")],
    items_out: Annotated[Path | None, typer.Option("--items", help="Also write the item table (CSV/Parquet).")] = None,
    metric: Annotated[str | None, typer.Option(help="lm-eval logs: per-sample metric (default acc/exact_match).")] = None,
    filter: Annotated[str | None, typer.Option("--filter", help="lm-eval logs: filter to keep.")] = None,
    fdr: Annotated[float, typer.Option(help="False-discovery rate of the mislabelled-item flag.")] = 0.05,
    dims: Annotated[int, typer.Option(help="Ability dimensions (2+: multidimensional 2PL).")] = 1,
) -> None:
    """Calibrate a benchmark (2PL, or multidimensional 2PL, by marginal ML) and flag bad items."""
    from psychoml.irt import fit_benchmark, read_correctness, save_calibration

    data = read_correctness(matrix, metric=metric, filter=filter)
    fit = fit_benchmark(data, fdr=fdr, n_dims=dims)
    save_calibration(fit, out)
    console.print(f"calibrated {fit.n_items} items on {fit.n_models} models ({fit.n_dims}-D) in {fit.fit_seconds:.1f} s "
                  f"(EM iterations {fit.n_iter}, converged {fit.converged}); wrote {out}")
    counts = fit.flag_counts()
    if len(counts):
        print_frame(counts.rename("items").to_frame(), title="Flagged items")
        print_frame(fit.flagged[["benchmark", "p_correct", "a", "z_a", "q_negative", "flag"]].head(20),
                    title="Worst flagged items")
    else:
        console.print("no item flagged")
    if items_out is not None:
        write_table(fit.items, items_out)
        console.print(f"wrote the item table to {items_out}")


@bench_app.command("select")
def bench_select(
    calibration: Annotated[Path, typer.Argument(help="Calibration from `psychoml bench fit`.")],
    n: Annotated[int, typer.Option("--n", help="Number of items to select.")] = 100,
    method: Annotated[str, typer.Option(help="information | anchor | stratified | random")] = "information",
    seed: Annotated[int, typer.Option(help="Random seed (anchor clustering, sampling).")] = 0,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write the selection (.json, or a CSV table).")] = None,
) -> None:
    """Select n items (Fisher information, anchor points, stratified or random)."""
    from psychoml.irt import load_calibration, select_items

    fit = load_calibration(calibration)
    sel = select_items(fit, n, method=method, seed=seed)
    frame = sel.to_frame().join(fit.items[["p_correct", "a", "b", "information"]])
    console.print(f"selected {sel.n} items by {method} (seed {seed}); gp-IRT lambda per benchmark: "
                  + ", ".join(f"{k}={v:.2f}" for k, v in sel.lambdas.items()))
    if out is None:
        print_frame(frame.head(30), title=f"Selected items (first 30 of {sel.n})")
        return
    if out.suffix.lower() == ".json":
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"items": list(sel.items), "weights": sel.weights.to_dict(),
                                   "benchmarks": sel.benchmarks.to_dict(), "method": sel.method, "n": sel.n,
                                   "seed": sel.seed, "lambdas": sel.lambdas.to_dict()}, indent=1))
    else:
        write_table(frame, out)
    console.print(f"wrote {out}")


@bench_app.command("estimate")
def bench_estimate(
    calibration: Annotated[Path, typer.Argument(help="Calibration from `psychoml bench fit`.")],
    answers: Annotated[Path, typer.Option("--answers", help="New models' 0/1 answers (wide/long CSV, Parquet, "
                                                            "lm-eval logs).")],
    selection: Annotated[Path | None, typer.Option(help="Selection JSON from `bench select` (weights).")] = None,
    level: Annotated[float, typer.Option(help="Interval coverage.")] = 0.95,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write the estimates (CSV/Parquet).")] = None,
) -> None:
    """Estimate new models' full-benchmark accuracy from their answers on a subset."""
    from psychoml.irt import estimate_accuracy, load_calibration, read_correctness

    fit = load_calibration(calibration)
    sel = _read_selection(selection) if selection is not None else None
    est = estimate_accuracy(fit, read_correctness(answers), selection=sel, level=level)
    cols = ["n_answered", "observed", "irt", "irt_lower", "irt_upper", "gpirt", "gpirt_lower", "gpirt_upper"]
    print_frame(est.table[cols], title=f"Estimated accuracy ({level:.0%} intervals)")
    if out is not None:
        write_table(est.table, out)
        console.print(f"wrote {out}")


@bench_app.command("evaluate")
def bench_evaluate(
    matrix: Annotated[Path, typer.Argument(help="Correctness matrix of the evaluated models.")],
    sizes: Annotated[str, typer.Option(help="Subset sizes, comma-separated.")] = "25,50,100,200",
    methods: Annotated[str, typer.Option(help="Selection methods, comma-separated.")] = "information,anchor,stratified",
    folds: Annotated[int, typer.Option(help="Leave-models-out folds.")] = 5,
    max_folds: Annotated[int | None, typer.Option(help="Run only the first folds (quicker, noisier).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the fold split and of the selections.")] = 0,
    estimator: Annotated[str, typer.Option(help="Estimator shown in the table (observed, irt, pirt, gpirt).")] = "gpirt",
    plot: Annotated[Path | None, typer.Option(help="Save the MAE-vs-n curve (.svg/.png/.pdf).")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write the full CV table (CSV/Parquet).")] = None,
    dims: Annotated[int, typer.Option(help="Ability dimensions of each fold's calibration.")] = 1,
) -> None:
    """Cross-validate subset selection: MAE of estimated accuracy vs subset size, random subsets as baseline."""
    from psychoml.irt import cross_validate_selection, read_correctness

    if estimator not in ("observed", "irt", "pirt", "gpirt"):
        raise DataError(f"--estimator: use observed, irt, pirt or gpirt, got {estimator!r}")
    cv = cross_validate_selection(read_correctness(matrix), sizes=_sizes(sizes),
                                  methods=[m.strip() for m in methods.split(",") if m.strip()], folds=folds, seed=seed,
                                  max_folds=max_folds, fit_options={"n_dims": dims})
    table = cv.mae_table(estimator)
    table["random (observed)"] = cv.mae_table("observed")["random"]
    table.index.name = "n"
    print_frame(table, title=f"MAE (accuracy points), {estimator}; leave-models-out {folds}-fold CV", digits=2)
    if plot is not None:
        cv.plot(plot, estimators=(estimator, "observed"))
        console.print(f"wrote the plot to {plot}")
    if out is not None:
        write_table(cv.table, out, index=False)
        console.print(f"wrote {out}")


@bench_app.command("adaptive")
def bench_adaptive(
    calibration: Annotated[Path, typer.Argument(help="Calibration from `psychoml bench fit`.")],
    answers: Annotated[Path, typer.Option("--answers", help="Models' answers to the whole benchmark.")],
    se: Annotated[float, typer.Option(help="Target ability standard error.")] = 0.3,
    seed: Annotated[int, typer.Option(help="Seed of the random-order baseline.")] = 0,
) -> None:
    """Simulate adaptive testing vs random order: items needed to reach the target SE."""
    from psychoml.irt import load_calibration, read_correctness, simulate_adaptive_testing

    res = simulate_adaptive_testing(load_calibration(calibration), read_correctness(answers), se_target=se, seed=seed)
    print_frame(res.summary(), title=f"Items needed to reach SE {se}", digits=2)
