"""A hand-written log-density and gradient of the one-dimensional 1PL/2PL, sampled by nutpie.

The model is exactly :func:`psychoml.irt._pymc.build_model` (``"1pl"``/``"2pl"``, ``n_dims=1``, hierarchical or
not): same priors, same slope-intercept parametrisation, same log transform (with its Jacobian) of the Gamma
hyper-parameters, and the same order of the unconstrained vector as PyMC's ``model.value_vars``, so the
posterior is identical; ``tests/test_irt.py`` checks logp and gradient against PyMC's compiled ones.

Why: on 500 x 100 responses PyMC's pytensor -> numba graph costs ~1.3 ms per gradient.  One fused pass over the
persons x items cells computes the log-likelihood and every gradient, with one ``exp`` and one division per cell:
the log-likelihood of a cell is ``min(s, 0) - log(1 + exp(-|s|))`` (``s = +-z`` signed by the response), and
the logs are accumulated as products of ``1 + exp(-|s|)`` (each factor in (1, 2], so 256 of them stay far from
overflow) and taken once per 256 cells.  The kernel releases the GIL, so nutpie's chains run in parallel.

Layout of the unconstrained vector (PyMC's ``value_vars`` order)::

    theta[n] | mu_log_a, sigma_log_a_log__, log_a[J]  (2PL, hierarchical)
             | log_a[J]                                (2PL, fixed priors)
             | log_a_common                            (1PL)
             | mu_d, sigma_d_log__, d_loc[J]           (hierarchical)
             | d_loc[J]                                (fixed priors)
"""

from __future__ import annotations

import math
from typing import Any

import numba
import numpy as np

__all__ = ["FastModel", "compile_fast_model", "fast_path_available", "response_signs"]

_LOG_2PI_HALF = 0.5 * math.log(2.0 * math.pi)
_FLUSH = 256  # persons per product of (1 + exp(-|s|)) factors before one log: 2^256 << 1.8e308


def fast_path_available(model: str, n_dims: int) -> bool:
    """Whether the hand-written density covers this model."""
    return model in ("1pl", "2pl") and n_dims == 1


def response_signs(matrix: np.ndarray) -> np.ndarray:
    """+1 for a response 1, -1 for 0, 0 for a missing cell (the kernel's form of the responses)."""
    mask = ~np.isnan(matrix)
    return np.ascontiguousarray(np.where(mask, 2.0 * np.where(mask, matrix, 0.0) - 1.0, 0.0))


@numba.njit(cache=True, fastmath=False, error_model="numpy", inline="always")
def _normal(x: float, mu: float, sigma: float) -> float:
    r = (x - mu) / sigma
    return -_LOG_2PI_HALF - math.log(sigma) - 0.5 * r * r


# exp(-u0) and 1/k! for the Taylor series of exp(-(u0 + v)) around u0 = 0.3125, |v| <= 0.3125
_EXP_U0 = 0.7316156289466418
_C = (1.0, 1.0, 0.5, 0.16666666666666666, 0.041666666666666664, 0.008333333333333333, 0.001388888888888889,
      0.0001984126984126984, 2.48015873015873e-05, 2.7557319223985893e-06, 2.755731922398589e-07,
      2.505210838544172e-08, 2.08767569878681e-09, 1.6059043836821613e-10)


@numba.njit(cache=True, fastmath=False, error_model="numpy", inline="always")
def _exp_neg(t: float) -> float:
    """exp(-t) for t >= 0 in straight-line arithmetic (so a loop calling it vectorises; libm's exp does not).

    exp(-t) = exp(-t / 64)^64 with t clamped to 40 (exp(-40) = 4e-18 is below the rounding of the 1 it is added
    to); exp(-u), u = t / 64 in [0, 0.625], is its Taylor series of degree 13 around 0.3125 (remainder < 1e-18),
    and six squarings raise it to the 64th power (relative error < 1e-14, far below Monte Carlo error; the tests
    compare with PyMC to 1e-8).
    """
    v = min(t, 40.0) * 0.015625 - 0.3125
    w = -v
    q = _C[13]
    q = q * w + _C[12]
    q = q * w + _C[11]
    q = q * w + _C[10]
    q = q * w + _C[9]
    q = q * w + _C[8]
    q = q * w + _C[7]
    q = q * w + _C[6]
    q = q * w + _C[5]
    q = q * w + _C[4]
    q = q * w + _C[3]
    q = q * w + _C[2]
    q = q * w + _C[1]
    q = (q * w + _C[0]) * _EXP_U0
    q = q * q
    q = q * q
    q = q * q
    q = q * q
    q = q * q
    return q * q


@numba.njit(cache=True, fastmath=False, error_model="numpy", inline="always")
def _sum(v: np.ndarray, m: int) -> float:
    """Sum of v[:m] in 8 interleaved partial sums (a fixed order, without the latency of one serial chain)."""
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = 0.0
    k = 0
    while k + 8 <= m:
        s0 += v[k]
        s1 += v[k + 1]
        s2 += v[k + 2]
        s3 += v[k + 3]
        s4 += v[k + 4]
        s5 += v[k + 5]
        s6 += v[k + 6]
        s7 += v[k + 7]
        k += 8
    while k < m:
        s0 += v[k]
        k += 1
    return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))


@numba.njit(cache=True, fastmath=False, error_model="numpy", inline="always")
def _hierarchical_normal(x: np.ndarray, pos: int, J: int, mu_sd: float, sigma_rate: float, exponentiate: bool,
                         out: np.ndarray, grad: np.ndarray) -> float:
    """Log-density of a hierarchical normal block and its gradient (written into ``grad``).

    ``x[pos]`` is mu ~ N(0, mu_sd), ``x[pos + 1]`` is s = log sigma with sigma ~ Gamma(2, sigma_rate) (its
    density on s carries the log-Jacobian s: 2 log rate - lgamma(2) + s - rate e^s + s), and
    ``x[pos + 2 : pos + 2 + J]`` are v_j ~ N(mu, sigma).  ``out[j]`` receives exp(v_j) when ``exponentiate``
    (log slopes -> slopes), else v_j.
    """
    mu = x[pos]
    s = x[pos + 1]
    sig = math.exp(s)
    lp = _normal(mu, 0.0, mu_sd)
    grad[pos] = -mu / (mu_sd * mu_sd)
    lp += 2.0 * math.log(sigma_rate) + 2.0 * s - sigma_rate * sig
    grad[pos + 1] = 2.0 - sigma_rate * sig
    first = pos + 2
    inv2 = 1.0 / (sig * sig)
    for j in range(J):
        v = x[first + j]
        r = v - mu
        lp += -_LOG_2PI_HALF - s - 0.5 * r * r * inv2
        grad[first + j] = -r * inv2
        grad[pos] += r * inv2
        grad[pos + 1] += -1.0 + r * r * inv2
        out[j] = math.exp(v) if exponentiate else v
    return lp


@numba.njit(cache=True, fastmath=False, nogil=True, error_model="numpy")
def _logp_grad(x: np.ndarray, sgn: np.ndarray, one_pl: bool, hier: bool, work: np.ndarray,
               grad: np.ndarray) -> float:
    """Log-density at ``x`` (unconstrained), its gradient written into ``grad``.

    ``sgn`` is persons x items: +1 for a response 1, -1 for 0, 0 for missing; ``work`` is a 7 x items scratch
    array.
    """
    n, J = sgn.shape
    a = work[0]
    d = work[1]
    ga = work[2]
    gd = work[3]
    lin = work[4]
    prod = work[5]
    row = work[6]
    lp = 0.0
    for k in range(x.shape[0]):
        grad[k] = 0.0
    # --- slopes -------------------------------------------------------------------------------------------------
    pos = n
    if one_pl:
        i_la = pos
        la = x[pos]
        lp += _normal(la, 0.0, 0.5)
        grad[pos] = -la / 0.25
        ea = math.exp(la)
        for j in range(J):
            a[j] = ea
        pos += 1
    else:
        if hier:
            lp += _hierarchical_normal(x, pos, J, 0.5, 5.0, True, a, grad)
            i_la = pos + 2
            pos = i_la + J
        else:
            i_la = pos
            for j in range(J):
                la = x[i_la + j]
                lp += _normal(la, 0.0, 0.5)
                grad[i_la + j] = -la / 0.25
                a[j] = math.exp(la)
            pos = i_la + J
    # --- intercepts ---------------------------------------------------------------------------------------------
    if hier:
        lp += _hierarchical_normal(x, pos, J, 1.5, 1.0, False, d, grad)
        i_d = pos + 2
    else:
        i_d = pos
        for j in range(J):
            dj = x[i_d + j]
            lp += _normal(dj, 0.0, 3.0)
            grad[i_d + j] = -dj / 9.0
            d[j] = dj
    # --- likelihood: one pass over the cells ----------------------------------------------------------------------
    # The inner loop over items has no cross-iteration dependence (every accumulator is per item; the per-person
    # sum goes through a row buffer), no calls and no branches, so LLVM vectorises it without fast-math.
    for j in range(J):
        ga[j] = 0.0
        gd[j] = 0.0
        lin[j] = 0.0
        prod[j] = 1.0
    log_acc = 0.0
    for p in range(n):
        th = x[p]
        for j in range(J):
            g = sgn[p, j]
            sm = g * (th * a[j] + d[j])  # the response's signed logit; 0 for a missing cell
            e = _exp_neg(abs(sm))
            inv = 1.0 / (1.0 + e)
            # dloglik/dz = y - sigmoid(z) = g * sigmoid(-sm); exactly 0 for a missing cell (g = 0)
            r = g * ((e if sm >= 0.0 else 1.0) * inv)
            lin[j] += min(sm, 0.0)
            prod[j] *= 1.0 + g * g * e  # log(1 + e) summed as one log per 256 persons (factors in (1, 2])
            row[j] = r * a[j]
            ga[j] += r * th
            gd[j] += r
        if (p + 1) % _FLUSH == 0:
            for j in range(J):
                log_acc += math.log(prod[j])
                prod[j] = 1.0
        grad[p] = _sum(row, J) - th  # + the N(0, 1) prior's gradient
        lp += -_LOG_2PI_HALF - 0.5 * th * th
    for j in range(J):
        log_acc += math.log(prod[j])
    lp += _sum(lin, J) - log_acc
    if one_pl:
        grad[i_la] += _sum(ga, J) * a[0]
    else:
        for j in range(J):
            grad[i_la + j] += ga[j] * a[j]
    for j in range(J):
        grad[i_d + j] += gd[j]
    return lp


class FastModel:
    """The 1-D 1PL/2PL posterior of one data set: ``logp_grad(x)``, ``expand(x)``, an initial-point function."""

    def __init__(self, matrix: np.ndarray, model: str, hierarchical: bool) -> None:
        self.sgn = response_signs(matrix)
        self.n_persons, self.n_items = matrix.shape
        self.one_pl = model == "1pl"
        self.hierarchical = hierarchical
        n, J = self.n_persons, self.n_items
        names: list[tuple[str, int]] = [("theta", n)]
        if self.one_pl:
            names.append(("log_a_common", 1))
        elif hierarchical:
            names += [("mu_log_a", 1), ("sigma_log_a_log__", 1), ("log_a", J)]
        else:
            names.append(("log_a", J))
        names += ([("mu_d", 1), ("sigma_d_log__", 1), ("d_loc", J)] if hierarchical else [("d_loc", J)])
        self.layout: dict[str, slice] = {}
        pos = 0
        for name, size in names:
            self.layout[name] = slice(pos, pos + size)
            pos += size
        self.n_dim = pos

    def logp_grad(self, x: np.ndarray, sgn: np.ndarray | None = None) -> tuple[float, np.ndarray]:
        J = self.n_items
        grad = np.empty(self.n_dim)
        lp = _logp_grad(np.ascontiguousarray(x, dtype=np.float64), self.sgn if sgn is None else sgn,
                        self.one_pl, self.hierarchical, np.empty((7, J)), grad)
        return lp, grad

    def expand(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """The stored variables of the PyMC path: theta, a, d, b and the hyper-parameters."""
        L = self.layout
        out: dict[str, np.ndarray] = {"theta": x[L["theta"]].reshape(-1, 1).copy()}
        if self.one_pl:
            log_a = np.full(self.n_items, x[L["log_a_common"]][0])
        else:
            log_a = x[L["log_a"]]
        a = np.exp(log_a)
        d = x[L["d_loc"]]
        out["a"] = a.reshape(-1, 1)
        out["d"] = d.reshape(-1, 1).copy()
        out["b"] = (-d / a).reshape(-1, 1)
        if self.one_pl:
            out["log_a_common"] = np.asarray(x[L["log_a_common"]][0])
        elif self.hierarchical:
            out["mu_log_a"] = np.asarray(x[L["mu_log_a"]][0])
            out["sigma_log_a"] = np.asarray(np.exp(x[L["sigma_log_a_log__"]][0]))
        if self.hierarchical:
            out["mu_d"] = np.asarray(x[L["mu_d"]][0])
            out["sigma_d"] = np.asarray(np.exp(x[L["sigma_d_log__"]][0]))
        return out

    def initial_point(self, seed: int) -> np.ndarray:
        """PyMC's default for nutpie: the prior's support point (mean) jittered by U(-1, 1) on every coordinate."""
        rng = np.random.default_rng(seed)
        x = rng.uniform(-1.0, 1.0, self.n_dim)
        L = self.layout
        if "sigma_log_a_log__" in L:
            x[L["sigma_log_a_log__"]] += math.log(2.0 / 5.0)  # Gamma(2, 5) mean
        if "sigma_d_log__" in L:
            x[L["sigma_d_log__"]] += math.log(2.0)  # Gamma(2, 1) mean
        return x


def compile_fast_model(matrix: np.ndarray, model: str, hierarchical: bool, *, persons: list[str],
                       items: list[str]) -> Any:
    """A nutpie model (``nutpie.compiled_pyfunc.from_pyfunc``) of the hand-written density.

    Its draws carry the same variables, dims and coords as ``nutpie.compile_pymc_model`` of
    :func:`psychoml.irt._pymc.build_model` with psychoml's ``var_names``.  The responses are shared data
    (``sgn``), so ``.with_data(sgn=...)`` reuses it on new responses of the same shape.
    """
    from nutpie.compiled_pyfunc import from_pyfunc

    fm = FastModel(matrix, model, hierarchical)
    J = fm.n_items
    # compile (or load from numba's cache) before sampling, not inside the first chain's first call
    fm.logp_grad(np.zeros(fm.n_dim))

    def make_logp_fn() -> Any:
        def logp(x: np.ndarray, sgn: np.ndarray) -> tuple[float, np.ndarray]:
            # fresh buffers per call (under a microsecond): chains run in threads, the kernel without the GIL
            grad = np.empty(fm.n_dim)
            return _logp_grad(x, sgn, fm.one_pl, fm.hierarchical, np.empty((7, J)), grad), grad

        return logp

    def make_expand_fn(seed1: int, seed2: int, chain: int) -> Any:
        def expand(x: np.ndarray, sgn: np.ndarray) -> dict[str, np.ndarray]:
            return fm.expand(x)

        return expand

    example = fm.expand(np.zeros(fm.n_dim))
    names = list(example)
    dims = {"theta": ("person", "dim"), "a": ("item", "dim"), "d": ("item", "threshold"),
            "b": ("item", "threshold")}
    coords = {"person": list(persons), "item": list(items), "dim": ["theta1"], "threshold": ["b1"]}
    return from_pyfunc(
        ndim=fm.n_dim,
        make_logp_fn=make_logp_fn,
        make_expand_fn=make_expand_fn,
        expanded_dtypes=[np.dtype("float64")] * len(names),
        expanded_shapes=[np.shape(example[k]) for k in names],
        expanded_names=names,
        coords=coords,
        dims={k: v for k, v in dims.items() if k in names},
        shared_data={"sgn": fm.sgn},
        make_initial_point_fn=fm.initial_point,
    )
