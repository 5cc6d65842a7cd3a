"""IRT for benchmark design: item calibration, bad-item flags, item selection and small-subset scoring.

Workflow (each step one function returning a frozen :class:`~psychoml._base.Result`):

1. :func:`fit_benchmark` - 2PL by marginal ML (:func:`psychoml.irt._mml.fit_2pl_mml`) on the models
   already evaluated; per-item discrimination ``a``, intercept ``d``, difficulty ``b = -d/a``,
   information over an ability range, and flags for bad items (constant, low or negative
   discrimination, likely mislabelled).
2. :func:`select_items` - ``n`` items by Fisher information over an ability range, by anchor-point
   clustering (tinyBenchmarks) or by stratified / plain random sampling; deterministic per seed.
3. :func:`estimate_accuracy` - a new model's full-benchmark accuracy from its answers on a subset, with
   the IRT estimator and the tinyBenchmarks gp-IRT estimator, each with an interval.
4. :func:`cross_validate_selection` - leave-models-out cross-validation of 2.+3.: MAE against subset size,
   with random subsets of the same size as the baseline.
5. :func:`simulate_adaptive_testing` - computerised adaptive testing (maximum information, EAP, stop at
   a target SE) against random item order.
6. :func:`prompt_sensitivity` - PromptEval-style distribution of accuracy across prompt templates from a
   fraction of the (template, item) cells.

References
----------
Polo, F. M., Weber, L., Choshen, L., Sun, Y., Xu, G. & Yurochkin, M. (2024). tinyBenchmarks: evaluating
LLMs with fewer examples. *ICML*.  (anchor points, p-IRT, gp-IRT)
Polo, F. M. et al. (2024). Efficient multi-prompt evaluation of LLMs (PromptEval). *NeurIPS*.
Kipnis, A. et al. (2024). metabench: a sparse benchmark to measure general ability in LLMs.
Bock, R. D. & Mislevy, R. J. (1982). Adaptive EAP estimation of ability in a microcomputer environment.
*Applied Psychological Measurement*, 6, 431-444.
Benjamini, Y. & Hochberg, Y. (1995). Controlling the false discovery rate. *JRSS B*, 57, 289-300.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from scipy.special import expit, log_expit, logsumexp

from psychoml._base import Result
from psychoml.errors import DataError
from psychoml.irt._bench_io import CorrectnessMatrix, correctness_matrix, read_correctness
from psychoml.irt._mml import (
    _loglik_matrix,
    fit_2pl_mml,
    fit_m2pl_mml,
    linear_predictor,
    normal_quadrature,
    product_quadrature,
)

__all__ = [
    "SELECTION_METHODS",
    "AccuracyEstimateResult",
    "AdaptiveTestingResult",
    "BenchmarkFitResult",
    "ItemSelectionResult",
    "PromptSensitivityResult",
    "SelectionCrossValidationResult",
    "cross_validate_selection",
    "estimate_accuracy",
    "fit_benchmark",
    "load_calibration",
    "prompt_sensitivity",
    "save_calibration",
    "select_items",
    "simulate_adaptive_testing",
]

SELECTION_METHODS = ("information", "anchor", "stratified", "random")
_N_NODES = 61  # Gauss-Hermite nodes for scoring new models (as eap_theta's default)
_N_NODES_MD = 31  # per dimension for multidimensional calibrations (31^2 = 961 nodes)


def _as_matrix(data: Any, name: str = "data") -> CorrectnessMatrix:
    if isinstance(data, CorrectnessMatrix):
        return data
    if isinstance(data, (str, Path)):
        return read_correctness(data)
    return correctness_matrix(data, name=name)


def _bh(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (q-values)."""
    n = len(p)
    if n == 0:
        return p
    order = np.argsort(p)
    ranked = p[order] * n / np.arange(1, n + 1)
    q = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty(n)
    out[order] = np.minimum(q, 1.0)
    return out


# ------------------------------------------------------------------------------------------------- fit
@dataclasses.dataclass(frozen=True, repr=False)
class BenchmarkFitResult(Result):
    """A calibrated benchmark: 2PL item parameters, information, bad-item flags and the training data.

    Attributes
    ----------
    items
        One row per item: ``benchmark``, ``n_models``, ``p_correct``, ``a`` (discrimination), ``a_se``,
        ``d`` (intercept), ``b`` (difficulty ``-d/a``), ``z_a`` (signed normal score of the likelihood-ratio
        test of ``a = 0``), ``q_negative`` (BH-adjusted one-sided p-value for ``a < 0``),
        ``information`` (mean item information over ``ability_range``), ``flag`` ("" when fine).  With
        ``n_dims > 1`` also the slopes ``a1``, ``a2``, ... on the principal axes of the slope matrix (``a1``
        along the reference composite, the others orthogonal contrasts); ``a`` is then the multidimensional
        discrimination ``MDISC = ||A_j||`` signed by ``a1``, and ``b = -d / a`` the multidimensional difficulty
        (Reckase 2009, ch. 5).
    theta, theta_se
        EAP ability and posterior sd of each training model (with ``n_dims > 1``: along the reference
        composite, the direction ``direction`` that the items' slopes share most; Reckase 2009, ch. 5).
    matrix
        The training correctness matrix (models x items), kept for selection and gp-IRT weights.
    n_dims
        Number of ability dimensions (:attr:`direction` is the reference composite's axis).
    """

    items: pd.DataFrame
    theta: pd.Series
    theta_se: pd.Series
    matrix: pd.DataFrame = dataclasses.field(repr=False)
    loglik: float = float("nan")
    n_iter: int = 0
    converged: bool = False
    fit_seconds: float = 0.0
    ability_range: tuple[float, float] = (-2.0, 2.0)
    fdr: float = 0.05
    n_dims: int = 1

    def to_frame(self) -> pd.DataFrame:
        return self.items

    @property
    def direction(self) -> tuple[float, ...]:
        """Unit vector of the reference composite in the reported slope axes: the first axis, ``(1.0, 0.0, ...)``
        (:func:`fit_benchmark` reports the slopes on the principal axes of the slope matrix)."""
        return (1.0,) + (0.0,) * (self.n_dims - 1)

    @property
    def slopes(self) -> np.ndarray:
        """Item slopes as an ``(n_items, n_dims)`` array (the ``a`` column in 1-D, ``a1``, ``a2``, ... otherwise)."""
        cols = ["a"] if self.n_dims == 1 else [f"a{k + 1}" for k in range(self.n_dims)]
        return self.items[cols].to_numpy(dtype=float)

    @property
    def n_models(self) -> int:
        return int(self.matrix.shape[0])

    @property
    def n_items(self) -> int:
        return int(self.matrix.shape[1])

    @property
    def flagged(self) -> pd.DataFrame:
        """Items with a flag, worst first."""
        out = self.items[self.items["flag"] != ""]
        return out.sort_values("z_a")

    @property
    def benchmarks(self) -> pd.Series:
        return self.items["benchmark"]

    def flag_counts(self) -> pd.Series:
        return self.items.loc[self.items["flag"] != "", "flag"].value_counts()


def fit_benchmark(data: Any, *, n_dims: int = 1, ability_range: tuple[float, float] = (-2.0, 2.0),
                  near_zero: float = 0.25, fdr: float = 0.05, max_slope: float = 6.0, n_quad: int | None = None,
                  max_iter: int = 150, tol: float = 1e-4) -> BenchmarkFitResult:
    """Calibrate a benchmark: a 2PL (or multidimensional 2PL) fitted by marginal ML on the correctness matrix.

    Parameters
    ----------
    data
        Models x items correctness: a :class:`CorrectnessMatrix`, a wide/long DataFrame or a file path
        (see :func:`read_correctness`).  NaN = item not administered to that model.
    n_dims
        Ability dimensions.  1: the 2PL.  2 or more: the exploratory multidimensional 2PL
        (:func:`psychoml.irt._mml.fit_m2pl_mml`; R: ``mirt::mirt(data, n_dims, "2PL")``), for leaderboards whose
        models differ in more than one ability (say knowledge and reasoning).  Items are then described along
        the reference composite (see :class:`BenchmarkFitResult`), and selection, scoring and adaptive testing
        use the full slope vectors.
    ability_range
        Range of ability (on the N(0, 1) scale of the training models) over which the mean item
        information is reported.
    near_zero
        Discriminations in ``[0, near_zero)`` are flagged ``low_discrimination``.
    fdr
        False-discovery rate of the ``mislabelled`` flag (Benjamini-Hochberg over items).
    max_slope
        Slopes beyond ``+-max_slope`` mean (quasi-)separation - the item splits the training models
        perfectly, so ML drives ``|a|`` to infinity (common with fewer than ~150 models).  Such slopes
        are capped at ``max_slope`` keeping the difficulty ``b``, and the item is flagged
        ``unstable_slope`` (left out of information-based selection).
    n_quad, max_iter, tol
        Quadrature nodes (per dimension; default 41 in 1-D, 21 per dimension otherwise), iterations and
        tolerance of the EM (:func:`psychoml.irt._mml.fit_2pl_mml`; R: ``mirt::mirt(data, 1, "2PL")``).

    Notes
    -----
    **Mislabelled items.**  A flipped answer key turns an item's curve upside down: strong models fail
    and weak models pass, so its slope is negative.  For each item the likelihood-ratio statistic of
    ``a = 0`` is computed from the final E-step (expected counts ``r_jq``, ``n_jq`` per quadrature node):
    ``LR = 2 [sum_q r log P + (n - r) log(1 - P) - n (p log p + (1-p) log(1-p))]`` with ``p`` the item's
    proportion correct; ``z_a = sign(a) sqrt(LR)`` is approximately N(0, 1) under ``a = 0``.  With ``n_dims``
    dimensions LR has ``n_dims`` degrees of freedom and ``z_a = sign(a) Phi^-1(1 - P(chi2_K > LR) / 2)``, the
    sign being that of the slope along the reference composite.  The
    one-sided p-values ``Phi(z_a)`` are adjusted by Benjamini-Hochberg and items with
    ``q_negative <= fdr`` are flagged ``mislabelled`` (strong models fail, weak ones pass, more than
    chance allows).  Negative slopes that are not significant are flagged ``negative_discrimination``.
    Items every model gets right (``all_correct``) or wrong (``all_wrong``) carry no information; they
    are left out of the fit and predicted at their constant value.
    """
    cm = _as_matrix(data)
    X = cm.matrix.to_numpy(dtype=float)
    n_models, n_items = X.shape
    if n_models < 10:
        raise DataError(f"data: needs at least 10 models to calibrate items, got {n_models}")
    M = ~np.isnan(X)
    n_obs = M.sum(axis=0)
    never = np.flatnonzero(n_obs == 0)
    if len(never):
        cols = list(cm.matrix.columns[never][:5])
        raise DataError(f"data: item column(s) {', '.join(map(repr, cols))} have no answers from any model")
    p = np.nansum(X, axis=0) / n_obs
    constant = (p == 0.0) | (p == 1.0)
    use = ~constant
    if use.sum() < 2:
        raise DataError("data: fewer than 2 items vary across models; nothing to calibrate")
    if not isinstance(n_dims, (int, np.integer)) or n_dims < 1:
        raise DataError(f"n_dims: must be a positive integer, got {n_dims!r}")
    if n_dims > 1 and use.sum() <= 2 * n_dims:
        raise DataError(f"n_dims: {n_dims} dimensions need more than {2 * n_dims} varying items, got {use.sum()}")
    t0 = time.perf_counter()
    if n_dims == 1:
        em = fit_2pl_mml(X[:, use], n_quad=n_quad or 41, max_iter=max_iter, tol=tol)
        fitted_A = em.a[:, None]
    else:
        em = fit_m2pl_mml(X[:, use], n_dims=int(n_dims), n_quad=n_quad or 21, max_iter=max_iter, tol=tol)
        fitted_A = em.A
    seconds = time.perf_counter() - t0
    A = np.zeros((n_items, n_dims))
    d = np.zeros(n_items)
    A[use], d[use] = fitted_A, em.d
    if n_dims > 1:
        # Report the slopes on the principal axes of A'A: a1 along the reference composite, a2, ... orthogonal
        # to it.  Any rotation fits equally well under theta ~ N(0, I); this one reads as "general ability"
        # plus contrasts, where the EM's own (first item on the first axis) depends on the column order.
        # (Reckase 2009, sec. 5.3: the reference composite is the leading eigenvector of A'A), each axis signed so
        # that most items load positively on it
        _, vecs = np.linalg.eigh(A[use].T @ A[use])
        axes = vecs[:, ::-1] * np.where(np.sum(A[use] @ vecs[:, ::-1], axis=0) >= 0, 1.0, -1.0)
        A = A @ axes
    # signed MDISC; in one dimension sqrt(a^2) is |a| exactly, so this is a itself (a new array, not a view of A)
    a = np.sign(A[:, 0]) * np.sqrt((A**2).sum(axis=1))
    unstable = np.abs(a) > max_slope
    if unstable.any():
        shrink = max_slope / np.abs(a[unstable])  # keeps the difficulty -d/a and the slope's direction
        A[unstable] *= shrink[:, None]
        d[unstable] *= shrink
        a[unstable] *= shrink
    a_dir = A[:, 0]  # slope along the reference composite, the first axis (= a in 1-D)
    d[constant] = np.log((n_obs[constant] * p[constant] + 0.5) / (n_obs[constant] * (1 - p[constant]) + 0.5))

    nodes, qw = _ability_quadrature(n_dims)
    post = _posterior(X, A, d, nodes, np.log(qw))
    along = nodes[:, 0]
    theta = post @ along
    theta_se = np.sqrt(np.maximum(post @ along**2 - theta**2, 0.0))

    # E-step expected counts per item and node, at the estimates
    Xo = np.where(M, X, 0.0)
    R = Xo.T @ post
    N = M.T.astype(float) @ post
    z = A @ nodes.T + d[:, None]
    lp, lq = log_expit(z), log_expit(-z)
    q1 = (R * lp + (N - R) * lq).sum(axis=1)
    p0 = np.clip(R.sum(axis=1) / N.sum(axis=1), 1e-12, 1 - 1e-12)
    q0 = N.sum(axis=1) * (p0 * np.log(p0) + (1 - p0) * np.log1p(-p0))
    lr = np.maximum(2.0 * (q1 - q0), 0.0)
    if n_dims == 1:
        z_a = np.where(use, np.sign(a) * np.sqrt(lr), 0.0)
    else:
        z_a = np.where(use, np.sign(a) * stats.norm.isf(np.maximum(stats.chi2.sf(lr, n_dims), 1e-300) / 2), 0.0)
    # standard error of a from the information of (A_j, d_j) in the final E-step (each item given the others and
    # the ability distribution, as mirt's item-wise SEs); delta method for MDISC.  In several dimensions the
    # rotation is not a parameter of one item, so no item carries the constraint the EM used to fix it.
    W = N * expit(z) * expit(-z)
    design = np.column_stack([nodes, np.ones(len(nodes))])
    H = np.einsum("jq,qk,ql->jkl", W, design, design, optimize=True)
    g = np.zeros((n_items, n_dims + 1))
    g[:, :n_dims] = A / np.where(np.abs(a) > 0, np.abs(a), 1.0)[:, None] if n_dims > 1 else 1.0
    with np.errstate(invalid="ignore"):
        ok = use & (np.linalg.det(H) > 1e-12)
        var_a = np.full(n_items, np.nan)
        if ok.any():
            sol = np.linalg.solve(H[ok], g[ok][:, :, None])[:, :, 0]
            var_a[ok] = (g[ok] * sol).sum(axis=1)
        a_se = np.sqrt(np.where(var_a > 0, var_a, np.nan))
    q_neg = np.ones(n_items)
    q_neg[use] = _bh(stats.norm.cdf(z_a[use]))

    lo, hi = ability_range
    if not lo < hi:
        raise DataError(f"ability_range: lower bound {lo} must be below upper bound {hi}")
    grid = np.linspace(lo, hi, 21)
    P = expit(np.outer(grid, a_dir) + d)  # along the reference composite (the first axis)
    info = (a_dir**2 * P * (1 - P)).mean(axis=0)

    flag = np.full(n_items, "", dtype=object)
    flag[(a >= 0) & (a < near_zero) & use] = "low_discrimination"
    flag[(a < 0) & use] = "negative_discrimination"
    flag[unstable & (a > 0)] = "unstable_slope"
    flag[(a < 0) & use & (q_neg <= fdr)] = "mislabelled"
    flag[p == 1.0] = "all_correct"
    flag[p == 0.0] = "all_wrong"
    with np.errstate(divide="ignore", invalid="ignore"):
        b = np.where(a != 0, -d / a, np.nan)
    columns = {"benchmark": cm.benchmarks.reindex(cm.matrix.columns).to_numpy(), "n_models": n_obs,
               "p_correct": p, "a": a, "a_se": a_se, "d": d, "b": b}
    if n_dims > 1:
        columns.update({f"a{k + 1}": A[:, k] for k in range(n_dims)})
    columns.update({"z_a": z_a, "q_negative": q_neg, "information": info, "flag": flag})
    items = pd.DataFrame(columns, index=pd.Index(cm.matrix.columns, name="item"))
    return BenchmarkFitResult(items=items, theta=pd.Series(theta, index=cm.matrix.index, name="theta"),
                              theta_se=pd.Series(theta_se, index=cm.matrix.index, name="theta_se"),
                              matrix=cm.matrix, loglik=float(em.loglik), n_iter=int(em.n_iter),
                              converged=bool(em.converged), fit_seconds=seconds,
                              ability_range=(float(lo), float(hi)), fdr=fdr, n_dims=int(n_dims))


def _ability_quadrature(n_dims: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes ``(n_nodes, n_dims)`` and weights for EAP scoring under N(0, I)."""
    if n_dims == 1:
        nodes, w = normal_quadrature(_N_NODES)
        return nodes[:, None], w
    return product_quadrature(_N_NODES_MD, n_dims)


def _posterior(X: np.ndarray, a: np.ndarray, d: np.ndarray, nodes: np.ndarray, log_w: np.ndarray) -> np.ndarray:
    """Posterior weights (rows x nodes) of ability given 0/1/NaN answers X to items (slopes a, intercepts d).

    ``a`` is ``(n_items,)`` or ``(n_items, n_dims)``, ``nodes`` ``(n_nodes,)`` or ``(n_nodes, n_dims)``.
    """
    M = ~np.isnan(X)
    Xo = np.where(M, X, 0.0)
    ll = _loglik_matrix(Xo, M, a, d, nodes) + log_w
    return np.exp(ll - logsumexp(ll, axis=1, keepdims=True))


# ------------------------------------------------------------------------------------------------- select
@dataclasses.dataclass(frozen=True, repr=False)
class ItemSelectionResult(Result):
    """A selected subset of items with the weights of the observed-accuracy estimator.

    Attributes
    ----------
    items
        Selected item ids.
    weights
        Weight of each selected item in its benchmark's observed-accuracy estimate (sum 1 per benchmark):
        cluster share for anchor points, stratum share for stratified sampling, uniform otherwise.
    lambdas
        gp-IRT weight of the observed estimate per benchmark, estimated on the training models.
    """

    items: tuple[str, ...]
    weights: pd.Series
    benchmarks: pd.Series
    method: str
    n: int
    seed: int
    lambdas: pd.Series

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame({"benchmark": self.benchmarks.reindex(list(self.items)).to_numpy(),
                             "weight": self.weights.reindex(list(self.items)).to_numpy()},
                            index=pd.Index(list(self.items), name="item"))


def _allocate(n: int, sizes: pd.Series) -> pd.Series:
    """Split ``n`` over groups proportionally to ``sizes`` (largest remainder, at least one each)."""
    total = sizes.sum()
    if n < len(sizes):
        raise DataError(f"n: {n} items cannot cover {len(sizes)} benchmarks; ask for at least {len(sizes)}")
    if n > total:
        raise DataError(f"n: {n} items requested but only {total} can be selected")
    raw = n * sizes / total
    base = np.maximum(np.floor(raw).astype(int), 1)
    base = np.minimum(base, sizes)
    while base.sum() < n:
        room = (raw - base).where(base < sizes, -np.inf)
        base[room.idxmax()] += 1
    while base.sum() > n:
        over = (base - raw).where(base > 1, -np.inf)
        base[over.idxmax()] -= 1
    return base


def select_items(fit: BenchmarkFitResult, n: int, *, method: str = "information", seed: int = 0,
                 ability_range: tuple[float, float] | None = None, embedding: str = "correctness",
                 exclude_flagged: bool | None = None) -> ItemSelectionResult:
    """Select ``n`` items of a calibrated benchmark (split over benchmarks in proportion to their size).

    Parameters
    ----------
    method
        ``"information"``: greedy Bayesian D-optimal design over the ability range - each step adds the
        item maximising ``sum_g log(1 + T_g(S + i)) - log(1 + T_g(S))`` where ``T_g`` is the test
        information at grid point ``g`` (1 = precision of the N(0, 1) prior), i.e. it minimises the
        average log posterior variance of ability over the range (Fisher information selection; the
        logarithm spreads the information over the range instead of piling it at one point).  With
        ``n_dims > 1`` the same with information matrices and log-determinants over a grid of the
        ability square (:func:`_d_optimal_picks`).
        ``"anchor"``: tinyBenchmarks anchor points - k-means (k = n) on the items' correctness vectors
        over the training models (``embedding="correctness"``) or on their IRT parameters
        (``embedding="irt"``); the item nearest each centroid represents its cluster, weighted by the
        cluster's share of items.
        ``"stratified"``: random sampling within difficulty strata (deciles of proportion correct),
        allocated proportionally, weights = stratum share / items drawn.
        ``"random"``: simple random sample (the baseline).
    seed
        Seed of the random generator (k-means initialisation, sampling); results are deterministic.
    ability_range
        For ``"information"``; defaults to the range used in :func:`fit_benchmark`.
    exclude_flagged
        Leave flagged items out of the candidates.  Default: True for ``"information"`` (flagged items
        measure nothing), False for the representative methods, whose weighted observed accuracy must
        stand for every item of the benchmark.
    """
    if method not in SELECTION_METHODS:
        raise DataError(f"method: unknown selection method {method!r}; use one of {', '.join(SELECTION_METHODS)}")
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise DataError(f"n: must be a positive integer, got {n!r}")
    if embedding not in ("correctness", "irt"):
        raise DataError(f"embedding: use 'correctness' or 'irt', got {embedding!r}")
    items = fit.items
    if exclude_flagged is None:
        exclude_flagged = method == "information"
    candidate = (items["flag"] == "") if exclude_flagged else pd.Series(True, index=items.index)
    if method == "information":  # constant items never carry information
        candidate &= ~items["flag"].isin(["all_correct", "all_wrong"])
    pool = items[candidate]
    sizes = pool.groupby("benchmark", sort=False).size()
    alloc = _allocate(int(n), sizes)
    rng = np.random.default_rng(seed)
    lo, hi = ability_range or fit.ability_range
    chosen: list[str] = []
    weights: dict[str, float] = {}
    slopes = fit.slopes
    for bench, k in alloc.items():
        sub = pool[pool["benchmark"] == bench]
        ids = sub.index.to_numpy()
        sub_slopes = slopes[fit.items.index.get_indexer(ids)]
        if method == "information":
            sel = ids[_d_optimal_picks(sub_slopes, sub["d"].to_numpy(), int(k), lo, hi)]
            w = np.full(len(sel), 1.0 / len(sel))
        elif method == "anchor":
            from sklearn.cluster import KMeans

            if embedding == "correctness":
                E = fit.matrix[ids].to_numpy(dtype=float).T
                E = np.where(np.isnan(E), np.nanmean(E, axis=1, keepdims=True), E)
            else:
                E = np.column_stack([sub_slopes, sub["d"].to_numpy()])
                E = (E - E.mean(axis=0)) / np.where(E.std(axis=0) > 0, E.std(axis=0), 1.0)
            km = KMeans(n_clusters=int(k), n_init=3, random_state=seed).fit(E)
            dist = ((E - km.cluster_centers_[km.labels_]) ** 2).sum(axis=1)
            sel_idx, w_list = [], []
            for c in range(int(k)):
                members = np.flatnonzero(km.labels_ == c)
                if len(members) == 0:
                    continue
                sel_idx.append(members[np.argmin(dist[members])])
                w_list.append(len(members) / len(ids))
            sel, w = ids[sel_idx], np.asarray(w_list)
        elif method == "stratified":
            n_strata = max(1, min(10, int(k)))
            ranks = sub["p_correct"].rank(method="first").to_numpy()
            stratum = np.minimum((ranks - 1) * n_strata // len(ids), n_strata - 1).astype(int)
            counts = pd.Series(stratum).value_counts().sort_index()
            take = _allocate(int(k), counts)
            sel_list, w_list = [], []
            for h, kh in take.items():
                members = np.flatnonzero(stratum == h)
                pick = rng.choice(members, size=int(kh), replace=False)
                sel_list.extend(ids[np.sort(pick)])
                w_list.extend([len(members) / (kh * len(ids))] * int(kh))
            sel, w = np.asarray(sel_list, dtype=object), np.asarray(w_list)
        else:
            sel = ids[np.sort(rng.choice(len(ids), size=int(k), replace=False))]
            w = np.full(len(sel), 1.0 / len(sel))
        chosen.extend(map(str, sel))
        weights.update(dict(zip(map(str, sel), w / w.sum())))
    weight_s = pd.Series(weights, name="weight").reindex(chosen)
    lambdas = _gp_lambdas(fit, chosen, weight_s)
    return ItemSelectionResult(items=tuple(chosen), weights=weight_s,
                               benchmarks=items.loc[chosen, "benchmark"], method=method, n=len(chosen), seed=seed,
                               lambdas=lambdas)


def _d_optimal_picks(A: np.ndarray, d: np.ndarray, k: int, lo: float, hi: float) -> list[int]:
    """Greedy Bayesian D-optimal design for a (multidimensional) 2PL over the grid ``[lo, hi]^n_dims``.

    With ``T_g`` the test information matrix at grid point ``g`` plus the N(0, I) prior's ``I``, adding item ``i``
    raises ``log det T_g`` by ``log(1 + P Q a_i' T_g^-1 a_i)`` (matrix determinant lemma); the item with the
    largest sum over the grid is added.  In one dimension this is ``log(1 + a^2 P Q / T_g)`` summed over 21
    points (see :func:`select_items`); with more, 7 points per axis (Segall 1996, *Psychometrika* 61:331, for
    the D-optimal criterion in multidimensional adaptive testing).
    """
    n_dims = A.shape[1]
    axis = np.linspace(lo, hi, 21 if n_dims == 1 else 7)
    grid = np.stack(np.meshgrid(*([axis] * n_dims), indexing="ij"), axis=-1).reshape(-1, n_dims)
    P = expit(grid @ A.T + d)
    W = P * (1 - P)  # grid x items
    T = np.tile(np.eye(n_dims), (len(grid), 1, 1))
    free = np.ones(len(d), dtype=bool)
    picks: list[int] = []
    for _ in range(k):
        C = np.linalg.inv(T)
        quad = np.einsum("ik,gkl,il->gi", A, C, A, optimize=True)
        gain = np.log1p(W * quad).sum(axis=0)
        gain[~free] = -np.inf
        j = int(np.argmax(gain))
        picks.append(j)
        free[j] = False
        T += W[:, j, None, None] * np.outer(A[j], A[j])[None]
    return picks


# ------------------------------------------------------------------------------------------------- estimate
@dataclasses.dataclass(frozen=True, repr=False)
class AccuracyEstimateResult(Result):
    """Estimated full-benchmark accuracy of new models from their answers on a subset.

    ``table`` has one row per (model, benchmark): ``n_answered``, ``observed`` (weighted accuracy on the
    answered items), ``irt`` with ``irt_lower``/``irt_upper``, ``pirt`` (observed on answered + IRT
    prediction on the others), ``gpirt`` with ``gpirt_lower``/``gpirt_upper``, ``lambda``, ``theta``,
    ``theta_se``.
    """

    table: pd.DataFrame
    level: float

    def to_frame(self) -> pd.DataFrame:
        return self.table


class _Calib:
    """Arrays of a fit used repeatedly when scoring (curves on the quadrature nodes)."""

    def __init__(self, fit: BenchmarkFitResult) -> None:
        self.items = fit.items
        self.index = {k: i for i, k in enumerate(fit.items.index)}
        self.a = fit.slopes  # items x dims
        self.d = fit.items["d"].to_numpy(dtype=float)
        self.grid, qw = _ability_quadrature(fit.n_dims)  # nodes x dims
        self.nodes = self.grid[:, 0]  # each node's position along the reference composite (the first axis)
        self.log_w = np.log(qw)
        self.P = expit(linear_predictor(self.grid, self.a) + self.d)  # nodes x items
        self.bench = fit.items["benchmark"].to_numpy()
        self.bench_names = list(dict.fromkeys(self.bench))
        self.bench_idx = {b: np.flatnonzero(self.bench == b) for b in self.bench_names}


def _score(cal: _Calib, Y: np.ndarray, cols: np.ndarray, w: np.ndarray, lambdas: dict[str, float],
           mse: dict[str, tuple[float, float]] | None, z: float) -> dict[str, dict[str, np.ndarray]]:
    """Estimators for rows Y (models x len(cols), 0/1/NaN) answered on item columns ``cols``."""
    M = ~np.isnan(Y)
    Yo = np.where(M, Y, 0.0)
    post = _posterior(Y, cal.a[cols], cal.d[cols], cal.grid, cal.log_w)
    theta = post @ cal.nodes
    theta_se = np.sqrt(np.maximum(post @ cal.nodes**2 - theta**2, 0.0))
    out: dict[str, dict[str, np.ndarray]] = {}
    col_bench = cal.bench[cols]
    for b in cal.bench_names:
        B = cal.bench_idx[b]
        nb = len(B)
        PB = cal.P[:, B]
        PQ = PB * (1 - PB)
        acc_k = PB.mean(axis=1)
        irt = post @ acc_k
        var_irt = np.maximum(post @ acc_k**2 - irt**2, 0.0) + post @ PQ.sum(axis=1) / nb**2
        sb = np.flatnonzero(col_bench == b)
        Ms = M[:, sb].astype(float)
        Ps = cal.P[:, cols[sb]]
        unseen_curve = PB.sum(axis=1)[None, :] - Ms @ Ps.T  # models x nodes
        unseen_pq = PQ.sum(axis=1)[None, :] - Ms @ (Ps * (1 - Ps)).T
        mu = (post * unseen_curve).sum(axis=1)
        var_u = (np.maximum((post * unseen_curve**2).sum(axis=1) - mu**2, 0.0)
                 + np.maximum((post * unseen_pq).sum(axis=1), 0.0))
        n_seen = Ms.sum(axis=1)
        pirt = (Yo[:, sb].sum(axis=1) + mu) / nb
        var_pirt = var_u / nb**2
        ws = Ms * w[sb][None, :]
        wsum = ws.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            observed = np.where(wsum > 0, (ws * Yo[:, sb]).sum(axis=1) / wsum, np.nan)
        lam = float(lambdas.get(b, 0.0))
        lam_m = np.where(n_seen > 0, lam, 0.0)
        gp = np.where(n_seen > 0, lam_m * np.nan_to_num(observed) + (1 - lam_m) * pirt, pirt)
        if mse is not None and b in mse:
            m_obs, m_pirt = mse[b]
            # errors of the two parts taken as independent; their sizes are the training-model MSEs,
            # floored by this model's own model-based variance of the p-IRT part
            var_gp = lam_m**2 * m_obs + (1 - lam_m) ** 2 * np.maximum(m_pirt, var_pirt)
        else:
            var_gp = var_pirt
        out[b] = {
            "n_answered": n_seen, "observed": observed,
            "irt": irt, "irt_lower": np.clip(irt - z * np.sqrt(var_irt), 0, 1),
            "irt_upper": np.clip(irt + z * np.sqrt(var_irt), 0, 1),
            "pirt": pirt, "gpirt": gp, "gpirt_lower": np.clip(gp - z * np.sqrt(var_gp), 0, 1),
            "gpirt_upper": np.clip(gp + z * np.sqrt(var_gp), 0, 1), "lambda": lam_m,
            "theta": theta, "theta_se": theta_se,
        }
    return out


def _truth(cal: _Calib, Y_full: np.ndarray) -> dict[str, np.ndarray]:
    return {b: np.nanmean(Y_full[:, cal.bench_idx[b]], axis=1) for b in cal.bench_names}


def _gp_mse(fit: BenchmarkFitResult, cal: _Calib, cols: np.ndarray, w: np.ndarray) -> dict[str, tuple[float, float]]:
    """Training-model MSE of the observed and the p-IRT estimators on the subset ``cols``."""
    X = fit.matrix.to_numpy(dtype=float)
    est = _score(cal, X[:, cols], cols, w, {}, None, 1.96)
    truth = _truth(cal, X)
    out = {}
    for b, e in est.items():
        ok = ~np.isnan(e["observed"])
        if not ok.any():
            continue
        out[b] = (float(np.mean((e["observed"][ok] - truth[b][ok]) ** 2)),
                  float(np.mean((e["pirt"][ok] - truth[b][ok]) ** 2)))
    return out


def _lambdas_from_mse(mse: dict[str, tuple[float, float]]) -> dict[str, float]:
    # tinyBenchmarks' gp-IRT weight lambda = b^2 / (b^2 + v): b^2 the (squared) error of p-IRT,
    # v that of the observed-accuracy estimator; both measured on the training models.
    return {b: (mp / (mo + mp) if mo + mp > 0 else 0.5) for b, (mo, mp) in mse.items()}


def _gp_lambdas(fit: BenchmarkFitResult, items: Sequence[str], weights: pd.Series) -> pd.Series:
    cal = _Calib(fit)
    cols = np.array([cal.index[i] for i in items], dtype=int)
    lam = _lambdas_from_mse(_gp_mse(fit, cal, cols, weights.reindex(list(items)).to_numpy(dtype=float)))
    return pd.Series(lam, name="lambda", dtype=float)


def _answers_matrix(fit: BenchmarkFitResult, answers: Any) -> pd.DataFrame:
    cm = _as_matrix(answers, name="answers")
    unknown = [c for c in cm.matrix.columns if c not in fit.items.index]
    if unknown:
        shown = ", ".join(map(repr, unknown[:5])) + (f" ... ({len(unknown)} in all)" if len(unknown) > 5 else "")
        raise DataError(f"answers: item(s) {shown} are absent from the fitted benchmark "
                        f"({fit.n_items} calibrated items); check item ids (benchmark/item when a benchmark "
                        "column was used)")
    return cm.matrix


def estimate_accuracy(fit: BenchmarkFitResult, answers: Any, *, selection: ItemSelectionResult | None = None,
                      level: float = 0.95) -> AccuracyEstimateResult:
    """Estimate new models' full-benchmark accuracy from their answers on a subset of calibrated items.

    Estimators (per benchmark ``B`` with ``N_B`` items; ``S`` the answered items, ``theta`` the EAP
    posterior from the answers):

    * ``irt``: ``E_post[ mean_{i in B} P_i(theta) ]``; interval from the posterior variance of that
      mean plus the Bernoulli variance of the ``N_B`` answers.
    * ``pirt`` (tinyBenchmarks p-IRT): ``(sum_{i in S} y_i + sum_{i in B\\S} E_post P_i(theta)) / N_B``.
    * ``gpirt`` (tinyBenchmarks gp-IRT): ``lambda * observed + (1 - lambda) * pirt`` with
      ``observed = sum_{i in S} w_i y_i`` (selection weights) and ``lambda = b^2 / (b^2 + v)``,
      ``b^2`` and ``v`` the mean squared errors of p-IRT and of the observed estimator on the training
      models for this subset.  Interval: ``+- z sqrt(lambda^2 v + (1 - lambda)^2 b^2)``.

    Parameters
    ----------
    answers
        Wide (models x items) or long table / file of the new models' 0/1 answers (NaN = not asked).
        Items must belong to the fitted benchmark.
    selection
        The selection the answers come from (its weights feed the observed part); default uniform weights
        over the answered items.
    level
        Coverage of the intervals.
    """
    if not 0 < level < 1:
        raise DataError(f"level: must be in (0, 1), got {level}")
    ans = _answers_matrix(fit, answers)
    cal = _Calib(fit)
    z = float(stats.norm.ppf(0.5 + level / 2))
    answered = ~ans.isna()
    keys = answered.apply(lambda r: tuple(ans.columns[r.to_numpy()]), axis=1)
    frames = []
    for key, models in keys.groupby(keys, sort=False):
        if not key:
            raise DataError(f"answers: model(s) {', '.join(map(repr, list(models.index)[:5]))} answered no item")
        cols = np.array([cal.index[i] for i in key], dtype=int)
        if selection is not None:
            w = selection.weights.reindex(list(key)).fillna(0.0).to_numpy(dtype=float)
            if w.sum() == 0:
                w = np.ones(len(key))
        else:
            w = np.ones(len(key))
        mse = _gp_mse(fit, cal, cols, w)
        lam = _lambdas_from_mse(mse)
        Y = ans.loc[models.index, list(key)].to_numpy(dtype=float)
        est = _score(cal, Y, cols, w, lam, mse, z)
        for b, e in est.items():
            f = pd.DataFrame(e, index=models.index)
            f.insert(0, "benchmark", b)
            frames.append(f)
    table = pd.concat(frames)
    table.index.name = "model"
    table = table.reset_index().set_index(["model", "benchmark"]).loc[
        [(m, b) for m in ans.index for b in cal.bench_names]]
    return AccuracyEstimateResult(table=table, level=level)


# ------------------------------------------------------------------------------------------------- cross-validation
@dataclasses.dataclass(frozen=True, repr=False)
class SelectionCrossValidationResult(Result):
    """Leave-models-out cross-validation of subset selection + accuracy estimation.

    ``table``: one row per (method, n, estimator) with ``mae`` (in accuracy units, 0-1), ``rmse``,
    ``max_error``, ``coverage`` (share of held-out truths inside the interval; NaN for estimators
    without one) and ``n_predictions``.  ``errors``: every held-out prediction.
    """

    table: pd.DataFrame
    errors: pd.DataFrame = dataclasses.field(repr=False)
    folds: int = 5
    fit_seconds: float = 0.0

    def to_frame(self) -> pd.DataFrame:
        return self.table

    def mae_table(self, estimator: str = "gpirt") -> pd.DataFrame:
        """MAE in percentage points, rows = subset size, columns = method (random baseline included)."""
        t = self.table[self.table["estimator"] == estimator]
        out = t.pivot(index="n", columns="method", values="mae") * 100
        return out

    def plot(self, path: str | Path, *, estimators: Sequence[str] = ("gpirt", "observed")) -> Path:
        """Save the MAE-vs-n curves (one line per method x estimator) as SVG/PNG/PDF."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6.5, 4.2))
        for (method, est), g in self.table[self.table["estimator"].isin(estimators)].groupby(["method", "estimator"]):
            g = g.sort_values("n")
            ax.plot(g["n"], g["mae"] * 100, marker="o", linestyle="-" if est == "gpirt" else "--",
                    label=f"{method} / {est}")
        ax.set_xlabel("items in subset (n)")
        ax.set_ylabel("MAE of estimated accuracy (points)")
        ax.set_xscale("log")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        ax.set_title(f"Leave-models-out CV ({self.folds} folds)")
        fig.tight_layout()
        path = Path(path)
        fig.savefig(path)
        plt.close(fig)
        return path


def cross_validate_selection(data: Any, *, sizes: Sequence[int] = (25, 50, 100, 200),
                             methods: Sequence[str] = ("information", "anchor", "stratified"),
                             folds: int = 5, seed: int = 0, random_repeats: int = 3, max_folds: int | None = None,
                             level: float = 0.95, fit_options: dict[str, Any] | None = None
                             ) -> SelectionCrossValidationResult:
    """Leave-models-out K-fold cross-validation: MAE of estimated accuracy against subset size.

    Models are split into ``folds`` groups (seeded); for each fold the benchmark is calibrated on the
    other models, ``n`` items are selected by each method, and the held-out models' full-benchmark
    accuracy is estimated from their answers on those items only and compared with their true accuracy
    on all items.  Random subsets of the same size (``random_repeats`` draws) are the baseline, scored
    with every estimator (the ``observed`` estimator on a random subset is plain subsampling).
    ``max_folds`` runs only the first folds (a quicker, noisier estimate).
    """
    cm = _as_matrix(data)
    if folds < 2:
        raise DataError(f"folds: need at least 2, got {folds}")
    for m in methods:
        if m not in SELECTION_METHODS:
            raise DataError(f"methods: unknown selection method {m!r}")
    rng = np.random.default_rng(seed)
    fold_of = rng.permutation(np.arange(cm.n_models) % folds)
    rows = []
    fit_seconds = 0.0
    run = list(methods) + (["random"] if "random" not in methods else [])
    z = float(stats.norm.ppf(0.5 + level / 2))
    for k in range(folds if max_folds is None else min(folds, max_folds)):
        train = cm.matrix.iloc[fold_of != k]
        test = cm.matrix.iloc[fold_of == k]
        fit = fit_benchmark(CorrectnessMatrix(train, cm.benchmarks, cm.source), **(fit_options or {}))
        fit_seconds += fit.fit_seconds
        cal = _Calib(fit)
        Xt = test.to_numpy(dtype=float)
        truth = _truth(cal, Xt)
        for method in run:
            reps = random_repeats if method == "random" else 1
            for n in sizes:
                for r in range(reps):
                    sel = select_items(fit, int(n), method=method, seed=seed + r)
                    cols = np.array([cal.index[i] for i in sel.items], dtype=int)
                    w = sel.weights.to_numpy(dtype=float)
                    mse = _gp_mse(fit, cal, cols, w)
                    est = _score(cal, Xt[:, cols], cols, w, _lambdas_from_mse(mse), mse, z)
                    for b, e in est.items():
                        for name in ("observed", "irt", "pirt", "gpirt"):
                            lower = e.get(f"{name}_lower")
                            upper = e.get(f"{name}_upper")
                            for j, model in enumerate(test.index):
                                rows.append((k, method, int(n), r, b, model, name, e[name][j], truth[b][j],
                                             np.nan if lower is None else lower[j],
                                             np.nan if upper is None else upper[j]))
    errors = pd.DataFrame(rows, columns=["fold", "method", "n", "repeat", "benchmark", "model", "estimator",
                                         "estimate", "truth", "lower", "upper"])
    errors["error"] = errors["estimate"] - errors["truth"]
    inside = (errors["truth"] >= errors["lower"]) & (errors["truth"] <= errors["upper"])
    errors["covered"] = np.where(errors["lower"].isna(), np.nan, inside.astype(float))
    table = errors.groupby(["method", "n", "estimator"], sort=False).agg(
        mae=("error", lambda e: float(np.mean(np.abs(e)))), rmse=("error", lambda e: float(np.sqrt(np.mean(e**2)))),
        max_error=("error", lambda e: float(np.max(np.abs(e)))), coverage=("covered", "mean"),
        n_predictions=("error", "size")).reset_index()
    return SelectionCrossValidationResult(table=table, errors=errors, folds=folds, fit_seconds=fit_seconds)


# ------------------------------------------------------------------------------------------------- adaptive testing
@dataclasses.dataclass(frozen=True, repr=False)
class AdaptiveTestingResult(Result):
    """Items needed to reach a target ability SE: adaptive (max information) vs random order.

    ``per_model``: ``items_adaptive``, ``items_random`` (items administered when the posterior sd first
    fell to ``se_target``; NaN if never within ``max_items``), ``theta_adaptive``, ``theta_random``,
    ``theta_full`` (EAP from every answered item), ``se_adaptive``, ``se_random``.
    """

    per_model: pd.DataFrame
    se_target: float
    max_items: int

    def to_frame(self) -> pd.DataFrame:
        return self.per_model

    def summary(self) -> pd.DataFrame:
        """Side by side: mean / median / max items and share reaching the target, adaptive vs random."""
        out = {}
        for order in ("adaptive", "random"):
            col = self.per_model[f"items_{order}"]
            out[order] = {"mean_items": col.mean(), "median_items": col.median(), "max_items": col.max(),
                          "reached_target": float(col.notna().mean()),
                          "rmse_theta_vs_full": float(np.sqrt(np.mean(
                              (self.per_model[f"theta_{order}"] - self.per_model["theta_full"]) ** 2)))}
        return pd.DataFrame(out)


def simulate_adaptive_testing(fit: BenchmarkFitResult, answers: Any, *, se_target: float = 0.3,
                              max_items: int = 500, seed: int = 0, exclude_flagged: bool = True
                              ) -> AdaptiveTestingResult:
    """Simulate computerised adaptive testing on models whose answers to the whole benchmark are known.

    At each step the item with maximum Fisher information ``a^2 P(1 - P)`` at the current EAP ability
    (Bock & Mislevy, 1982; prior N(0, 1), Gauss-Hermite posterior) is administered - its recorded answer
    is revealed - until the posterior sd reaches ``se_target``.  The same update with items in a random
    (seeded) order is the baseline.  The pool is the calibrated items (unflagged ones by default) that
    the model answered.

    For a multidimensional calibration the posterior lives on the product quadrature, the next item
    maximises the gain in ``log det`` of the posterior information, ``P Q a' Sigma a`` at the EAP with
    ``Sigma`` the posterior covariance (Segall 1996), and the stopping SE is that of the ability along
    the reference composite (the ``theta`` reported).
    """
    if se_target <= 0:
        raise DataError(f"se_target: must be positive, got {se_target}")
    ans = _answers_matrix(fit, answers)
    cal = _Calib(fit)
    pool_items = [c for c in ans.columns if not exclude_flagged or fit.items.at[c, "flag"] == ""]
    if not pool_items:
        raise DataError("answers: no usable (unflagged) calibrated items among the answered columns")
    cols = np.array([cal.index[i] for i in pool_items], dtype=int)
    Y = ans[pool_items].to_numpy(dtype=float)
    avail = ~np.isnan(Y)
    a, d = cal.a[cols], cal.d[cols]  # a: pool x dims
    z = linear_predictor(cal.grid, a) + d  # nodes x pool
    lP, lQ = log_expit(z), log_expit(-z)
    m, c = Y.shape
    steps = int(min(max_items, c))
    rng = np.random.default_rng(seed)
    results = {}
    for order in ("adaptive", "random"):
        logpost = np.tile(cal.log_w, (m, 1))
        used = ~avail
        needed = np.full(m, np.nan)
        theta = np.zeros(m)
        se = np.ones(m)
        prio = np.argsort(rng.random((m, c)), axis=1) if order == "random" else None
        rank = np.empty_like(prio) if prio is not None else None
        if prio is not None:
            rank[np.arange(m)[:, None], prio] = np.arange(c)[None, :]
        for step in range(steps + 1):
            post = np.exp(logpost - logsumexp(logpost, axis=1, keepdims=True))
            theta = post @ cal.nodes
            se = np.sqrt(np.maximum(post @ cal.nodes**2 - theta**2, 0.0))
            newly = np.isnan(needed) & (se <= se_target)
            needed[newly] = step
            active = np.isnan(needed) & ~used.all(axis=1)
            if step == steps or not active.any():
                break
            if order == "adaptive" and fit.n_dims == 1:
                p = expit(np.outer(theta[active], a[:, 0]) + d)
                score = a[:, 0] ** 2 * p * (1 - p)
            elif order == "adaptive":
                pa = post[active]
                mean = pa @ cal.grid  # EAP vectors
                cov = np.einsum("mq,qk,ql->mkl", pa, cal.grid, cal.grid) - mean[:, :, None] * mean[:, None, :]
                p = expit(mean @ a.T + d)
                score = p * (1 - p) * np.einsum("ik,mkl,il->mi", a, cov, a, optimize=True)
            else:
                score = -rank[active].astype(float)
            score = np.where(used[active], -np.inf, score)
            j = np.argmax(score, axis=1)
            rows = np.flatnonzero(active)
            y = Y[rows, j]
            logpost[rows] += np.where(y[:, None] == 1.0, lP[:, j].T, lQ[:, j].T)
            used[rows, j] = True
        results[order] = (needed, theta, se)
    full_post = _posterior(Y, a, d, cal.grid, cal.log_w)
    per_model = pd.DataFrame({
        "items_adaptive": results["adaptive"][0], "items_random": results["random"][0],
        "theta_adaptive": results["adaptive"][1], "theta_random": results["random"][1],
        "theta_full": full_post @ cal.nodes, "se_adaptive": results["adaptive"][2],
        "se_random": results["random"][2]}, index=ans.index)
    return AdaptiveTestingResult(per_model=per_model, se_target=se_target, max_items=steps)


# ------------------------------------------------------------------------------------------------- prompt sensitivity
@dataclasses.dataclass(frozen=True, repr=False)
class PromptSensitivityResult(Result):
    """Distribution of each model's accuracy across prompt templates, from a fraction of the cells.

    ``quantiles``: models x requested quantiles of the estimated per-template accuracy.
    ``template_accuracy``: per (model, template) ``n_observed``, ``observed`` (accuracy on the observed
    cells) and ``estimated`` (observed cells + model-predicted unobserved cells, over all items).
    """

    quantiles: pd.DataFrame
    template_accuracy: pd.DataFrame
    fraction_observed: float

    def to_frame(self) -> pd.DataFrame:
        return self.quantiles


def prompt_sensitivity(data: pd.DataFrame, *, model_column: str = "model", template_column: str = "template",
                       item_column: str = "item", value_column: str = "correct",
                       quantiles: Sequence[float] = (0.05, 0.25, 0.5, 0.75, 0.95), template_ridge: float = 1.0,
                       item_ridge: float = 0.1) -> PromptSensitivityResult:
    """PromptEval-style estimate of the across-template accuracy distribution from sparse cells.

    Model (a Rasch-type model with prompt-template effects, as PromptEval's basic variant):
    ``logit P(y_mti = 1) = mu_m + delta_mt + beta_i`` with ridge penalties
    ``template_ridge/2 sum delta^2`` (templates shrink to the model's mean, which borrows strength
    between a model's templates) and ``item_ridge/2 sum beta^2``; item easiness ``beta`` is shared by
    all models, so items a model never saw under a template are still predicted.  Fitted by penalised
    maximum likelihood (L-BFGS).  The accuracy of template ``t`` is ``(sum of observed y + sum of
    predicted P over unobserved items) / n_items``; quantiles are taken over a model's templates.

    ``data`` is a long table with one row per observed cell (NaN or absent = not evaluated).
    """
    from scipy.optimize import minimize

    need = [model_column, template_column, item_column, value_column]
    missing = [c for c in need if c not in data.columns]
    if missing:
        raise DataError(f"data: needs column(s) {', '.join(map(repr, missing))}")
    for q in quantiles:
        if not 0 <= q <= 1:
            raise DataError(f"quantiles: {q} is outside [0, 1]")
    frame = data[need].copy()
    items_all = list(dict.fromkeys(frame[item_column].astype(str)))
    frame = frame[frame[value_column].notna()]
    y = pd.Series(_check_binary(frame[value_column], value_column), index=frame.index)
    dup = frame.duplicated([model_column, template_column, item_column], keep=False)
    if dup.any():
        first = frame[dup].iloc[0]
        raise DataError(f"data: duplicate (model, template, item) cell ({first[model_column]!r}, "
                        f"{first[template_column]!r}, {first[item_column]!r}) in row(s) "
                        f"{', '.join(map(str, list(frame.index[dup])[:5]))}")
    mt = pd.MultiIndex.from_arrays([frame[model_column].astype(str), frame[template_column].astype(str)])
    mt_codes, mt_levels = pd.factorize(mt)
    m_codes, m_levels = pd.factorize(frame[model_column].astype(str))
    item_pos = {k: i for i, k in enumerate(items_all)}
    i_codes = frame[item_column].astype(str).map(item_pos).to_numpy()
    n_m, n_mt, n_i = len(m_levels), len(mt_levels), len(items_all)
    mt_model = pd.Index(m_levels).get_indexer(mt_levels.get_level_values(0))
    yv = y.to_numpy()

    def unpack(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return x[:n_m], x[n_m:n_m + n_mt], x[n_m + n_mt:]

    def objective(x: np.ndarray) -> tuple[float, np.ndarray]:
        mu, delta, beta = unpack(x)
        eta = mu[m_codes] + delta[mt_codes] + beta[i_codes]
        nll = -float(np.sum(yv * log_expit(eta) + (1 - yv) * log_expit(-eta)))
        nll += 0.5 * template_ridge * float(delta @ delta) + 0.5 * item_ridge * float(beta @ beta)
        r = expit(eta) - yv
        g = np.concatenate([np.bincount(m_codes, r, n_m),
                            np.bincount(mt_codes, r, n_mt) + template_ridge * delta,
                            np.bincount(i_codes, r, n_i) + item_ridge * beta])
        return nll, g

    res = minimize(objective, np.zeros(n_m + n_mt + n_i), jac=True, method="L-BFGS-B",
                   options={"maxiter": 2000})
    mu, delta, beta = unpack(res.x)
    # per (model, template): observed sums and predicted sums over all items
    eta_all = (mu[mt_model] + delta)[:, None] + beta[None, :]  # templates x items
    pred_all = expit(eta_all).sum(axis=1)
    eta_obs = mu[m_codes] + delta[mt_codes] + beta[i_codes]
    pred_obs = np.bincount(mt_codes, expit(eta_obs), n_mt)
    obs_sum = np.bincount(mt_codes, yv, n_mt)
    n_obs = np.bincount(mt_codes, minlength=n_mt)
    estimated = (obs_sum + pred_all - pred_obs) / n_i
    ta = pd.DataFrame({"n_observed": n_obs, "observed": np.where(n_obs > 0, obs_sum / np.maximum(n_obs, 1), np.nan),
                       "estimated": estimated}, index=pd.MultiIndex.from_tuples(list(mt_levels),
                                                                                names=["model", "template"]))
    qs = ta.groupby(level="model", sort=False)["estimated"].quantile(list(quantiles)).unstack()
    qs.columns = [f"q{q:g}" for q in quantiles]
    return PromptSensitivityResult(quantiles=qs, template_accuracy=ta,
                                   fraction_observed=float(len(frame) / max(n_mt * n_i, 1)))


def _check_binary(values: pd.Series, column: str) -> np.ndarray:
    arr = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    bad = np.isnan(arr) | ((arr != 0) & (arr != 1))
    if bad.any():
        rows = list(values.index[bad][:5])
        raise DataError(f"data: column {column!r} has non-binary entries "
                        f"{', '.join(map(repr, list(values[bad].unique())[:3]))} in row(s) "
                        f"{', '.join(map(str, rows))}; expected 0/1")
    return arr


# ------------------------------------------------------------------------------------------------- persistence
_FORMAT = "psychoml-benchmark-calibration"


def save_calibration(fit: BenchmarkFitResult, path: str | Path) -> Path:
    """Write a calibration (item table, abilities, training matrix) to ``.json`` or ``.npz``."""
    path = Path(path)
    meta = {"format": _FORMAT, "version": 1, "loglik": fit.loglik, "n_iter": fit.n_iter,
            "converged": fit.converged, "fit_seconds": fit.fit_seconds, "ability_range": list(fit.ability_range),
            "fdr": fit.fdr, "items": json.loads(fit.items.to_json(orient="split")),
            "models": list(map(str, fit.matrix.index)), "theta": fit.theta.tolist(),
            "theta_se": fit.theta_se.tolist(), "n_dims": fit.n_dims}
    X = fit.matrix.to_numpy(dtype=float)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".npz":
        codes = np.where(np.isnan(X), -1, X).astype(np.int8)
        np.savez_compressed(path, meta=np.array(json.dumps(meta)), matrix=codes)
    elif path.suffix.lower() == ".json":
        meta["matrix"] = ["".join("." if np.isnan(v) else str(int(v)) for v in row) for row in X]
        path.write_text(json.dumps(meta))
    else:
        raise DataError(f"{path}: calibration files end in .json or .npz")
    return path


def _check_format(path: Path, meta: Any) -> None:
    if not isinstance(meta, dict) or meta.get("format") != _FORMAT:
        got = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise DataError(f"{path}: not a psychoml benchmark calibration (format {got!r})")


def load_calibration(path: str | Path) -> BenchmarkFitResult:
    """Read a calibration written by :func:`save_calibration`."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: calibration file not found")
    try:
        if path.suffix.lower() == ".npz":
            with np.load(path) as z:
                meta = json.loads(str(z["meta"]))
                _check_format(path, meta)
                X = z["matrix"].astype(float)
            X[X < 0] = np.nan
        else:
            meta = json.loads(path.read_text())
            _check_format(path, meta)
            X = np.array([[np.nan if ch == "." else float(ch) for ch in row] for row in meta["matrix"]])
    except DataError:
        raise
    except (OSError, ValueError, KeyError) as exc:
        raise DataError(f"{path}: not a readable psychoml benchmark calibration file ({exc})") from None
    it = meta["items"]
    items = pd.DataFrame(it["data"], index=pd.Index(it["index"], name="item"), columns=it["columns"])
    items["flag"] = items["flag"].fillna("").astype(str)
    for c in items.columns:
        if c not in ("benchmark", "flag"):
            items[c] = pd.to_numeric(items[c])
    models = pd.Index(meta["models"], name="model")
    matrix = pd.DataFrame(X.reshape(len(models), len(items)), index=models, columns=items.index.copy())
    matrix.columns.name = None
    return BenchmarkFitResult(items=items, theta=pd.Series(meta["theta"], index=models, name="theta"),
                              theta_se=pd.Series(meta["theta_se"], index=models, name="theta_se"), matrix=matrix,
                              loglik=meta["loglik"], n_iter=meta["n_iter"], converged=meta["converged"],
                              fit_seconds=meta["fit_seconds"], ability_range=tuple(meta["ability_range"]),
                              fdr=meta["fdr"], n_dims=int(meta.get("n_dims", 1)))
