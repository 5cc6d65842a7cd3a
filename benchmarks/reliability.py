"""Benchmark: Cronbach's alpha confidence intervals against pingouin, same data, same run.

Data: 10,000 respondents x 56 five-point items from a one-factor model (seeded).
Compared:

* ``pingouin.cronbach_alpha(df, ci=.95)`` - the baseline the issue names; its
  interval is the parametric Feldt interval (rounded by pingouin to 3 decimals);
* ``psychoml.stats.reliability.cronbach_alpha(df, ci_method="bootstrap",
  n_boot=2000)`` - the vectorised percentile bootstrap (resample counts times
  a (n, k + 3) matrix of sums); its interval is checked against pingouin's to 1e-2;
* ``cronbach_alpha(df, ci_method="feldt")`` - the same closed-form interval
  as pingouin (like for like with the baseline);
* pingouin has no bootstrap for alpha; what a pingouin user would write is
  ``pingouin.cronbach_alpha`` on each of 2,000 resampled tables.  That loop is
  timed on 50 resamples and scaled to 2,000: the like-for-like bootstrap ratio.

A bootstrap with 2,000 resamples does ~2,000x the arithmetic of one closed-form
interval, so the ratio of our bootstrap against pingouin's closed-form call is
printed as it is (it cannot reach 1); the like-for-like ratios are the other two.

Run: ``PYTHONPATH=. python benchmarks/reliability.py`` (prints a table; exit status 0).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pingouin

from psychoml.stats.reliability import cronbach_alpha

N_ROWS, N_ITEMS, N_BOOT = 10_000, 56, 2000


def make_data(seed: int = 2024) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    theta = rng.standard_normal(N_ROWS)
    loadings = rng.uniform(0.4, 0.8, N_ITEMS)
    latent = theta[:, None] * loadings + rng.standard_normal((N_ROWS, N_ITEMS)) * np.sqrt(1 - loadings**2)
    items = np.digitize(latent, [-1.5, -0.5, 0.5, 1.5]) + 1
    return pd.DataFrame(items, columns=[f"item{j + 1:02d}" for j in range(N_ITEMS)])


def best_time(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def pingouin_bootstrap(df: pd.DataFrame, n_boot: int, seed: int = 1) -> np.ndarray:
    """pingouin.cronbach_alpha on each resampled table: a pingouin user's bootstrap."""
    rng = np.random.default_rng(seed)
    n = len(df)
    return np.array([pingouin.cronbach_alpha(df.iloc[rng.integers(0, n, n)])[0] for _ in range(n_boot)])


def main() -> None:
    df = make_data()
    t_pg, (alpha_pg, ci_pg) = best_time(lambda: pingouin.cronbach_alpha(df, ci=0.95), repeat=30)
    t_feldt, ours_feldt = best_time(lambda: cronbach_alpha(df, ci=0.95), repeat=30)
    t_boot, ours_boot = best_time(
        lambda: cronbach_alpha(df, ci=0.95, ci_method="bootstrap", n_boot=N_BOOT, seed=7), repeat=3
    )
    n_loop = 50
    t_loop_part, _ = best_time(lambda: pingouin_bootstrap(df, n_loop), repeat=1)
    t_loop = t_loop_part * N_BOOT / n_loop

    ci_pg = np.asarray(ci_pg, dtype=float)
    diff_feldt = float(np.max(np.abs(np.asarray(ours_feldt.ci) - ci_pg)))
    diff_boot = float(np.max(np.abs(np.asarray(ours_boot.ci) - ci_pg)))

    print(f"data: {N_ROWS} x {N_ITEMS}, bootstrap resamples: {N_BOOT}")
    print(f"alpha: pingouin {alpha_pg:.6f}  psychoml {ours_feldt.alpha:.6f}  |diff| {abs(alpha_pg - ours_feldt.alpha):.2e}")
    print()
    print(f"{'call':62s} {'seconds':>9s} {'pingouin/this':>14s}  interval")
    print(f"{'pingouin.cronbach_alpha (Feldt CI, baseline)':62s} {t_pg:9.4f} {1.0:13.2f}x  {ci_pg.round(4)}")
    print(f"{'psychoml cronbach_alpha, bootstrap CI (2,000, vectorised)':62s} {t_boot:9.4f} "
          f"{t_pg / t_boot:13.3f}x  {np.round(ours_boot.ci, 4)}")
    print(f"{'psychoml cronbach_alpha, Feldt CI':62s} {t_feldt:9.4f} {t_pg / t_feldt:13.2f}x  "
          f"{np.round(ours_feldt.ci, 4)}")
    print(f"{'pingouin.cronbach_alpha per resample (2,000; 50 timed, scaled)':62s} {t_loop:9.4f} "
          f"{t_pg / t_loop:13.4f}x")
    print()
    print(f"bootstrap (psychoml) vs pingouin.cronbach_alpha CI:   speed ratio {t_pg / t_boot:.3f} (target >= 1: "
          f"{'OK' if t_pg / t_boot >= 1 else 'NOT MET - closed form vs 2,000 resamples'})")
    print(f"bootstrap (psychoml) vs pingouin bootstrap loop:      speed ratio {t_loop / t_boot:.1f} (target >= 1: "
          f"{'OK' if t_loop / t_boot >= 1 else 'NOT MET'})")
    print(f"Feldt (psychoml) vs pingouin.cronbach_alpha CI:       speed ratio {t_pg / t_feldt:.2f} (target >= 1: "
          f"{'OK' if t_pg / t_feldt >= 1 else 'NOT MET'})")
    print(f"max |interval difference| bootstrap vs pingouin: {diff_boot:.2e}  (target <= 1e-2): "
          f"{'OK' if diff_boot <= 1e-2 else 'FAIL'}")
    print(f"max |interval difference| Feldt vs pingouin:     {diff_feldt:.2e}  (target <= 1e-2): "
          f"{'OK' if diff_feldt <= 1e-2 else 'FAIL'}")


if __name__ == "__main__":
    main()
