"""Seeded simulated LLM leaderboard: 400 models x 5,000 items (the issue-7 acceptance data).

Generating model (``psychoml.irt._bench_sim.simulate_leaderboard``): a compensatory two-dimensional
2PL, ``logit P = a1 theta1 + a2 theta2 + d`` with abilities standard normal and correlated 0.6,
heterogeneous discriminations ``a1 ~ LogNormal(0.1, 0.5)`` (about 0.4 to 3), a second-dimension slope
``a2 ~ LogNormal(-0.2, 0.4)`` on 30% of the items, intercepts ``d ~ N(0.3, 1.6)``, and 3% mislabelled
items whose answer key is flipped (recorded correctness ``1 - y``: strong models fail, weak ones pass).

Run: ``PYTHONPATH=. python benchmarks/make_leaderboard.py --out leaderboard.parquet`` writes the wide
matrix (rows = models) and ``<out stem>_truth.csv`` with the true item parameters and the planted items.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from psychoml.irt import SimulatedLeaderboard, simulate_leaderboard

N_MODELS, N_ITEMS, SEED = 400, 5000, 1


def make_leaderboard(n_models: int = N_MODELS, n_items: int = N_ITEMS, seed: int = SEED) -> SimulatedLeaderboard:
    """The acceptance leaderboard (same numbers on every run for a given seed)."""
    return simulate_leaderboard(n_models, n_items, seed=seed, mislabelled=0.03, rho=0.6,
                                second_dimension_share=0.3)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", type=int, default=N_MODELS)
    ap.add_argument("--items", type=int, default=N_ITEMS)
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--out", type=Path, default=Path("leaderboard.parquet"))
    args = ap.parse_args()
    lb = make_leaderboard(args.models, args.items, args.seed)
    frame = lb.data.matrix.astype("int8").reset_index()
    if args.out.suffix.lower() in {".parquet", ".pq"}:
        frame.to_parquet(args.out, index=False)
    else:
        frame.to_csv(args.out, index=False)
    truth = args.out.with_name(args.out.stem + "_truth.csv")
    lb.items.to_csv(truth)
    print(f"wrote {args.out} ({args.models} models x {args.items} items, seed {args.seed}, "
          f"{int(lb.items['mislabelled'].sum())} mislabelled) and {truth}")


if __name__ == "__main__":
    main()
