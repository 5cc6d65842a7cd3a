"""Classical reliability: alpha, lambda-6, split-half, omega, ICC, test-retest, inter-variant.

Every function takes a plain :class:`pandas.DataFrame` (or 2-D array) of
respondents x items, validated at the boundary; the repeated-measures
functions (:func:`test_retest`, :func:`inter_variant_reliability`) also take a
long table with one row per object and occasion/variant (or per object,
occasion/variant and item, e.g. a store's ``responses()`` table, with
``item=`` naming the item column).  Numbers agree with
R's ``psych`` 2.2.9 (see ``tests/reference/reliability/make_reference.R``).

Conventions shared by the item-level statistics
-----------------------------------------------
``keys``
    ``+1/-1`` per column (or a ``{column: -1}`` mapping, or psych-style names
    with a leading ``"-"``), as ``psych``'s ``keys``.  Reverse-keyed items enter
    covariances with their sign flipped; where raw scores are needed they are
    reflected as ``min + max - x`` over the whole table, as ``psych::alpha``.
``missing``
    ``"pairwise"`` (default, psych's ``use = "pairwise"``): each covariance
    uses the rows where both items are observed; ``"listwise"``: rows with any
    missing item are dropped first.  Rows with *every* item missing are an
    error, not silently dropped.
Bad input
    Non-numeric columns, fewer than two items, a constant item or an
    all-missing row raise :class:`~psychoml.errors.DataError` naming it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats as sps

from psychoml._base import Result, check_not_constant, numeric_frame, single_threaded_blas
from psychoml.errors import DataError
from psychoml.stats import _reliability_splits as splits
from psychoml.stats._reliability_factor import schmid_leiman, smc
from psychoml.stats._reliability_input import KeysLike, PreparedItems, keyed_scores, prepare_items, resolve_keys
from psychoml.stats._reliability_reml import reml_variance_components

__all__ = [
    "CronbachAlphaResult",
    "GuttmanLambda6Result",
    "IccResult",
    "InterVariantResult",
    "OmegaResult",
    "SplitHalfResult",
    "TestRetestResult",
    "cronbach_alpha",
    "guttman_lambda6",
    "icc",
    "inter_variant_reliability",
    "omega",
    "split_half",
    "test_retest",
]

ICC_FORMS = ("ICC1", "ICC2", "ICC3", "ICC1k", "ICC2k", "ICC3k")


def _check_ci(ci: float) -> float:
    try:
        level = float(ci)
    except (TypeError, ValueError) as exc:
        raise DataError(f"ci: expected a confidence level in (0, 1), got {ci!r}") from exc
    if not 0.0 < level < 1.0:
        raise DataError(f"ci: expected a confidence level in (0, 1), got {ci!r}")
    return level


def _raw_alpha(cov: np.ndarray) -> float:
    k = cov.shape[0]
    return float((1.0 - np.trace(cov) / cov.sum()) * k / (k - 1))


def _std_alpha(corr: np.ndarray) -> float:
    k = corr.shape[0]
    return float((1.0 - k / corr.sum()) * k / (k - 1))


def _lambda6(mat: np.ndarray) -> float:
    """Guttman's lambda-6 of a covariance or correlation matrix.

    ``1 - sum_j var_j (1 - smc_j) / var(total)``; on a correlation matrix this
    is psych's ``G6(smc)``, ``1 - (k - sum(smc)) / sum(R)``.
    """
    d = np.sqrt(np.diag(mat))
    corr = mat / np.outer(d, d)
    errors = np.diag(mat) * (1.0 - smc(corr))
    return float(1.0 - errors.sum() / mat.sum())


# --------------------------------------------------------------------------- alpha


@dataclasses.dataclass(frozen=True, repr=False)
class CronbachAlphaResult(Result):
    """Cronbach's alpha with its interval and item statistics.

    ``to_frame()`` gives one row per item: ``key``, ``alpha_if_deleted``,
    ``std_alpha_if_deleted``, ``r_drop`` (corrected item-total correlation),
    ``r_total`` (item-total correlation), ``mean`` and ``sd`` (of the keyed item).
    """

    alpha: float
    std_alpha: float
    ci: tuple[float, float]
    ci_level: float
    ci_method: str
    average_r: float
    n_items: int
    n_obs: int
    missing: str
    items: pd.DataFrame

    def to_frame(self) -> pd.DataFrame:
        return self.items.copy()


def _bootstrap_alpha_complete(x: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Alpha for ``n_boot`` row resamples of complete data, vectorised.

    Alpha needs only the item variances and the total-score variance, and a
    resample's weighted sums are a matrix product with its count vector:
    ``W @ [X, sum_j X^2, t, t^2]`` for a ``(B, n)`` count matrix ``W``.  The
    columns are centred first so the variance differences do not cancel.
    """
    n, k = x.shape
    xc = x - x.mean(axis=0)
    t = xc.sum(axis=1)
    stacked = np.column_stack([xc, (xc**2).sum(axis=1), t, t**2])
    out = np.empty(n_boot)
    block = max(1, min(n_boot, 2_000_000 // max(n, 1)))
    for start in range(0, n_boot, block):
        b = min(block, n_boot - start)
        # int32 draws are about twice as fast as int64 ones and b * n stays far below 2**31.
        idx = rng.integers(0, n, size=(b, n), dtype=np.int32) + (np.arange(b, dtype=np.int64) * n)[:, None]
        w = np.bincount(idx.ravel(), minlength=b * n).reshape(b, n).astype(float)
        s = w @ stacked
        item_var_sum = s[:, k] - (s[:, :k] ** 2).sum(axis=1) / n
        total_var = s[:, k + 2] - s[:, k + 1] ** 2 / n
        with np.errstate(divide="ignore", invalid="ignore"):
            out[start : start + b] = k / (k - 1) * (1.0 - item_var_sum / total_var)
    return out


def _bootstrap_alpha_pairwise(values: np.ndarray, keys: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Alpha for row resamples of incomplete data (pairwise covariances per resample)."""
    x = values * keys
    n = x.shape[0]
    out = np.empty(n_boot)
    for b in range(n_boot):
        cov = pd.DataFrame(x[rng.integers(0, n, size=n)]).cov(min_periods=2).to_numpy()
        out[b] = _raw_alpha(cov) if np.isfinite(cov).all() else np.nan
    return out


def cronbach_alpha(
    data: Any,
    *,
    ci: float = 0.95,
    ci_method: Literal["feldt", "bootstrap"] = "feldt",
    n_boot: int = 2000,
    seed: int | np.random.Generator | None = None,
    keys: KeysLike = None,
    missing: Literal["pairwise", "listwise"] = "pairwise",
) -> CronbachAlphaResult:
    r"""Cronbach's alpha, raw and standardised, with a confidence interval and item statistics.

    .. math::

        \alpha = \frac{k}{k-1}\Bigl(1 - \frac{\operatorname{tr} C}{\mathbf 1' C \mathbf 1}\Bigr),
        \qquad
        \alpha_{std} = \frac{k}{k-1}\Bigl(1 - \frac{k}{\mathbf 1' R \mathbf 1}\Bigr)

    for the keyed item covariance matrix ``C`` and correlation matrix ``R``
    (Cronbach 1951, *Psychometrika* 16, 297-334).

    Parameters
    ----------
    data
        Respondents x items (DataFrame or 2-D array), numeric.
    ci
        Confidence level of the interval.
    ci_method
        ``"feldt"`` (default): Feldt, Woodruff & Salih (1987), *Appl. Psychol.
        Meas.* 11, 93-103, ``1 - (1 - alpha) F_{q}(n - 1, (n - 1)(k - 1))``, as
        ``psych::alpha.ci`` and pingouin; ``n`` is the number of rows.
        ``"bootstrap"``: percentile interval over ``n_boot`` resamples of rows
        (vectorised for complete data).
    n_boot, seed
        Bootstrap resamples and random seed (``"bootstrap"`` only).
    keys
        ``+1/-1`` per item (psych's ``keys``); see the module docstring.
    missing
        ``"pairwise"`` (default) or ``"listwise"``; see the module docstring.

    Returns
    -------
    CronbachAlphaResult
        ``alpha``, ``std_alpha``, ``ci``; ``to_frame()`` has alpha if item
        deleted (raw and standardised) and the corrected item-total
        correlation ``r_drop = (1'C_{.j} - C_{jj}) / sqrt(C_{jj} 1'C_{-j,-j}1)``.

    Notes
    -----
    R equivalent: ``psych::alpha(x, keys = keys)`` (``total$raw_alpha``,
    ``total$std.alpha``, ``feldt``, ``alpha.drop``, ``item.stats$r.drop``).
    psych drops a constant item with a warning; here it is an error.
    """
    level = _check_ci(ci)
    if ci_method not in ("feldt", "bootstrap"):
        raise DataError(f"ci_method: expected 'feldt' or 'bootstrap', got {ci_method!r}")
    if ci_method == "bootstrap" and (not isinstance(n_boot, (int, np.integer)) or n_boot < 2):
        raise DataError(f"n_boot: expected an integer >= 2, got {n_boot!r}")
    prep = prepare_items(data, keys=keys, missing=missing)
    cov, corr = prep.cov, prep.corr
    k, n = cov.shape[0], prep.n_obs
    alpha = _raw_alpha(cov)
    std_alpha = _std_alpha(corr)
    average_r = float((corr.sum() - k) / (k * (k - 1)))

    if ci_method == "feldt":
        q = (1.0 - level) / 2.0
        df1, df2 = n - 1, (n - 1) * (k - 1)
        lower = 1.0 - (1.0 - alpha) * sps.f.ppf(1.0 - q, df1, df2)
        upper = 1.0 - (1.0 - alpha) * sps.f.ppf(q, df1, df2)
    else:
        rng = np.random.default_rng(seed)
        if prep.complete:
            boot = _bootstrap_alpha_complete(prep.values * prep.keys, int(n_boot), rng)
        else:
            boot = _bootstrap_alpha_pairwise(prep.values, prep.keys, int(n_boot), rng)
        q = (1.0 - level) / 2.0
        lower, upper = (float(v) for v in np.nanquantile(boot, [q, 1.0 - q]))

    items = _alpha_item_table(prep)
    return CronbachAlphaResult(
        alpha=alpha,
        std_alpha=std_alpha,
        ci=(float(lower), float(upper)),
        ci_level=level,
        ci_method=ci_method,
        average_r=average_r,
        n_items=k,
        n_obs=n,
        missing=missing,
        items=items,
    )


def _alpha_item_table(prep: PreparedItems) -> pd.DataFrame:
    """psych's ``alpha.drop`` and ``item.stats`` columns, vectorised.

    Dropping item *j* leaves ``1'C1 - 2 (C1)_j + C_jj`` as the total
    variance and ``tr C - C_jj`` as the sum of item variances.
    """
    cov, corr = prep.cov, prep.corr
    k = cov.shape[0]
    diag, rows, total = np.diag(cov), cov.sum(axis=0), cov.sum()
    rest_total = total - 2.0 * rows + diag
    r_drop = (rows - diag) / np.sqrt(diag * rest_total)
    if k > 2:
        drop_raw = (1.0 - (np.trace(cov) - diag) / rest_total) * (k - 1) / (k - 2)
        rest_corr = corr.sum() - 2.0 * corr.sum(axis=0) + 1.0
        drop_std = (1.0 - (k - 1) / rest_corr) * (k - 1) / (k - 2)
    else:
        drop_raw = drop_std = np.full(k, np.nan)
    if prep.complete:
        # The total is the mean of the keyed items, so its covariance with item j
        # is (C1)_j / k and its variance 1'C1 / k^2: no pass over the data needed.
        r_total = rows / np.sqrt(total * diag)
        raw_means = prep.col_mean if prep.col_mean is not None else prep.values.mean(axis=0)
        lo = float(prep.col_min.min()) if prep.col_min is not None else float(prep.values.min())
        hi = float(prep.col_max.max()) if prep.col_max is not None else float(prep.values.max())
        means = np.where(prep.keys < 0, lo + hi - raw_means, raw_means)
        sds = np.sqrt(diag)
    else:
        scores = keyed_scores(prep.values, prep.keys)
        r_total = _pairwise_corr_with(np.nanmean(scores, axis=1), scores)
        means, sds = np.nanmean(scores, axis=0), np.nanstd(scores, axis=0, ddof=1)
    return pd.DataFrame(
        {
            "key": prep.keys.astype(int),
            "alpha_if_deleted": drop_raw,
            "std_alpha_if_deleted": drop_std,
            "r_drop": r_drop,
            "r_total": r_total,
            "mean": means,
            "sd": sds,
        },
        index=pd.Index(prep.columns, name="item"),
    )


def _pairwise_corr_with(t: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Correlation of vector ``t`` with each column of ``x``, each on the rows where both are observed."""
    m = ~np.isnan(x) & ~np.isnan(t)[:, None]
    n = m.sum(axis=0)
    xz = np.where(m, x, 0.0)
    tz = np.where(m, t[:, None], 0.0)
    mx, mt = xz.sum(axis=0) / n, tz.sum(axis=0) / n
    dx, dt = np.where(m, x - mx, 0.0), np.where(m, t[:, None] - mt, 0.0)
    return (dx * dt).sum(axis=0) / np.sqrt((dx**2).sum(axis=0) * (dt**2).sum(axis=0))


# --------------------------------------------------------------------------- lambda 6


@dataclasses.dataclass(frozen=True, repr=False)
class GuttmanLambda6Result(Result):
    """Guttman's lambda-6 (one row in ``to_frame()``)."""

    lambda6: float
    standardized: bool
    n_items: int
    n_obs: int

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            [{"lambda6": self.lambda6, "standardized": self.standardized, "n_items": self.n_items, "n_obs": self.n_obs}]
        )


def guttman_lambda6(
    data: Any,
    *,
    keys: KeysLike = None,
    missing: Literal["pairwise", "listwise"] = "pairwise",
    standardized: bool = True,
) -> GuttmanLambda6Result:
    r"""Guttman's (1945) lambda-6.

    .. math:: \lambda_6 = 1 - \frac{\sum_j \sigma_j^2 (1 - R^2_{j \cdot \text{rest}})}{\sigma_X^2}

    where :math:`R^2_{j\cdot\text{rest}}` is the squared multiple correlation
    of item *j* on the others (Guttman 1945, *Psychometrika* 10, 255-282).

    Parameters
    ----------
    standardized
        ``True`` (default): on the item correlation matrix, psych's
        ``G6(smc)`` from ``psych::alpha`` and ``lambda6`` from
        ``psych::splitHalf``.  ``False``: on the covariance matrix
        (``psych::splitHalf(x, covar = TRUE)$lambda6``).
    keys, missing
        As for :func:`cronbach_alpha`.
    """
    prep = prepare_items(data, keys=keys, missing=missing)
    mat = prep.corr if standardized else prep.cov
    return GuttmanLambda6Result(
        lambda6=_lambda6(mat), standardized=bool(standardized), n_items=mat.shape[0], n_obs=prep.n_obs
    )


# --------------------------------------------------------------------------- split half


@dataclasses.dataclass(frozen=True, repr=False)
class SplitHalfResult(Result):
    """Split-half reliability over a set of splits.

    ``min``/``mean``/``max``/``median`` summarise the coefficient over the
    splits examined (``n_splits`` of them, chosen by ``method``);
    ``odd_even`` is the coefficient of the odd-even split; ``min_split`` and
    ``max_split`` name the items in one half of the worst and best split.
    """

    min: float
    mean: float
    max: float
    median: float
    odd_even: float
    coefficient: str
    method: str
    n_splits: int
    standardized: bool
    min_split: tuple[str, ...]
    max_split: tuple[str, ...]

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            [
                {
                    "min": self.min,
                    "mean": self.mean,
                    "max": self.max,
                    "median": self.median,
                    "odd_even": self.odd_even,
                    "n_splits": self.n_splits,
                    "method": self.method,
                    "coefficient": self.coefficient,
                }
            ]
        )


def _split_coefficients(mat: np.ndarray, member: np.ndarray, coefficient: str) -> np.ndarray:
    a = member.astype(float)
    b = 1.0 - a
    ma = a @ mat
    vab = (ma * b).sum(axis=1)
    if coefficient == "guttman":
        return 4.0 * vab / mat.sum()
    vaa = (ma * a).sum(axis=1)
    vbb = ((b @ mat) * b).sum(axis=1)
    r = vab / np.sqrt(vaa * vbb)
    return 2.0 * r / (1.0 + r)


def split_half(
    data: Any,
    *,
    method: Literal["auto", "all", "random", "odd_even", "psych"] = "auto",
    coefficient: Literal["guttman", "spearman_brown"] = "guttman",
    n_splits: int = 10000,
    seed: int | np.random.Generator | None = None,
    keys: KeysLike = None,
    missing: Literal["pairwise", "listwise"] = "pairwise",
    standardized: bool = True,
) -> SplitHalfResult:
    r"""Split-half reliability: odd-even, and min / mean / max over all or random splits.

    For halves *A* and *B* of the (keyed) items with covariance (or, by
    default, correlation) matrix ``S``:

    * ``coefficient="guttman"`` (default, what ``psych::splitHalf`` reports):
      :math:`4\,\mathbf a' S \mathbf b / \mathbf 1' S \mathbf 1`, Guttman's
      (1945) split-half coefficient (Flanagan-Rulon), which is the
      Spearman-Brown step-up when the halves have equal variance;
    * ``coefficient="spearman_brown"``: the Spearman-Brown step-up
      :math:`2r/(1+r)` of the correlation *r* between the half scores
      (Spearman 1910; Brown 1910).

    Parameters
    ----------
    method
        ``"auto"`` (default): every distinct split when there are at most
        ``n_splits`` of them, else ``n_splits`` random splits (psych's rule).
        ``"all"``: every distinct split (halves of ``k // 2`` and ``k - k // 2``
        items; ``C(k, k/2)/2`` for even ``k``, ``C(k, (k-1)/2)`` for odd ``k``).
        ``"random"``: ``n_splits`` random splits.  ``"odd_even"``: the
        odd-even split only.  ``"psych"``: exactly the splits
        ``psych::splitHalf`` 2.2.9 examines: for an odd number of items its
        brute-force branch visits only the first ``ceil(C(k, (k-1)/2)/2)``
        lexicographic splits and divides their sum by ``C(k, (k-1)/2)/2``; use
        it only to reproduce psych's output.
    coefficient
        ``"guttman"`` or ``"spearman_brown"`` (above).
    n_splits, seed
        Size of the random sample of splits and its seed.
    standardized
        ``True`` (default, psych's ``covar = FALSE``): split the correlation
        matrix; ``False``: the covariance matrix.
    keys, missing
        As for :func:`cronbach_alpha`.

    Notes
    -----
    R equivalent: ``psych::splitHalf(x, key = keys, check.keys = FALSE)``
    (``minrb``, ``meanr``, ``maxrb``).  With an even number of items
    ``"all"`` and ``"psych"`` agree; the mean over all splits then equals
    standardised alpha.
    """
    if method not in ("auto", "all", "random", "odd_even", "psych"):
        raise DataError(f"method: expected 'auto', 'all', 'random', 'odd_even' or 'psych', got {method!r}")
    if coefficient not in ("guttman", "spearman_brown"):
        raise DataError(f"coefficient: expected 'guttman' or 'spearman_brown', got {coefficient!r}")
    if not isinstance(n_splits, (int, np.integer)) or n_splits < 1:
        raise DataError(f"n_splits: expected a positive integer, got {n_splits!r}")
    prep = prepare_items(data, keys=keys, missing=missing)
    mat = prep.corr if standardized else prep.cov
    k = mat.shape[0]
    names = np.array(prep.columns, dtype=object)  # plain str in min_split / max_split
    odd_even = float(_split_coefficients(mat, splits.odd_even_split(k), coefficient)[0])

    total_splits = splits.n_distinct_splits(k)
    chosen = method
    if method == "auto":
        chosen = "all" if total_splits <= n_splits else "random"
    divisor: float | None = None
    if chosen == "odd_even":
        blocks = [splits.odd_even_split(k)]
    elif chosen == "all":
        blocks = list(splits.all_splits(k))
    elif chosen == "random":
        blocks = [splits.random_splits(k, int(n_splits), np.random.default_rng(seed))]
    else:  # psych
        if math.comb(k, k // 2) / 2 <= n_splits:
            member, divisor = splits.psych_splits(k)
            blocks = [member]
        else:
            blocks = [splits.random_splits(k, int(n_splits), np.random.default_rng(seed))]

    values = np.concatenate([_split_coefficients(mat, b, coefficient) for b in blocks])
    members = blocks[0] if len(blocks) == 1 else None
    i_min, i_max = int(np.argmin(values)), int(np.argmax(values))

    def half(i: int) -> tuple[str, ...]:
        if members is not None:
            return tuple(names[members[i]])
        offset = 0
        for b in blocks:
            if i < offset + b.shape[0]:
                return tuple(names[b[i - offset]])
            offset += b.shape[0]
        raise IndexError(i)  # pragma: no cover - i is always in range

    mean = float(values.sum() / divisor) if divisor is not None else float(values.mean())
    return SplitHalfResult(
        min=float(values[i_min]),
        mean=mean,
        max=float(values[i_max]),
        median=float(np.median(values)),
        odd_even=odd_even,
        coefficient=coefficient,
        method=chosen,
        n_splits=int(values.shape[0]),
        standardized=bool(standardized),
        min_split=half(i_min),
        max_split=half(i_max),
    )


# --------------------------------------------------------------------------- omega


@dataclasses.dataclass(frozen=True, repr=False)
class OmegaResult(Result):
    """McDonald's omega from a Schmid-Leiman solution.

    ``to_frame()`` is the Schmid-Leiman loading table (``g``, ``F1*`` ...,
    ``h2``, ``u2``, ``p2``), one row per item; item names carry a trailing
    ``"-"`` when the item entered reversed, as psych prints them.
    """

    omega_total: float
    omega_hierarchical: float
    omega_limit: float
    alpha: float
    n_factors: int
    keys: tuple[int, ...]
    loadings: pd.DataFrame
    phi: pd.DataFrame
    n_obs: int

    def to_frame(self) -> pd.DataFrame:
        return self.loadings.copy()


def omega(
    data: Any,
    *,
    n_factors: int = 3,
    keys: KeysLike = None,
    flip: bool = True,
    missing: Literal["pairwise", "listwise"] = "pairwise",
) -> OmegaResult:
    r"""McDonald's omega total and hierarchical, as ``psych::omega`` computes them.

    The item correlation matrix ``R`` is factored by minres into ``n_factors``
    factors, rotated by oblimin, and transformed by Schmid & Leiman (1957)
    into a general factor *g* and residualised group factors (see
    :mod:`psychoml.stats._reliability_factor`).  With ``V = 1'R1``:

    .. math::

        \omega_h = \frac{(\sum_j g_j)^2}{V}, \qquad
        \omega_t = 1 - \frac{\sum_j u^2_j}{V}

    (McDonald 1999, *Test Theory*; Zinbarg, Revelle, Yovel & Li 2005,
    *Psychometrika* 70, 123-133).  ``omega_limit`` is psych's ``omega.lim``,
    :math:`(\sum g)^2 / (V - \sum u^2)`: the share of common variance due to g.

    Parameters
    ----------
    n_factors
        Number of group factors (psych's ``nfactors``; default 3).  With
        ``n_factors=1`` this is omega from a one-factor model:
        ``omega_hierarchical`` is :math:`(\sum\lambda)^2/V` and
        ``omega_total`` is :math:`1 - \sum(1-\lambda^2)/V` (psych's values).
        With two factors g is not identified and, as psych's default
        ``option = "equal"``, both second-order loadings are
        :math:`\sqrt{|\phi_{12}|}`.
    keys
        ``+1/-1`` per item; when given, ``R`` is keyed and ``flip`` is ignored
        (psych's ``key``).
    flip
        Without ``keys``: reverse items whose general loading is negative
        (psych's ``flip = TRUE``).
    missing
        ``"pairwise"`` (default) or ``"listwise"`` correlations.

    Notes
    -----
    R equivalent: ``psych::omega(x, nfactors = n_factors, key = keys)``
    (``omega_h``, ``omega.tot``).  psych smooths a non-positive-definite
    correlation matrix; here such a matrix is an error.
    """
    if not isinstance(n_factors, (int, np.integer)) or n_factors < 1:
        raise DataError(f"n_factors: expected a positive integer, got {n_factors!r}")
    prep = prepare_items(data, keys=keys, missing=missing, min_items=3)
    n_items = prep.cov.shape[0]
    if (n_items - n_factors) ** 2 < n_items + n_factors:
        # The factor model would have negative degrees of freedom: the minres
        # solution is not unique and omega_h would depend on the optimiser's path.
        raise DataError(
            f"n_factors: {n_factors} factors are not identified with {n_items} items "
            "(negative degrees of freedom); use fewer factors, e.g. n_factors=1"
        )
    r = prep.pairwise_corr()
    if np.linalg.eigvalsh(r).min() <= 0:
        raise DataError("data: the item correlation matrix is not positive definite (collinear items or pairwise gaps)")
    with single_threaded_blas():  # many tiny eigen decompositions (see single_threaded_blas)
        sl = schmid_leiman(r, int(n_factors))
    key = prep.keys.copy()
    general, group = sl.general.copy(), sl.group.copy()
    if keys is None and flip:
        s = np.sign(general)
        s[s == 0] = 1.0
        if (s < 0).any():
            r = r * np.outer(s, s)
            general, group, key = general * s, group * s[:, None], key * s
    v = float(r.sum())
    u2_sum = float(sl.u2.sum())
    gsq = float(general.sum() ** 2)
    k = r.shape[0]
    names = [c + ("-" if kk < 0 else "") for c, kk in zip(prep.columns, key)]
    table = pd.DataFrame(
        np.column_stack([general, group, sl.h2, sl.u2, general**2 / sl.h2]),
        index=pd.Index(names, name="item"),
        columns=["g"] + [f"F{i + 1}*" for i in range(n_factors)] + ["h2", "u2", "p2"],
    )
    phi_names = [f"F{i + 1}" for i in range(n_factors)]
    return OmegaResult(
        omega_total=(v - u2_sum) / v,
        omega_hierarchical=gsq / v,
        omega_limit=gsq / (v - u2_sum),
        alpha=float((v - np.trace(r)) / v * k / (k - 1)),
        n_factors=int(n_factors),
        keys=tuple(int(x) for x in key),
        loadings=table,
        phi=pd.DataFrame(sl.phi, index=phi_names, columns=phi_names),
        n_obs=prep.n_obs,
    )


# --------------------------------------------------------------------------- ICC


@dataclasses.dataclass(frozen=True, repr=False)
class IccResult(Result):
    """The six Shrout-Fleiss intraclass correlations.

    ``to_frame()`` has rows ``ICC1, ICC2, ICC3, ICC1k, ICC2k, ICC3k`` and
    columns ``description``, ``icc``, ``F``, ``df1``, ``df2``, ``p``,
    ``ci_lower``, ``ci_upper`` (``psych::ICC``'s ``results``).
    """

    table: pd.DataFrame
    n_targets: int
    n_raters: int
    method: str
    ci_level: float
    variance_components: pd.Series

    def to_frame(self) -> pd.DataFrame:
        return self.table.copy()

    def __getitem__(self, form: str) -> float:
        return float(self.table.loc[form, "icc"])


_ICC_DESCRIPTIONS = (
    "single raters, absolute (one-way)",
    "single random raters, absolute agreement",
    "single fixed raters, consistency",
    "average raters, absolute (one-way)",
    "average random raters, absolute agreement",
    "average fixed raters, consistency",
)


def _icc_table(msb: float, msw: float, msj: float, mse: float, n: int, k: int, level: float) -> pd.DataFrame:
    """Shrout & Fleiss (1979) ICCs and intervals from mean squares, as ``psych::ICC``.

    The ICC(2,1) interval is McGraw & Wong's (1996) with Satterthwaite's
    degrees of freedom, psych's formula.  Degenerate data (no within-target
    or residual variance) give infinite F ratios and NaN bounds, as in R.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        return _icc_table_unchecked(msb, msw, msj, mse, n, k, level)


def _icc_table_unchecked(msb: float, msw: float, msj: float, mse: float, n: int, k: int, level: float) -> pd.DataFrame:
    a = 1.0 - level
    icc1 = (msb - msw) / (msb + (k - 1) * msw)
    icc2 = (msb - mse) / (msb + (k - 1) * mse + k * (msj - mse) / n)
    icc3 = (msb - mse) / (msb + (k - 1) * mse)
    icc1k = (msb - msw) / msb
    icc2k = (msb - mse) / (msb + (msj - mse) / n)
    icc3k = (msb - mse) / msb
    f11, df11n, df11d = msb / msw, n - 1, n * (k - 1)
    f21, df21n, df21d = msb / mse, n - 1, (n - 1) * (k - 1)
    p11 = sps.f.sf(f11, df11n, df11d)
    p21 = sps.f.sf(f21, df21n, df21d)
    f1l = f11 / sps.f.ppf(1 - a / 2, df11n, df11d)
    f1u = f11 * sps.f.ppf(1 - a / 2, df11d, df11n)
    f3l = f21 / sps.f.ppf(1 - a / 2, df21n, df21d)
    f3u = f21 * sps.f.ppf(1 - a / 2, df21d, df21n)
    lower = np.empty(6)
    upper = np.empty(6)
    lower[0], upper[0] = (f1l - 1) / (f1l + k - 1), (f1u - 1) / (f1u + k - 1)
    lower[2], upper[2] = (f3l - 1) / (f3l + k - 1), (f3u - 1) / (f3u + k - 1)
    lower[3], upper[3] = 1 - 1 / f1l, 1 - 1 / f1u
    lower[5], upper[5] = 1 - 1 / f3l, 1 - 1 / f3u
    fj = msj / mse
    vn = (k - 1) * (n - 1) * (k * icc2 * fj + n * (1 + (k - 1) * icc2) - k * icc2) ** 2
    vd = (n - 1) * k**2 * icc2**2 * fj**2 + (n * (1 + (k - 1) * icc2) - k * icc2) ** 2
    v = vn / vd
    fu = sps.f.ppf(1 - a / 2, n - 1, v)
    fl = sps.f.ppf(1 - a / 2, v, n - 1)
    l3 = n * (msb - fu * mse) / (fu * (k * msj + (k * n - k - n) * mse) + n * msb)
    u3 = n * (fl * msb - mse) / (k * msj + (k * n - k - n) * mse + n * fl * msb)
    lower[1], upper[1] = l3, u3
    lower[4], upper[4] = l3 * k / (1 + l3 * (k - 1)), u3 * k / (1 + u3 * (k - 1))
    return pd.DataFrame(
        {
            "description": _ICC_DESCRIPTIONS,
            "icc": [icc1, icc2, icc3, icc1k, icc2k, icc3k],
            "F": [f11, f21, f21, f11, f21, f21],
            "df1": [df11n, df21n, df21n, df11n, df21n, df21n],
            "df2": [df11d, df21d, df21d, df11d, df21d, df21d],
            "p": [p11, p21, p21, p11, p21, p21],
            "ci_lower": lower,
            "ci_upper": upper,
        },
        index=pd.Index(ICC_FORMS, name="type"),
    )


def _two_way_mean_squares(x: np.ndarray) -> tuple[float, float, float, float]:
    """MSB (targets), MSW (within targets), MSJ (raters), MSE of a complete targets x raters table."""
    n, k = x.shape
    grand = x.mean()
    rows, cols = x.mean(axis=1), x.mean(axis=0)
    ssb = k * ((rows - grand) ** 2).sum()
    ssj = n * ((cols - grand) ** 2).sum()
    sse = ((x - grand) ** 2).sum() - ssb - ssj
    msb, msj, mse = ssb / (n - 1), ssj / (k - 1), sse / ((n - 1) * (k - 1))
    msw = (ssj + sse) / (n * (k - 1))
    return msb, msw, msj, mse


def icc(
    data: Any,
    *,
    ci: float = 0.95,
    method: Literal["reml", "anova"] = "reml",
    missing: Literal["available", "listwise"] = "available",
) -> IccResult:
    r"""The six Shrout & Fleiss (1979) intraclass correlations with confidence intervals.

    ``data`` is wide: one row per target (respondent, model, persona) and one
    column per rater (item, occasion, prompt variant).  With the mean squares
    of targets (``MSB``), raters (``MSJ``), residual (``MSE``) and within
    targets (``MSW``), ``k`` raters and ``n`` targets::

        ICC1  = (MSB - MSW) / (MSB + (k-1) MSW)                    ICC1k = (MSB - MSW) / MSB
        ICC2  = (MSB - MSE) / (MSB + (k-1) MSE + k (MSJ - MSE)/n)  ICC2k = (MSB - MSE) / (MSB + (MSJ - MSE)/n)
        ICC3  = (MSB - MSE) / (MSB + (k-1) MSE)                    ICC3k = (MSB - MSE) / MSB

    (Shrout & Fleiss 1979, *Psychol. Bull.* 86, 420-428; intervals there and
    in McGraw & Wong 1996, *Psychol. Methods* 1, 30-46).

    Parameters
    ----------
    ci
        Confidence level of the intervals.
    method
        ``"reml"`` (default, ``psych::ICC``'s default ``lmer = TRUE``): the
        target, rater and residual variances are REML estimates of the crossed
        random model ``y ~ 1 + (1|target) + (1|rater)`` (as ``lme4::lmer``) and
        the mean squares are rebuilt from them (``MSB = k s2_t + s2_e``,
        ``MSJ = n s2_r + s2_e``, ``MSW = s2_r + s2_e``, ``MSE = s2_e``).  For
        complete data with non-negative ANOVA components this equals the
        ANOVA; it also uses incomplete rows.  ``"anova"`` (``lmer = FALSE``,
        pingouin): the two-way ANOVA mean squares; needs complete rows.
    missing
        ``"available"`` (default): every observed rating enters (REML only);
        ``"listwise"``: targets with any missing rating are dropped first.

    Notes
    -----
    R equivalent: ``psych::ICC(x)`` (``lmer = TRUE``) or
    ``psych::ICC(na.omit(x), lmer = FALSE)``.  As in psych, ``n`` is the
    number of rows even when some ratings are missing.
    """
    level = _check_ci(ci)
    if method not in ("reml", "anova"):
        raise DataError(f"method: expected 'reml' or 'anova', got {method!r}")
    if missing not in ("available", "listwise"):
        raise DataError(f"missing: expected 'available' or 'listwise', got {missing!r}")
    frame = numeric_frame(data, name="data", min_columns=2, min_rows=2)
    if missing == "listwise":
        frame = frame.dropna(axis=0, how="any")
        if frame.shape[0] < 2:
            raise DataError("data: fewer than two rows without missing values (missing='listwise')")
    check_not_constant(frame, name="data")
    x = frame.to_numpy(dtype=float)
    n, k = x.shape
    complete = not np.isnan(x).any()
    if method == "anova" and not complete:
        raise DataError("data: method='anova' needs complete rows; use missing='listwise' or method='reml'")

    if complete:
        msb, msw, msj, mse = _two_way_mean_squares(x)
        s2_t, s2_r, s2_e = (msb - mse) / k, (msj - mse) / n, mse
    use_reml = method == "reml" and (not complete or s2_t < 0 or s2_r < 0)
    if use_reml:
        obs = ~np.isnan(x)
        rows, cols = np.nonzero(obs)
        fit = reml_variance_components(x[obs], [rows, cols])
        s2_t, s2_r = (float(v) for v in fit.variances)
        s2_e = float(fit.residual)
        msb, msj, msw, mse = k * s2_t + s2_e, n * s2_r + s2_e, s2_r + s2_e, s2_e
    table = _icc_table(msb, msw, msj, mse, n, k, level)
    return IccResult(
        table=table,
        n_targets=n,
        n_raters=k,
        method=method,
        ci_level=level,
        variance_components=pd.Series({"target": s2_t, "rater": s2_r, "residual": s2_e}, name="variance"),
    )


# --------------------------------------------------------------------------- repeated scores


def _as_columns(value: str | Sequence[str], arg: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Sequence) and value and all(isinstance(v, str) for v in value):
        return list(value)
    raise DataError(f"{arg}: expected a column name or a list of column names, got {value!r}")


def _long_to_wide(
    data: Any,
    *,
    object: str | Sequence[str],
    condition: str,
    score: str,
    item: str | None,
    keys: KeysLike,
    condition_name: str,
) -> pd.DataFrame:
    """Objects x conditions table of scale scores from a long table.

    With ``item`` the scale score of an object under a condition is the mean
    of its (keyed) item values, over the items observed there.
    """
    if not isinstance(data, pd.DataFrame):
        raise DataError("data: long-format input must be a DataFrame")
    objects = _as_columns(object, "object")
    named = [("object", c) for c in objects] + [(condition_name, condition), ("score", score)]
    if item is not None:
        named.append(("item", item))
    for arg, col in named:
        if col not in data.columns:
            raise DataError(f"{arg}: column {col!r} is not in data (columns: {', '.join(map(str, data.columns))})")
    used = [c for _, c in named]
    if len(set(used)) != len(used):
        raise DataError(f"object, {condition_name}, score, item: name distinct columns (got {used!r})")
    if not (pd.api.types.is_numeric_dtype(data[score]) or data[score].isna().all()):
        # The store's value column is object-typed when it holds None; accept it if it converts.
        converted = pd.to_numeric(data[score], errors="coerce")
        if (converted.isna() & data[score].notna()).any():
            bad = data.loc[converted.isna() & data[score].notna(), score].iloc[0]
            raise DataError(f"score: column {score!r} is not numeric (e.g. {bad!r})")
    long = data[used].copy()
    long[score] = pd.to_numeric(long[score], errors="coerce").astype(float)
    long = long.dropna(subset=[score])
    for col in objects:
        # A store records persona None when no persona was used: that is a level, not a gap.
        if long[col].isna().any():
            long[col] = long[col].astype("object").where(long[col].notna(), "(none)")
    for arg, col in [(condition_name, condition)] + ([("item", item)] if item is not None else []):
        if long[col].isna().any():
            raise DataError(f"{arg}: column {col!r} has missing labels")
    if long.empty:
        raise DataError(f"score: column {score!r} has no observed values")
    cell = [*objects, condition] + ([item] if item is not None else [])
    dup = long.duplicated(subset=cell)
    if dup.any():
        first = dict(zip(cell, long.loc[dup, cell].iloc[0].tolist()))
        where = ", ".join(f"{k}={v!r}" for k, v in first.items())
        raise DataError(
            f"data: more than one {score!r} for {where}; filter the table or add the column that tells the rows "
            f"apart to object (e.g. object=[{', '.join(repr(o) for o in objects)}, 'sample'])"
        )
    if item is not None:
        labels = pd.unique(long[item])
        signs = resolve_keys(keys, [str(v) for v in labels])
        if (signs < 0).any():
            lo, hi = float(long[score].min()), float(long[score].max())
            sign = long[item].astype(str).map(dict(zip([str(v) for v in labels], signs)))
            long[score] = np.where(sign < 0, lo + hi - long[score], long[score])
        long = long.groupby([*objects, condition], sort=True)[score].mean().reset_index()
    elif keys is not None:
        raise DataError("keys: only used with item= (reverse keys apply to items before they are averaged)")
    index = objects[0] if len(objects) == 1 else objects
    wide = long.pivot_table(index=index, columns=condition, values=score, aggfunc="first", dropna=False)
    wide.columns = [str(c) for c in wide.columns]
    return numeric_frame(wide, name="data", min_columns=2, min_rows=3, drop_all_missing_rows=True)


def _mean_pairwise_correlation(frame: pd.DataFrame) -> tuple[float, pd.DataFrame]:
    corr = frame.corr(min_periods=3)
    k = corr.shape[0]
    off = corr.to_numpy()[~np.eye(k, dtype=bool)]
    return float(np.nanmean(off)), corr


@dataclasses.dataclass(frozen=True, repr=False)
class _RepeatedScoresResult(Result):
    r: float
    icc_agreement: float
    icc_consistency: float
    icc_agreement_k: float
    icc_consistency_k: float
    ci_level: float
    n_objects: int
    n_conditions: int
    icc_method: str
    correlations: pd.DataFrame
    condition_means: pd.Series
    icc_table: pd.DataFrame
    scores: pd.DataFrame

    def to_frame(self) -> pd.DataFrame:
        rows = self.icc_table.loc[["ICC2", "ICC3", "ICC2k", "ICC3k"], ["icc", "ci_lower", "ci_upper"]].copy()
        rows.index = pd.Index(["icc_agreement", "icc_consistency", "icc_agreement_k", "icc_consistency_k"], name="statistic")
        rows.columns = ["estimate", "ci_lower", "ci_upper"]
        top = pd.DataFrame({"estimate": [self.r], "ci_lower": [np.nan], "ci_upper": [np.nan]}, index=pd.Index(["r"], name="statistic"))
        return pd.concat([top, rows])


@dataclasses.dataclass(frozen=True, repr=False)
class TestRetestResult(_RepeatedScoresResult):
    """Test-retest reliability across repeated samples (occasions) of the same objects.

    ``r``: Pearson correlation between occasions (the mean over pairs when
    there are more than two); ``icc_agreement`` = ICC(2,1) (absolute
    agreement of single occasions); ``icc_consistency`` = ICC(3,1);
    ``*_k``: the same for the mean of all occasions.  ``to_frame()`` has one
    row per statistic with its interval; ``scores`` is the objects x
    occasions table the statistics were computed from.
    """

    __test__ = False  # not a pytest test class despite the name


@dataclasses.dataclass(frozen=True, repr=False)
class InterVariantResult(_RepeatedScoresResult):
    """Inter-variant (parallel-forms) reliability of scale scores across prompt variants.

    Fields as :class:`TestRetestResult`, with conditions = prompt variants;
    ``condition_means`` shows whether some variants shift scores (which lowers
    ``icc_agreement`` but not ``icc_consistency``).
    """


def _repeated_scores(
    data: Any,
    *,
    object: str | Sequence[str] | None,
    condition: str | None,
    score: str | None,
    item: str | None,
    keys: KeysLike,
    condition_name: str,
    ci: float,
) -> dict[str, Any]:
    level = _check_ci(ci)
    given = [a is not None for a in (object, condition, score)]
    if any(given) and not all(given):
        raise DataError(f"object, {condition_name}, score: name all three columns for long data, or none for wide data")
    if all(given):
        wide = _long_to_wide(
            data, object=object, condition=condition, score=score, item=item, keys=keys,  # type: ignore[arg-type]
            condition_name=condition_name,
        )
    else:
        if item is not None or keys is not None:
            raise DataError(f"item, keys: only used with long data (name object, {condition_name} and score)")
        wide = numeric_frame(data, name="data", min_columns=2, min_rows=3)
    check_not_constant(wide, name="data")
    r, corr = _mean_pairwise_correlation(wide)
    # Complete tables use the exact ANOVA ICCs, so that a shift of one condition's mean leaves
    # the consistency ICC unchanged; incomplete ones need REML (psych::ICC's lmer = TRUE).
    method: Literal["anova", "reml"] = "anova" if not wide.isna().any().any() else "reml"
    res = icc(wide, ci=level, method=method, missing="available" if method == "reml" else "listwise")
    t = res.table["icc"]
    return {
        "r": r,
        "icc_agreement": float(t["ICC2"]),
        "icc_consistency": float(t["ICC3"]),
        "icc_agreement_k": float(t["ICC2k"]),
        "icc_consistency_k": float(t["ICC3k"]),
        "ci_level": level,
        "n_objects": int(wide.shape[0]),
        "n_conditions": int(wide.shape[1]),
        "icc_method": method,
        "correlations": corr,
        "condition_means": wide.mean(axis=0),
        "icc_table": res.table,
        "scores": wide,
    }


def test_retest(
    data: Any,
    *,
    object: str | Sequence[str] | None = None,
    occasion: str | None = None,
    score: str | None = None,
    item: str | None = None,
    keys: KeysLike = None,
    ci: float = 0.95,
) -> TestRetestResult:
    """Test-retest reliability of scale scores across repeated samples of the same objects.

    Parameters
    ----------
    data
        Either wide (one row per object - model, persona, respondent - and one
        numeric column per occasion/sample) or long with the columns named by
        ``object``, ``occasion`` and ``score``.  A store's responses table
        (``Store.responses()``: ``model, item, variant, sample, persona,
        value, ...``) is long: ``test_retest(responses, object="model",
        occasion="sample", item="item", score="value")``.  Rows with a missing
        score (refusals, unparseable answers) are dropped.
    object
        Column(s) identifying the object of measurement; a list combines
        columns (``["model", "variant"]``: each model under each prompt variant
        is one object).
    occasion
        Column of the repeated sample / occasion.
    score
        Numeric column: the scale score, or with ``item`` the item response.
    item
        Optional item column: the scale score of an object on an occasion is
        then the mean of its keyed item values (over the items answered).
        Without it, each (object, occasion) must have one row.
    keys
        Reverse keys of the items (with ``item`` only): ``+1/-1`` per item in
        order of appearance, ``{item: -1}``, ``["-item"]`` or an instrument.
        Reversed items are reflected as ``min + max - x`` over ``score``.
    ci
        Confidence level of the ICC intervals.

    Notes
    -----
    The ICCs are :func:`icc` with occasions as raters: the two-way ANOVA
    (``psych::ICC(x, lmer = FALSE)``) when every object has every occasion,
    REML (``psych::ICC(x)``) when some are missing; ``r`` is the Pearson
    correlation (``cor(x, use = "pairwise")``), averaged over pairs of
    occasions when there are more than two.
    """
    return TestRetestResult(
        **_repeated_scores(
            data, object=object, condition=occasion, score=score, item=item, keys=keys,
            condition_name="occasion", ci=ci,
        )
    )


test_retest.__test__ = False  # type: ignore[attr-defined]  # keep pytest from collecting it


def inter_variant_reliability(
    data: Any,
    *,
    object: str | Sequence[str] = "object",
    variant: str = "variant",
    score: str = "score",
    item: str | None = None,
    keys: KeysLike = None,
    ci: float = 0.95,
) -> InterVariantResult:
    """Parallel-forms reliability of scale scores across prompt variants.

    Parameters
    ----------
    data
        Long table, one row per object (model/persona/respondent) and prompt
        variant (and item, with ``item``), with columns ``object``,
        ``variant`` and ``score``.  For a store's responses table:
        ``inter_variant_reliability(responses, object=["model", "sample"],
        variant="variant", item="item", score="value")``.  Rows with a missing
        score are dropped; a duplicated (object, variant[, item]) row is an
        error.
    object, variant, score, item, keys
        Column names and reverse keys, as for :func:`test_retest`.
    ci
        Confidence level of the ICC intervals.

    Returns
    -------
    InterVariantResult
        ``r`` (mean correlation between variants), ``icc_agreement`` (ICC(2,1):
        would one variant give the same score?), ``icc_consistency``
        (ICC(3,1): the same ranking?), and their ``_k`` versions for the mean
        over all variants.

    Notes
    -----
    Parallel forms (Lord & Novick 1968, ch. 2) have equal true scores and
    error variances; ``icc_agreement`` is the reliability of one form under
    that model, ``r`` its classical estimate.  R: ``psych::ICC`` on the
    object x variant table.
    """
    return InterVariantResult(
        **_repeated_scores(
            data, object=object, condition=variant, score=score, item=item, keys=keys,
            condition_name="variant", ci=ci,
        )
    )
