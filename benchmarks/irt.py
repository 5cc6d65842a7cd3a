"""Benchmark: psychoml.irt against a naive PyMC 2PL and against girth's marginal ML, same data, same run.

(a) 2PL by NUTS on 500 respondents x 100 items (simulated, seeded):

* baseline: the textbook PyMC 2PL (``psychoml.irt._pymc.naive_2pl_model``: dense ``a (theta - b)`` Bernoulli,
  centred LogNormal/Normal priors) sampled with a plain ``pm.sample()`` (PyMC's own NUTS, its defaults:
  1,000 tuning + 1,000 draws per chain, one chain per core on this machine);
* ours: ``psychoml.irt.fit(X, "2pl", "nuts")`` on the same data with the same 1,000 + 1,000 per chain and the
  same number of chains (nutpie, slope-intercept hierarchical model, masked dense likelihood, low-rank mass
  matrix).  Timed cold (compilation included) and warm (the compiled model reused with a new seed: "compile
  once").  (Shorter runs, 300 + 700, lost more ESS than time on this machine: nutpie's low-rank adaptation
  needs the longer warm-up.)
* printed: wall time, ratio, max R-hat and min bulk/tail ESS over theta, a, b for each, whether ours has R-hat
  and both ESS equal to or better than the baseline's, and the ratio of min bulk ESS per second.

(b) point estimate on 2,000 x 100: ``psychoml.irt.fit_2pl_mml`` (EM over 61 Gauss-Hermite nodes + EAP)
against ``girth.twopl_mml`` (girth 0.8); wall time, ratio, correlations with the true a, b and root mean
square errors of a and b.

Run: ``PYTHONPATH=. python benchmarks/irt.py`` (several minutes; prints a table; exit status 0).
"""

from __future__ import annotations

import os
import time
import warnings

import numpy as np


def simulate(n: int, j: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = rng.uniform(0.8, 2.5, j)
    b = np.clip(rng.normal(0, 1, j), -2.5, 2.5)
    theta = rng.normal(size=n)
    X = (rng.random((n, j)) < 1 / (1 + np.exp(-a * (theta[:, None] - b)))).astype(float)
    return X, a, b, theta


def diagnostics(idata, names: list[str]) -> tuple[float, float, float]:
    import arviz as az

    rhat = az.rhat(idata, var_names=names)
    bulk = az.ess(idata, var_names=names, method="bulk")
    tail = az.ess(idata, var_names=names, method="tail")

    def agg(ds, fn):
        vals = np.concatenate([np.ravel(ds[v].values) for v in ds.data_vars])
        return float(fn(vals[np.isfinite(vals)]))

    return agg(rhat, np.max), agg(bulk, np.min), agg(tail, np.min)


def bench_nuts(n: int = 500, j: int = 100, draws: int = 1000, tune: int = 1000, our_draws: int = 1000,
               our_tune: int = 1000) -> list[tuple]:
    import pymc as pm

    from psychoml.irt import fit
    from psychoml.irt._pymc import naive_2pl_model

    # pm.sample's default chains, and as many cores (here it otherwise ran the chains in one process)
    chains = max(2, min(os.cpu_count() or 2, 4))
    X, _a, _b, _theta = simulate(n, j, seed=1)
    names = ["theta", "a", "b"]
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        with naive_2pl_model(X):
            idata_naive = pm.sample(draws=draws, tune=tune, chains=chains, cores=chains, random_seed=1,
                                    progressbar=False)
        t_naive = time.perf_counter() - t0
        rows.append((f"naive pm.sample() 2PL ({tune}+{draws})", t_naive, *diagnostics(idata_naive, names)))

        for label, seed in (("cold: compiles", 1), ("warm: compiled once", 2)):
            t0 = time.perf_counter()
            res = fit(X, "2pl", "nuts", draws=our_draws, tune=our_tune, chains=chains, seed=seed)
            elapsed = time.perf_counter() - t0
            rows.append((f"psychoml fit nuts {our_tune}+{our_draws} ({label})", elapsed,
                         *diagnostics(res.idata, names)))
    return rows


def bench_point(n: int = 2000, j: int = 100) -> list[tuple]:
    import girth

    from psychoml.irt import eap_theta, fit_2pl_mml

    X, a, b, theta = simulate(n, j, seed=3)
    t0 = time.perf_counter()
    est = girth.twopl_mml(X.T.astype(int))  # girth wants items x persons
    t_girth = time.perf_counter() - t0
    ga, gb = np.asarray(est["Discrimination"]), np.asarray(est["Difficulty"])

    t0 = time.perf_counter()
    res = fit_2pl_mml(X)
    t_ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    th, _ = eap_theta(X, res.a, res.d)
    t_eap = time.perf_counter() - t0
    def recovery(ea: np.ndarray, eb: np.ndarray) -> tuple[float, float, float, float]:
        return (np.corrcoef(ea, a)[0, 1], np.corrcoef(eb, b)[0, 1], float(np.sqrt(np.mean((ea - a) ** 2))),
                float(np.sqrt(np.mean((eb - b) ** 2))))

    return [
        ("girth.twopl_mml", t_girth, *recovery(ga, gb), np.nan),
        ("psychoml fit_2pl_mml", t_ours, *recovery(res.a, res.b), np.nan),
        ("psychoml fit_2pl_mml + eap_theta", t_ours + t_eap, *recovery(res.a, res.b), np.corrcoef(th, theta)[0, 1]),
    ]


def main() -> None:
    print("(b) 2PL point estimate, 2,000 x 100")
    rows = bench_point()
    print(f"{'method':40s} {'time s':>8s} {'r(a)':>7s} {'r(b)':>7s} {'rmse(a)':>8s} {'rmse(b)':>8s} {'r(theta)':>9s}")
    for name, t, ra, rb, ea, eb, rt in rows:
        print(f"{name:40s} {t:8.2f} {ra:7.4f} {rb:7.4f} {ea:8.4f} {eb:8.4f} {rt:9.4f}")
    print(f"ratio girth / psychoml (MML): {rows[0][1] / rows[1][1]:.1f}x   "
          f"(with EAP abilities: {rows[0][1] / rows[2][1]:.1f}x)   target >= 10x")
    print()
    print("(a) 2PL by NUTS, 500 x 100, same data, 2 chains")
    rows = bench_nuts()
    print(f"{'method':46s} {'time s':>8s} {'max R-hat':>10s} {'min ESS bulk':>13s} {'min ESS tail':>13s}")
    for name, t, r, eb, et in rows:
        print(f"{name:46s} {t:8.1f} {r:10.4f} {eb:13.0f} {et:13.0f}")
    base = rows[0]
    for row in rows[1:]:
        quality = row[2] <= max(base[2], 1.01) and row[3] >= base[3] and row[4] >= base[4]
        print(f"ratio naive / psychoml ({row[0].split('(')[-1].rstrip(')')}): {base[1] / row[1]:.1f}x; "
              f"R-hat and ESS equal or better than naive: {'yes' if quality else 'no'}; "
              f"max R-hat <= 1.01: {'yes' if row[2] <= 1.01 else 'no'}; min bulk ESS per second "
              f"{(row[3] / row[1]) / (base[3] / base[1]):.1f}x   (target >= 5x)")


if __name__ == "__main__":
    main()
