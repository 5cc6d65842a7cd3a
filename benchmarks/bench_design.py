"""Benchmark: IRT benchmark design on the simulated 400 x 5,000 leaderboard (issue 7).

Prints, in one run:

1. the 2PL calibration time on all 400 models x 5,000 items (Bock-Aitkin EM, ``fit_benchmark``) and the
   mislabelled-item flag's precision/recall against the 150 planted items;
2. the leave-models-out 5-fold cross-validation: MAE (accuracy points) of the estimated full-benchmark
   accuracy against subset size n, for information / anchor / stratified selection, with **random
   subsets of the same size as the baseline** (plain subsample mean, and the same IRT estimators on
   the random subset), plus the 95% interval coverage;
3. the multidimensional calibration (``n_dims=2``, the model that generated the data): its EM time as a
   ratio to the 1-D fit's in the same run, the log-likelihood gain, the flag's precision/recall and the
   CV MAE at n = 100 beside the 1-D one;
4. adaptive testing (max information, EAP, stop at SE 0.3) against random order on the held-out models
   of one fold, items needed side by side;
5. the same CV on every real leaderboard matrix found under ``../shared/benchmarks/`` (if that folder
   exists; a line says so when it does not).

Run: ``PYTHONPATH=. python benchmarks/bench_design.py [--folds 5] [--sizes 25,50,100,200]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_leaderboard import make_leaderboard

from psychoml.errors import PsychomlError
from psychoml.irt import (
    CorrectnessMatrix,
    cross_validate_selection,
    fit_benchmark,
    read_correctness,
    simulate_adaptive_testing,
)

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "benchmarks"


def cv_report(data: CorrectnessMatrix, sizes: list[int], folds: int, label: str) -> pd.DataFrame:
    t0 = time.perf_counter()
    cv = cross_validate_selection(data, sizes=sizes, methods=("information", "anchor", "stratified"), folds=folds,
                                  seed=0, random_repeats=3)
    elapsed = time.perf_counter() - t0
    t = cv.table
    rows = []
    for n in sizes:
        row = {"n": n}
        for method in ("information", "anchor", "stratified", "random"):
            for est in ("gpirt", "irt"):
                row[f"{method}/{est}"] = float(t[(t.method == method) & (t.n == n) & (t.estimator == est)]["mae"].iloc[0]) * 100
        row["random/observed (baseline)"] = float(
            t[(t.method == "random") & (t.n == n) & (t.estimator == "observed")]["mae"].iloc[0]) * 100
        row["anchor/observed"] = float(t[(t.method == "anchor") & (t.n == n) & (t.estimator == "observed")]["mae"].iloc[0]) * 100
        rows.append(row)
    table = pd.DataFrame(rows).set_index("n")
    print(f"\n## {label}: leave-models-out {folds}-fold CV, MAE of estimated accuracy (percentage points); "
          f"{elapsed:.0f} s")
    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.float_format", "{:.2f}".format):
        print(table.T.to_string())
    cov = t[t.estimator.isin(["irt", "gpirt"])].pivot_table(index="n", columns=["method", "estimator"],
                                                             values="coverage")
    print("\n95% interval coverage (share of held-out models whose true accuracy is inside):")
    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.float_format", "{:.2f}".format):
        print(cov.T.to_string())
    return table


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--sizes", default="25,50,100,200")
    args = ap.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]

    lb = make_leaderboard()
    data = lb.data
    print(f"# psychoml benchmark design: simulated leaderboard {data.n_models} models x {data.n_items} items "
          f"(seed 1, {int(lb.items['mislabelled'].sum())} mislabelled items planted)")

    t0 = time.perf_counter()
    fit = fit_benchmark(data)
    wall = time.perf_counter() - t0
    print(f"\n## Calibration: 2PL by marginal ML on 400 x 5,000: EM {fit.fit_seconds:.1f} s "
          f"(whole fit_benchmark incl. flags and information {wall:.1f} s), {fit.n_iter} EM iterations, "
          f"converged={fit.converged}")
    flagged = fit.items["flag"] == "mislabelled"
    truth = lb.items["mislabelled"].reindex(fit.items.index)
    tp = int((flagged & truth).sum())
    print(f"mislabelled flag (BH FDR {fit.fdr}): {int(flagged.sum())} flagged, {tp} of {int(truth.sum())} planted "
          f"found: recall {tp / truth.sum():.3f}, precision {tp / max(int(flagged.sum()), 1):.3f}")
    print("all flags:", fit.flag_counts().to_dict())

    table = cv_report(data, sizes, args.folds, "Simulated 400 x 5,000 leaderboard")
    if 100 in table.index:
        best = table.loc[100, "information/gpirt"]
        base = table.loc[100, "random/observed (baseline)"]
        rnd = table.loc[100, "random/gpirt"]
        print(f"\nacceptance (n = 100): information + gp-IRT MAE {best:.2f} points (<= 2.00: {best <= 2.0}); "
              f"random subsets {base:.2f} (subsample mean) / {rnd:.2f} (gp-IRT): below both = {best < min(base, rnd)}")

    # the same leaderboard under the 2-D model that generated it; the 1-D fit above is the baseline
    t0 = time.perf_counter()
    fit2 = fit_benchmark(data, n_dims=2)
    wall2 = time.perf_counter() - t0
    flagged2 = fit2.items["flag"] == "mislabelled"
    tp2 = int((flagged2 & truth).sum())
    print(f"\n## Two dimensions (n_dims=2): EM {fit2.fit_seconds:.1f} s (whole fit {wall2:.1f} s), {fit2.n_iter} EM "
          f"iterations, converged={fit2.converged}; {fit2.fit_seconds / fit.fit_seconds:.1f}x the 1-D EM time; "
          f"log-likelihood {fit2.loglik - fit.loglik:+.1f} against 1-D")
    print(f"mislabelled flag: {int(flagged2.sum())} flagged, recall {tp2 / truth.sum():.3f}, "
          f"precision {tp2 / max(int(flagged2.sum()), 1):.3f}")
    if 100 in sizes:
        cv2 = cross_validate_selection(data, sizes=(100,), methods=("information",), folds=args.folds,
                                       fit_options={"n_dims": 2})
        mae2 = cv2.mae_table("gpirt").loc[100]
        print(f"leave-models-out CV at n = 100, gp-IRT MAE: information {mae2['information']:.2f} points "
              f"(1-D: {table.loc[100, 'information/gpirt']:.2f}), random {mae2['random']:.2f} "
              f"(1-D: {table.loc[100, 'random/gpirt']:.2f})")

    # adaptive testing on held-out models: calibrate on 320, test on the other 80
    rng = np.random.default_rng(0)
    fold = rng.permutation(np.arange(data.n_models) % 5)
    train = CorrectnessMatrix(data.matrix.iloc[fold != 0], data.benchmarks)
    test = data.matrix.iloc[fold == 0]
    cat = simulate_adaptive_testing(fit_benchmark(train), test, se_target=0.3, seed=0)
    print(f"\n## Adaptive testing vs random order, {len(test)} held-out models, stop at ability SE 0.3")
    with pd.option_context("display.float_format", "{:.2f}".format):
        print(cat.summary().to_string())

    if SHARED.is_dir():
        found = sorted(p for p in SHARED.rglob("*") if p.suffix.lower() in {".csv", ".parquet", ".jsonl"})
        for path in found:
            try:
                real = read_correctness(path)
            except PsychomlError as exc:  # a file that is not a correctness matrix is reported, not fatal
                print(f"\n{path}: skipped ({exc})")
                continue
            cv_report(real, [n for n in sizes if n < real.n_items], args.folds, f"Real leaderboard {path.name}")
    else:
        print(f"\n{SHARED.resolve()} does not exist in this workplace: no real leaderboard matrix to cross-validate.")


if __name__ == "__main__":
    main()
