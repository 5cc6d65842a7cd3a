"""Benchmark: psychoml.irt against a naive PyMC 2PL and against girth's marginal ML, same data, same run.

(a) 2PL by NUTS on 500 respondents x 100 items (simulated, seeded):

* baseline: the textbook PyMC 2PL (``psychoml.irt._pymc.naive_2pl_model``: dense ``a (theta - b)`` Bernoulli,
  centred LogNormal/Normal priors) sampled with a plain ``pm.sample()`` (PyMC's own NUTS, its defaults:
  1,000 tuning + 1,000 draws per chain, one chain per core on this machine);
* ours: ``psychoml.irt.fit(X, "2pl", "nuts")`` on the same data with the same number of chains: nutpie on the
  slope-intercept hierarchical model through its hand-written numba log-density and gradient
  (``psychoml/irt/_fast2pl.py``: the posterior of ``build_model(data, "2pl")``, tested equal to PyMC's logp and
  gradient), low-rank mass matrix; 1,000 tuning + 2,000 draws per chain, the shortest run that brought max R-hat
  under 1.01 in trials (1,000 + 1,000 gave 1.014-1.015; printed as an "info only" row).  Timed cold (first fit
  in the process, compilation or numba cache load included; the output says whether numba's on-disk cache was
  warm and how long compiling from scratch takes) and warm (the compiled model reused with a new seed).
* printed: wall time, ratio, max R-hat and min bulk/tail ESS over theta, a, b for each, whether ours has max
  R-hat <= 1.01 and both ESS equal to or better than the baseline's, the ratio of min bulk ESS per second, and
  MET / NOT MET for the target (>= 5x faster at max R-hat <= 1.01 and ESS >= the baseline's).

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


def numba_cache_state() -> str:
    """Whether the hand-written density was loaded from numba's on-disk cache (after the first fit)."""
    from psychoml.irt._fast2pl import _logp_grad

    if sum(_logp_grad.stats.cache_hits.values()):
        return "numba cache warm: kernel loaded from disk"
    if sum(_logp_grad.stats.cache_misses.values()):
        return "numba cache empty: kernel compiled in this run"
    return "numba cache: kernel not used"


def numba_compile_seconds() -> float:
    """Compiling the hand-written density from scratch (no cache), to state what an empty cache costs."""
    import numba

    from psychoml.irt._fast2pl import FastModel, _logp_grad

    fresh = numba.njit(cache=False, fastmath=False, nogil=True, error_model="numpy")(_logp_grad.py_func)
    fm = FastModel(np.zeros((4, 3)), "2pl", True)
    t0 = time.perf_counter()
    fresh(np.zeros(fm.n_dim), fm.sgn, False, True, np.empty((7, 3)), np.empty(fm.n_dim))
    return time.perf_counter() - t0


def bench_nuts(n: int = 500, j: int = 100, draws: int = 1000, tune: int = 1000, our_draws: int = 2000,
               our_tune: int = 1000) -> tuple[list[tuple], int, str, float]:
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

        cache = ""
        for label, seed, n_tune, n_draws in (("cold: compiles", 1, our_tune, our_draws),
                                             ("warm: compiled once", 2, our_tune, our_draws),
                                             ("warm, shorter: info only", 3, 1000, 1000)):
            t0 = time.perf_counter()
            res = fit(X, "2pl", "nuts", draws=n_draws, tune=n_tune, chains=chains, seed=seed)
            elapsed = time.perf_counter() - t0
            if not cache:
                cache = numba_cache_state()
            rows.append((f"psychoml fit nuts {n_tune}+{n_draws} ({label})", elapsed, *diagnostics(res.idata, names)))
    return rows, chains, cache, numba_compile_seconds()


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
    rows, chains, cache, compile_s = bench_nuts()
    print(f"(a) 2PL by NUTS, 500 x 100, same data, {chains} chains each; tune+draws per chain in the labels")
    print(f"{'method':56s} {'time s':>8s} {'max R-hat':>10s} {'min ESS bulk':>13s} {'min ESS tail':>13s}")
    for name, t, r, eb, et in rows:
        print(f"{name:56s} {t:8.1f} {r:10.4f} {eb:13.0f} {et:13.0f}")
    print(f"cold run: {cache}; compiling the kernel from scratch takes {compile_s:.1f} s "
          f"(an empty cache adds that to the cold time)")
    base = rows[0]
    verdicts = []
    for row in rows[1:]:
        ratio = base[1] / row[1]
        rhat_ok = row[2] <= 1.01
        ess_ok = row[3] >= base[3] and row[4] >= base[4]
        label = row[0].split("(")[-1].rstrip(")")
        print(f"ratio naive / psychoml ({label}): {ratio:.1f}x; max R-hat <= 1.01: {'yes' if rhat_ok else 'no'} "
              f"(<= naive's {base[2]:.4f}: {'yes' if row[2] <= base[2] else 'no'}); bulk and tail ESS >= naive's: "
              f"{'yes' if ess_ok else 'no'}; min bulk ESS per second {(row[3] / row[1]) / (base[3] / base[1]):.1f}x")
        if "info only" not in label:
            verdicts.append((label, ratio >= 5 and rhat_ok and ess_ok, ratio))
    if "empty" not in cache:
        worst = base[1] / (rows[1][1] + compile_s)
        print(f"cold with an empty numba cache (cold time + {compile_s:.1f} s compile): {worst:.1f}x")
    for label, ok, ratio in verdicts:
        print(f"target (>= 5x faster, max R-hat <= 1.01, ESS >= naive's), {label}: {'MET' if ok else 'NOT MET'} "
              f"({ratio:.1f}x)")


if __name__ == "__main__":
    main()
