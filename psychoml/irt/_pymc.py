"""PyMC models for every IRT model, written for fast NUTS.

Design choices (why the sampler is fast and well diagnosed):

* the likelihood is a dense expression times the observation mask: missing responses contribute exactly
  zero and are never imputed;
* slope-intercept sampling (``a theta + d``) with centred hierarchical item priors (each item has many
  responses, where centring mixes better than non-centring);
* abilities are standard normal (the scale is identified by fixing the ability distribution, as in mirt);
* GRM intercepts are ordered by construction (location - cumulative positive gaps), so no ordered transform.
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from psychoml.irt._data import IrtData

__all__ = ["build_model", "naive_2pl_model"]


def _slopes(model: str, n_items: int, n_dims: int, hierarchical: bool) -> pt.TensorVariable:
    if model == "1pl":
        log_a = pm.Normal("log_a_common", 0.0, 0.5)
        return pm.Deterministic("a", pt.exp(log_a) * pt.ones((n_items, 1)), dims=("item", "dim"))
    if hierarchical:
        # centred: every item has hundreds of responses, where centred beats non-centred for NUTS
        mu = pm.Normal("mu_log_a", 0.0, 0.5)
        # zero-avoiding Gamma(2, .) hyperpriors (Chung et al., 2013): a half-normal lets sigma reach 0,
        # where the centred hierarchy becomes a funnel and NUTS diverges
        sigma = pm.Gamma("sigma_log_a", alpha=2.0, beta=5.0)
        log_a = pm.Normal("log_a", mu, sigma, dims="item")
    else:
        log_a = pm.Normal("log_a", 0.0, 0.5, dims="item")
    a1 = pt.exp(log_a)
    if n_dims == 1:
        return pm.Deterministic("a", a1[:, None], dims=("item", "dim"))
    # two compensatory dimensions: item 1 loads on dimension 1 only (fixes the rotation) and item 2's second
    # slope is positive (fixes the reflection); the other second-dimension slopes are free
    a2_first = pm.HalfNormal("a2_item2", 1.0)
    a2_rest = pm.Normal("a2_rest", 0.0, 1.0, shape=n_items - 2)
    a2 = pt.concatenate([pt.zeros(1), a2_first[None], a2_rest])
    return pm.Deterministic("a", pt.stack([a1, a2], axis=1), dims=("item", "dim"))


def _intercepts(n_items: int, hierarchical: bool) -> pt.TensorVariable:
    if hierarchical:
        mu = pm.Normal("mu_d", 0.0, 1.5)
        sigma = pm.Gamma("sigma_d", alpha=2.0, beta=1.0)
        return pm.Normal("d_loc", mu, sigma, dims="item")
    return pm.Normal("d_loc", 0.0, 3.0, dims="item")


def _log_sigmoid(x: pt.TensorVariable) -> pt.TensorVariable:
    return -pt.softplus(-x)


def build_model(
    data: IrtData,
    model: str,
    *,
    n_dims: int = 1,
    hierarchical: bool = True,
) -> pm.Model:
    """The PyMC model of ``model`` ("1pl", "2pl", "3pl", "grm", "gpcm") for ``data``.

    Sampling is in mirt's slope-intercept form (``a . theta + d_k``; far less posterior correlation between a
    and d than between a and b), and ``b = -d / |a|`` is a derived variable.  Variables: ``theta`` (person,
    dim), ``a`` (item, dim), ``d`` and ``b`` (item, threshold), ``c`` (item; 3PL).  The log-likelihood is the
    potential ``loglik``: a dense persons x items expression multiplied by the observation mask, so missing
    cells contribute exactly zero (never imputed) and no gather/scatter enters the gradient (3x faster than
    indexing the observed cells on these sizes).
    """
    X = data.matrix
    mask_np = (~np.isnan(X)).astype("float64")
    Y_np = np.where(mask_np > 0, X, 0.0)
    n_persons, n_items = X.shape
    n_thr = max(data.n_categories - 1, 1)
    coords = {
        "person": [str(p) for p in data.persons],
        "item": list(data.items),
        "dim": [f"theta{d + 1}" for d in range(n_dims)],
        "threshold": [f"b{k + 1}" for k in range(n_thr)],
    }
    with pm.Model(coords=coords) as m:
        # responses and mask are data containers so a compiled sampler can be reused on new data of the same
        # shape (nutpie's ``with_data``): compile once per model and shape
        Y = pm.Data("Y", Y_np, dims=("person", "item"))
        mask = pm.Data("mask", mask_np, dims=("person", "item"))
        theta = pm.Normal("theta", 0.0, 1.0, dims=("person", "dim"))
        a = _slopes(model, n_items, n_dims, hierarchical)
        d_loc = _intercepts(n_items, hierarchical)
        if model in ("1pl", "2pl", "3pl"):
            d = pm.Deterministic("d", d_loc[:, None], dims=("item", "threshold"))
        elif model == "grm":
            # P(x >= k) = logistic(a theta + d_k) needs d_1 > d_2 > ...: centred cumulative positive gaps
            log_gap = pm.Normal("log_gap", 0.0, 1.0, dims=("item", "threshold"))
            cum = pt.cumsum(pt.exp(log_gap), axis=1)
            d = pm.Deterministic("d", d_loc[:, None] - (cum - cum.mean(axis=1, keepdims=True)),
                                 dims=("item", "threshold"))
        elif model == "gpcm":
            # GPCM step intercepts need not be ordered
            step = pm.ZeroSumNormal("step", sigma=1.5, dims=("item", "threshold"), n_zerosum_axes=1)
            d = pm.Deterministic("d", d_loc[:, None] + step, dims=("item", "threshold"))
        else:  # pragma: no cover - validated by the caller
            raise ValueError(model)
        norm = a[:, 0] if n_dims == 1 else pt.sqrt(pt.sum(a**2, axis=1))
        pm.Deterministic("b", -d / norm[:, None], dims=("item", "threshold"))
        eta = pt.dot(theta, a.T)  # persons x items
        if model in ("1pl", "2pl"):
            z = eta + d[:, 0][None, :]
            # y log s(z) + (1 - y) log s(-z) = y z - softplus(z): one transcendental per cell instead of two
            # (Y is 0 in masked cells, so only the softplus needs the mask)
            ll = Y * z - mask * pt.softplus(z)
        elif model == "3pl":
            c = pm.Beta("c", 2.0, 8.0, dims="item")
            p = c[None, :] + (1 - c[None, :]) * pm.math.sigmoid(eta + d[:, 0][None, :])
            ll = Y * pt.log(p) + (mask - Y) * pt.log1p(-p)
        else:
            K = n_thr + 1
            if model == "grm":
                # P(x = k) = s(eta + d_{k-1}) - s(eta + d_k), with d_{-1} = +50 and d_{K-1} = -50 standing in for
                # +-inf.  Through the stable identity s(u) - s(v) = s(u) s(-v) (1 - exp(v - u)) for u > v, the
                # last factor depends on the item's thresholds only (v - u = d_k - d_{k-1}), so it is computed
                # once per item and category; each cell then picks its two thresholds, and only two log-sigmoids
                # run per cell.
                big = pt.full((n_items, 1), 50.0)
                d_hi = pt.concatenate([big, d], axis=1)  # items x categories: the threshold above category k
                d_lo = pt.concatenate([d, -big], axis=1)  # ... and below it
                log_gap = pt.log1mexp(d_lo - d_hi)  # log(1 - exp(d_k - d_{k-1})), items x categories
                # gather each cell's thresholds by (item, category) index: ~2x cheaper in the gradient than
                # one-hot sums over a persons x items x categories array (masked cells hold category 0 and are
                # multiplied by the mask)
                cat = pt.cast(Y, "int64")
                item = pt.arange(n_items)[None, :]
                upper = eta + d_hi[item, cat]
                lower = eta + d_lo[item, cat]
                ll = mask * (_log_sigmoid(upper) + _log_sigmoid(-lower) + log_gap[item, cat])
            else:
                onehot = pt.eq(pt.arange(K)[None, None, :], Y[:, :, None]) * mask[:, :, None]
                z = eta[:, :, None] + d[None, :, :]  # persons x items x thresholds
                logits = pt.concatenate([pt.zeros((n_persons, n_items, 1)), pt.cumsum(z, axis=2)], axis=2)
                ll = pt.sum(onehot * logits, axis=2) - mask * pt.logsumexp(logits, axis=2)
        pm.Potential("loglik", pt.sum(ll))
    return m


def naive_2pl_model(X: np.ndarray) -> pm.Model:
    """The textbook PyMC 2PL (the benchmark baseline): dense matrix likelihood, centred priors."""
    n_persons, n_items = X.shape
    with pm.Model() as m:
        theta = pm.Normal("theta", 0.0, 1.0, shape=n_persons)
        a = pm.LogNormal("a", 0.0, 1.0, shape=n_items)
        b = pm.Normal("b", 0.0, 1.0, shape=n_items)
        pm.Bernoulli("y", logit_p=a[None, :] * (theta[:, None] - b[None, :]), observed=X)
    return m
