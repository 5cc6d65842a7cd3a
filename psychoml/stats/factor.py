"""Factor structure: sampling adequacy, exploratory and confirmatory factor analysis, invariance.

Everything here is checked against R (psych 2.2.9, GPArotation 2022.10-2,
lavaan 0.6-14, semTools 0.5-6); the R script producing the reference numbers
is ``tests/reference/factor/make_reference.R``.

* :func:`kmo`, :func:`bartlett_sphericity`: is the correlation matrix worth factoring?
* :func:`efa`: minres, maximum likelihood or principal-axis extraction with
  varimax, oblimin, promax or geomin rotation (``psych::fa``).
* :func:`parallel_analysis`, :func:`velicer_map`, :func:`scree`: how many factors
  (``psych::fa.parallel``, ``psych::VSS``).
* :func:`cfa`, :func:`invariance`: confirmatory factor analysis from lavaan
  syntax by maximum likelihood, and the configural / metric / scalar sequence
  of measurement invariance (``lavaan::cfa``, ``semTools::compareFit``).

Correlations use pairwise-complete observations by default, as psych does
(``cor(x, use = "pairwise")``); factor_analyzer would impute medians instead,
which changes the numbers whenever data are missing.  CFA uses listwise
deletion, lavaan's default.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import optimize, stats

from psychoml._base import Result, check_not_constant, numeric_frame, single_threaded_blas
from psychoml.errors import DataError
from psychoml.stats import _sem
from psychoml.stats._rotation import rotate_loadings

__all__ = [
    "BartlettResult",
    "CFAResult",
    "EFAResult",
    "InvarianceResult",
    "KMOResult",
    "ParallelAnalysisResult",
    "ScreeResult",
    "VelicerMAPResult",
    "bartlett_sphericity",
    "cfa",
    "efa",
    "invariance",
    "kmo",
    "parallel_analysis",
    "scree",
    "velicer_map",
]

EFAMethod = Literal["minres", "ml", "pa"]
Rotation = Literal["oblimin", "varimax", "promax", "geomin", "none"] | None
Missing = Literal["pairwise", "listwise"]

_METHOD_PREFIX = {"minres": "MR", "ml": "ML", "pa": "PA"}


# --------------------------------------------------------------------------- data preparation


def _item_frame(data: Any, *, name: str = "data", min_items: int = 2) -> pd.DataFrame:
    frame = numeric_frame(data, name=name, min_columns=min_items, drop_all_missing_rows=True)
    check_not_constant(frame, name=name)
    frame.columns = [str(c) for c in frame.columns]
    if frame.shape[0] < frame.shape[1]:
        raise DataError(
            f"{name}: fewer observations ({frame.shape[0]}) than items ({frame.shape[1]}); "
            "the correlation matrix would be singular"
        )
    return frame


def _correlation(frame: pd.DataFrame, *, missing: str, name: str = "data") -> tuple[pd.DataFrame, int]:
    """Pearson correlations as R's ``cor(x, use = "pairwise")`` (or listwise), and n."""
    if missing not in ("pairwise", "listwise"):
        raise DataError(f"missing: expected 'pairwise' or 'listwise', got {missing!r}")
    if missing == "listwise":
        frame = frame.dropna()
        if frame.shape[0] < frame.shape[1]:
            raise DataError(
                f"{name}: after listwise deletion fewer observations ({frame.shape[0]}) than items ({frame.shape[1]})"
            )
        check_not_constant(frame, name=name)
    corr = frame.corr(method="pearson", min_periods=3)
    if corr.isna().to_numpy().any():
        bad = [(a, b) for i, a in enumerate(corr.index) for b in corr.columns[i + 1 :] if pd.isna(corr.loc[a, b])]
        shown = ", ".join(f"{a!r}/{b!r}" for a, b in bad[:5]) + (" ..." if len(bad) > 5 else "")
        raise DataError(f"{name}: too few jointly observed rows to correlate item pair(s) {shown}")
    return corr, int(frame.shape[0])


def _eigh_desc(m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    values, vectors = np.linalg.eigh(m)
    return values[::-1], vectors[:, ::-1]


def _smc(R: np.ndarray) -> np.ndarray:
    """Squared multiple correlations, psych::smc: 1 - 1/diag(R^+), clipped to [0, 1]."""
    inv = np.linalg.pinv(R, rcond=np.sqrt(np.finfo(float).eps), hermitian=True)
    smc = 1.0 - 1.0 / np.diag(inv)
    return np.clip(smc, 0.0, 1.0)


def _check_positive_definite(R: np.ndarray, names: Sequence[str], *, name: str, what: str) -> None:
    values, vectors = np.linalg.eigh(R)
    if values[0] <= 1e-10 * max(values[-1], 1.0):
        weights = np.abs(vectors[:, 0])
        involved = [names[i] for i in np.argsort(-weights) if weights[i] > 0.1][:6]
        raise DataError(
            f"{name}: the correlation matrix is singular, so {what} cannot be computed; "
            f"linearly dependent items: {', '.join(repr(v) for v in involved)}"
        )


# --------------------------------------------------------------------------- KMO, Bartlett


@dataclasses.dataclass(frozen=True, repr=False)
class KMOResult(Result):
    """Kaiser-Meyer-Olkin measure of sampling adequacy (overall ``msa`` and per item)."""

    msa: float
    msa_items: pd.Series
    n_obs: int

    def to_frame(self) -> pd.DataFrame:
        out = self.msa_items.rename("msa").to_frame()
        out.loc["overall"] = self.msa
        return out


def kmo(data: Any, *, missing: Missing = "pairwise") -> KMOResult:
    """Kaiser-Meyer-Olkin measure of sampling adequacy.

    .. math:: MSA = \\frac{\\sum_{i\\ne j} r_{ij}^2}{\\sum_{i\\ne j} r_{ij}^2 + \\sum_{i\\ne j} q_{ij}^2}

    where :math:`q_{ij}` are the partial correlations (the anti-image,
    ``cov2cor(R^{-1})``); the item-wise MSA restricts the sums to column *i*.
    Kaiser (1970), "A second generation little jiffy", *Psychometrika* 35, 401-415.
    R equivalent: ``psych::KMO(data)``.

    Parameters
    ----------
    data
        Items in columns, observations in rows (numeric; NaN allowed).
    missing
        ``"pairwise"`` (psych's default) or ``"listwise"`` correlations.
    """
    frame = _item_frame(data)
    corr, n = _correlation(frame, missing=missing)
    R = corr.to_numpy()
    _check_positive_definite(R, list(corr.columns), name="data", what="the KMO measure")
    Q = np.linalg.inv(R)
    d = 1.0 / np.sqrt(np.diag(Q))
    Q = Q * d[:, None] * d[None, :]
    np.fill_diagonal(Q, 0.0)
    r = R.copy()
    np.fill_diagonal(r, 0.0)
    r2, q2 = (r**2).sum(axis=0), (Q**2).sum(axis=0)
    msa = float(r2.sum() / (r2.sum() + q2.sum()))
    return KMOResult(msa=msa, msa_items=pd.Series(r2 / (r2 + q2), index=corr.columns, name="msa"), n_obs=n)


@dataclasses.dataclass(frozen=True, repr=False)
class BartlettResult(Result):
    """Bartlett's test that the correlation matrix is an identity matrix."""

    chisq: float
    df: int
    p_value: float
    n_obs: int

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([{"chisq": self.chisq, "df": self.df, "p_value": self.p_value, "n_obs": self.n_obs}])


def bartlett_sphericity(data: Any, *, missing: Missing = "pairwise") -> BartlettResult:
    """Bartlett's test of sphericity.

    .. math:: \\chi^2 = -\\left(n - 1 - \\frac{2p + 5}{6}\\right)\\log|R|, \\qquad df = p(p-1)/2

    Bartlett (1951), "The effect of standardization on a chi square
    approximation in factor analysis", *Biometrika* 38, 337-344.  ``n`` is the
    number of rows (as psych uses it, also under pairwise deletion).
    R equivalent: ``psych::cortest.bartlett(data)``.
    """
    frame = _item_frame(data)
    corr, n = _correlation(frame, missing=missing)
    R = corr.to_numpy()
    _check_positive_definite(R, list(corr.columns), name="data", what="Bartlett's test")
    p = R.shape[0]
    _, logdet = np.linalg.slogdet(R)
    chisq = float(-logdet * (n - 1 - (2 * p + 5) / 6))
    df = p * (p - 1) // 2
    return BartlettResult(chisq=chisq, df=df, p_value=float(stats.chi2.sf(chisq, df)), n_obs=n)


# --------------------------------------------------------------------------- factor extraction (psych::fa)


def _lbfgsb_psych(fun: Any, grad: Any, start: np.ndarray, upper: float) -> tuple[np.ndarray, bool]:
    """R's ``optim(method = "L-BFGS-B", lower = .005, upper, parscale = .01)`` as psych::fa calls it.

    R scales parameters by ``parscale`` and stops at a relative reduction of
    ``factr * eps = 1e7 * 2.2e-16``, at most 100 iterations, 5 corrections.
    """
    scale = 0.01
    res = optimize.minimize(
        lambda x: fun(x * scale),
        start / scale,
        jac=lambda x: grad(x * scale) * scale,
        method="L-BFGS-B",
        bounds=[(0.005 / scale, upper / scale)] * len(start),
        options={"maxcor": 5, "ftol": 1e7 * np.finfo(float).eps, "gtol": 0.0, "maxiter": 100},
    )
    return res.x * scale, bool(res.success)


def _minres_loadings(psi: np.ndarray, S: np.ndarray, nf: int) -> np.ndarray:
    """psych's FAout.wls: principal axes of S with uniquenesses psi removed from the diagonal."""
    values, vectors = _eigh_desc(S - np.diag(psi))
    return vectors[:, :nf] * np.sqrt(np.maximum(values[:nf], 0.0))


def _fit_minres(S: np.ndarray, nf: int) -> tuple[np.ndarray, bool]:
    """Minimum residual (unweighted least squares) factoring, psych::fa(fm = "minres").

    Minimises the sum of squared off-diagonal residuals over the uniquenesses
    (Harman & Jones 1966, "Factor analysis by minimizing residuals (minres)",
    *Psychometrika* 31, 351-368) with psych's objective, gradient, start (1 - SMC)
    and bounds.
    """
    eps = np.finfo(float).eps
    low = np.tril_indices(S.shape[0], -1)

    def fn(psi: np.ndarray) -> float:
        Sm = S.copy()
        np.fill_diagonal(Sm, 1.0 - psi)
        values, vectors = _eigh_desc(Sm)
        values = np.where(values < eps, 100 * eps, values)
        L = vectors[:, :nf] * np.sqrt(values[:nf])
        resid = (Sm - L @ L.T)[low]
        return float(np.sum(resid**2))

    def gr(psi: np.ndarray) -> np.ndarray:
        L = _minres_loadings(psi, S, nf)
        return np.diag(L @ L.T) + psi - np.diag(S)

    smc = _smc(S)
    start = np.diag(S) - smc
    psi, ok = _lbfgsb_psych(fn, gr, start, max(float(smc.max()), 1.0))
    return _minres_loadings(psi, S, nf), ok


def _fit_ml(S: np.ndarray, nf: int) -> tuple[np.ndarray, bool]:
    """Maximum-likelihood factoring as psych::fa(fm = "ml") (the factanal objective).

    Jöreskog (1967), "Some contributions to maximum likelihood factor
    analysis", *Psychometrika* 32, 443-482: minimise over the uniquenesses
    ``-sum(log e - e) - nf + p`` over the ``p - nf`` smallest eigenvalues ``e``
    of ``Psi^{-1/2} S Psi^{-1/2}``.
    """
    p = S.shape[0]

    def parts(psi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        sc = 1.0 / np.sqrt(psi)
        return _eigh_desc(S * sc[:, None] * sc[None, :])

    def fn(psi: np.ndarray) -> float:
        values, _ = parts(psi)
        e = values[nf:]
        with np.errstate(invalid="ignore", divide="ignore"):
            return float(-(np.sum(np.log(e) - e) - nf + p))

    def loadings(psi: np.ndarray) -> np.ndarray:
        values, vectors = parts(psi)
        load = vectors[:, :nf] * np.sqrt(np.maximum(values[:nf] - 1.0, 0.0))
        return np.sqrt(psi)[:, None] * load

    def gr(psi: np.ndarray) -> np.ndarray:
        L = loadings(psi)
        g = L @ L.T + np.diag(psi) - S
        return np.diag(g) / psi**2

    smc = _smc(S)
    start = np.diag(S) - smc
    psi, ok = _lbfgsb_psych(fn, gr, start, max(float(smc.max()), 1.0))
    return loadings(psi), ok


def _fit_pa(
    S: np.ndarray, nf: int, *, min_err: float = 0.001, max_iter: int = 50
) -> tuple[np.ndarray, bool, np.ndarray]:
    """Iterated principal axes, psych::fa(fm = "pa"): SMC start, stop when the
    sum of communalities changes by at most ``min_err`` (psych's rule, 50 iterations).

    Also returns the eigenvalues of the last iteration (psych's ``values`` for pa).
    """
    Rm = S.copy()
    np.fill_diagonal(Rm, _smc(S))
    comm = float(np.trace(Rm))
    err, i, converged = comm, 1, True
    L = np.zeros((S.shape[0], nf))
    values = np.zeros(S.shape[0])
    while err > min_err:
        values, vectors = _eigh_desc(Rm)
        if np.any(values[:nf] < 0):
            # psych warns about "imaginary eigen values" and stops here too.
            raise DataError("data: principal-axis iteration met a negative eigenvalue; use method='minres'")
        L = vectors[:, :nf] * np.sqrt(values[:nf])
        new = np.sum(L**2, axis=1)
        comm1 = float(new.sum())
        np.fill_diagonal(Rm, new)
        err = abs(comm - comm1)
        comm = comm1
        i += 1
        if i > max_iter:
            converged = False
            break
    return L, converged, values


def _common_factor_eigenvalues(S: np.ndarray, L: np.ndarray) -> np.ndarray:
    """psych::fa()$values: eigenvalues of R with the communalities on the diagonal."""
    Sm = S.copy()
    np.fill_diagonal(Sm, np.sum(L**2, axis=1))
    return _eigh_desc(Sm)[0]


def _extract(S: np.ndarray, nf: int, method: str) -> tuple[np.ndarray, bool, np.ndarray]:
    """Unrotated loadings (columns reflected to positive sums), convergence, psych's ``values``."""
    if method == "pa":
        L, ok, values = _fit_pa(S, nf)
    else:
        L, ok = _fit_minres(S, nf) if method == "minres" else _fit_ml(S, nf)
        values = _common_factor_eigenvalues(S, L)
    signs = np.sign(L.sum(axis=0))
    signs[signs == 0] = 1.0
    return L * signs, ok, values


@dataclasses.dataclass(frozen=True, repr=False)
class EFAResult(Result):
    """Exploratory factor analysis (``psych::fa``).

    Attributes
    ----------
    loadings
        Rotated pattern loadings, items x factors, columns ordered by the
        variance they account for and reflected to positive column sums
        (psych's convention and column names, e.g. ``MR2, MR1, MR3``).
    communalities, uniquenesses
        ``h2`` and ``u2 = 1 - h2`` (for correlations) per item.
    factor_correlations
        ``Phi``; the identity for orthogonal rotations.
    structure
        Structure matrix ``loadings @ Phi``.
    variance
        SS loadings, proportion and cumulative proportion of variance per factor.
    eigenvalues, common_factor_eigenvalues
        Eigenvalues of the correlation matrix and of the reduced matrix
        (communalities on the diagonal), psych's ``e.values`` and ``values``.
    """

    loadings: pd.DataFrame
    communalities: pd.Series
    uniquenesses: pd.Series
    factor_correlations: pd.DataFrame
    structure: pd.DataFrame
    variance: pd.DataFrame
    eigenvalues: np.ndarray
    common_factor_eigenvalues: np.ndarray
    method: str
    rotation: str
    n_factors: int
    n_obs: int
    converged: bool

    def to_frame(self) -> pd.DataFrame:
        out = self.loadings.copy()
        out["h2"] = self.communalities
        out["u2"] = self.uniquenesses
        return out


@single_threaded_blas()  # hundreds of small factorisations: see single_threaded_blas
def efa(
    data: Any,
    n_factors: int,
    *,
    method: EFAMethod = "minres",
    rotation: Rotation = "oblimin",
    missing: Missing = "pairwise",
) -> EFAResult:
    """Exploratory factor analysis of the item correlation matrix.

    The common factor model :math:`R = \\Lambda\\Phi\\Lambda' + \\Psi` is fitted by

    * ``"minres"``: minimum residual / unweighted least squares (Harman & Jones 1966);
    * ``"ml"``: maximum likelihood (Jöreskog 1967; the ``factanal`` objective);
    * ``"pa"``: iterated principal axes from squared multiple correlations,

    and the loadings rotated by ``"oblimin"`` (quartimin, GPArotation's
    ``oblimin``), ``"geomin"`` (GPArotation's ``geominQ``, delta = 0.01),
    ``"promax"`` (psych's Kaiser-normalised Promax, m = 4), ``"varimax"``
    (``stats::varimax``) or ``None`` / ``"none"``.  Each step replicates psych
    2.2.9 (optimizer settings, start values, stopping rules, rotation
    algorithms; see :mod:`psychoml.stats._rotation`), so the loadings equal
    ``psych::fa(data, nfactors, fm = method, rotate = rotation)`` up to column
    order and sign (``rotation = "geomin"`` is ``rotate = "geominQ"`` there).

    Parameters
    ----------
    data
        Items in columns, observations in rows; NaN allowed.
    n_factors
        Number of factors, ``1 <= n_factors < n_items``.
    method
        ``"minres"``, ``"ml"`` or ``"pa"``.
    rotation
        ``"oblimin"``, ``"varimax"``, ``"promax"``, ``"geomin"`` or ``None``.
    missing
        ``"pairwise"`` correlations (psych's default) or ``"listwise"``.
    """
    frame = _item_frame(data)
    p = frame.shape[1]
    if isinstance(n_factors, bool) or not isinstance(n_factors, (int, np.integer)):
        raise DataError(f"n_factors: expected an integer, got {n_factors!r}")
    n_factors = int(n_factors)
    if not 1 <= n_factors < p:
        raise DataError(f"n_factors: must be between 1 and {p - 1} for {p} items, got {n_factors}")
    if method not in _METHOD_PREFIX:
        raise DataError(f"method: expected one of 'minres', 'ml', 'pa', got {method!r}")
    rot = "none" if rotation is None else rotation
    if rot not in ("oblimin", "varimax", "promax", "geomin", "none"):
        raise DataError(f"rotation: expected 'oblimin', 'varimax', 'promax', 'geomin' or None, got {rotation!r}")
    corr, n = _correlation(frame, missing=missing)
    S = corr.to_numpy()
    if method == "ml":
        _check_positive_definite(S, list(corr.columns), name="data", what="a maximum-likelihood factor analysis")
    unrotated, converged, reduced_values = _extract(S, n_factors, method)
    h2 = np.sum(unrotated**2, axis=1)
    L, Phi, rot_ok = rotate_loadings(unrotated, rot)
    signs = np.sign(L.sum(axis=0))
    signs[signs == 0] = 1.0
    L = L * signs
    Phi = Phi * signs[:, None] * signs[None, :]
    ss = np.diag(Phi @ L.T @ L)
    order = np.argsort(-ss, kind="stable") if n_factors > 1 else np.arange(1)
    L, Phi, ss = L[:, order], Phi[np.ix_(order, order)], ss[order]
    names = [f"{_METHOD_PREFIX[method]}{i + 1}" for i in order]
    items = list(corr.columns)
    loadings = pd.DataFrame(L, index=items, columns=names)
    phi = pd.DataFrame(Phi, index=names, columns=names)
    total = float(p)
    variance = pd.DataFrame(
        [ss, ss / total, np.cumsum(ss) / total],
        index=["ss_loadings", "proportion_var", "cumulative_var"],
        columns=names,
    )
    return EFAResult(
        loadings=loadings,
        communalities=pd.Series(h2, index=items, name="h2"),
        uniquenesses=pd.Series(1.0 - h2, index=items, name="u2"),
        factor_correlations=phi,
        structure=pd.DataFrame(L @ Phi, index=items, columns=names),
        variance=variance,
        eigenvalues=_eigh_desc(S)[0],
        common_factor_eigenvalues=reduced_values,
        method=method,
        rotation=rot,
        n_factors=n_factors,
        n_obs=n,
        converged=bool(converged and rot_ok),
    )


# --------------------------------------------------------------------------- number of factors


def _fa_values(R: np.ndarray) -> np.ndarray:
    """Eigenvalues of the one-factor minres reduced matrix (psych::fa.parallel's ``fa.values``)."""
    L, _ = _fit_minres(R, 1)
    return _common_factor_eigenvalues(R, L)


def _first_not_above(observed: np.ndarray, threshold: np.ndarray) -> int:
    below = np.flatnonzero(~(observed > threshold))
    return int(below[0]) if below.size else int(observed.size)


@dataclasses.dataclass(frozen=True, repr=False)
class ParallelAnalysisResult(Result):
    """Horn's parallel analysis (``psych::fa.parallel``).

    ``n_factors`` counts the leading common-factor eigenvalues above the
    ``quantile`` of their random counterparts, ``n_components`` does the same
    for principal components; ``table`` holds the scree data.
    """

    n_factors: int
    n_components: int
    method: str
    n_iter: int
    quantile: float
    table: pd.DataFrame

    def to_frame(self) -> pd.DataFrame:
        return self.table.copy()


@single_threaded_blas()  # hundreds of small factorisations: see single_threaded_blas
def parallel_analysis(
    data: Any,
    *,
    n_iter: int = 20,
    seed: int | np.random.Generator | None = None,
    method: Literal["simulated", "resampled"] = "simulated",
    quantile: float = 0.95,
    missing: Missing = "pairwise",
) -> ParallelAnalysisResult:
    """Horn's (1965) parallel analysis for the number of factors and components.

    The observed eigenvalues of R (components) and of the one-factor minres
    reduced correlation matrix (factors) are compared position by position
    with the ``quantile`` (psych: 95th percentile) of the same eigenvalues in
    ``n_iter`` random data sets of the same size: normal deviates
    (``"simulated"``) or each column resampled with replacement
    (``"resampled"``, which keeps the item distributions and missingness).
    The number retained is the count of leading observed eigenvalues above
    the threshold.  Horn (1965), "A rationale and test for the number of
    factors in factor analysis", *Psychometrika* 30, 179-185.
    R equivalent: ``psych::fa.parallel(data)`` (``nfact``/``ncomp``; its
    ``sim = FALSE`` is ``method = "resampled"``).  Random draws differ from R's,
    so eigenvalue thresholds agree only in distribution.
    """
    frame = _item_frame(data)
    if method not in ("simulated", "resampled"):
        raise DataError(f"method: expected 'simulated' or 'resampled', got {method!r}")
    if isinstance(n_iter, bool) or not isinstance(n_iter, (int, np.integer)) or n_iter < 1:
        raise DataError(f"n_iter: expected a positive integer, got {n_iter!r}")
    if not 0 < quantile < 1:
        raise DataError(f"quantile: expected a value in (0, 1), got {quantile!r}")
    corr, n = _correlation(frame, missing=missing)
    R = corr.to_numpy()
    p = R.shape[0]
    pc_obs = _eigh_desc(R)[0]
    fa_obs = _fa_values(R)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    x = (frame.dropna() if missing == "listwise" else frame).to_numpy()
    pc_sim = np.empty((n_iter, p))
    fa_sim = np.empty((n_iter, p))
    for it in range(n_iter):
        if method == "simulated":
            C = np.corrcoef(rng.standard_normal((n, p)), rowvar=False)
        else:
            while True:
                draws = np.column_stack([rng.choice(x[:, j], size=n, replace=True) for j in range(p)])
                C = pd.DataFrame(draws).corr(min_periods=3).to_numpy()
                if not np.isnan(C).any():
                    break
        pc_sim[it] = _eigh_desc(C)[0]
        fa_sim[it] = _fa_values(C)
    pc_thr = np.quantile(pc_sim, quantile, axis=0)
    fa_thr = np.quantile(fa_sim, quantile, axis=0)
    table = pd.DataFrame(
        {
            "pc_observed": pc_obs,
            "pc_random_mean": pc_sim.mean(axis=0),
            "pc_threshold": pc_thr,
            "fa_observed": fa_obs,
            "fa_random_mean": fa_sim.mean(axis=0),
            "fa_threshold": fa_thr,
        },
        index=pd.RangeIndex(1, p + 1, name="number"),
    )
    return ParallelAnalysisResult(
        n_factors=_first_not_above(fa_obs, fa_thr),
        n_components=_first_not_above(pc_obs, pc_thr),
        method=method,
        n_iter=int(n_iter),
        quantile=float(quantile),
        table=table,
    )


@dataclasses.dataclass(frozen=True, repr=False)
class VelicerMAPResult(Result):
    """Velicer's minimum average partial: ``map`` per number of components, ``n_factors`` at its minimum."""

    n_factors: int
    map: pd.Series

    def to_frame(self) -> pd.DataFrame:
        return self.map.to_frame()


@single_threaded_blas()  # hundreds of small factorisations: see single_threaded_blas
def velicer_map(data: Any, *, max_factors: int = 8, missing: Missing = "pairwise") -> VelicerMAPResult:
    """Velicer's (1976) minimum average partial (MAP) test.

    After partialling out the first *m* principal components,
    :math:`MAP_m = \\sum_{i\\ne j} r^{*2}_{ij} / (p(p-1))` averages the squared
    partial correlations; the number of factors is the *m* that minimises it.
    Velicer (1976), "Determining the number of components from the matrix of
    partial correlations", *Psychometrika* 41, 321-327.
    R equivalent: ``which.min(psych::VSS(data, n = max_factors)$map)``
    (m = 1 .. min(max_factors, p - 1); psych does not consider m = 0).
    """
    frame = _item_frame(data, min_items=3)
    if isinstance(max_factors, bool) or not isinstance(max_factors, (int, np.integer)) or max_factors < 1:
        raise DataError(f"max_factors: expected a positive integer, got {max_factors!r}")
    corr, _ = _correlation(frame, missing=missing)
    R = corr.to_numpy()
    p = R.shape[0]
    values, vectors = _eigh_desc(R)
    comp = vectors * np.sqrt(np.maximum(values, 0.0))
    m_max = min(int(max_factors), p - 1)
    out = np.full(m_max, np.nan)
    for m in range(1, m_max + 1):
        c = R - comp[:, :m] @ comp[:, :m].T
        d = 1.0 / np.sqrt(np.diag(c))
        rstar = c * d[:, None] * d[None, :]
        np.fill_diagonal(rstar, 0.0)
        out[m - 1] = np.sum(rstar**2) / (p * (p - 1))
    series = pd.Series(out, index=pd.RangeIndex(1, m_max + 1, name="n_components"), name="map")
    return VelicerMAPResult(n_factors=int(np.nanargmin(out)) + 1, map=series)


@dataclasses.dataclass(frozen=True, repr=False)
class ScreeResult(Result):
    """Scree data: eigenvalues of R (components) and of the reduced matrix (factors)."""

    table: pd.DataFrame

    def to_frame(self) -> pd.DataFrame:
        return self.table.copy()


def scree(data: Any, *, missing: Missing = "pairwise") -> ScreeResult:
    """Eigenvalues for a scree plot (Cattell 1966, "The scree test for the number of factors").

    ``pc_eigenvalue``: eigenvalues of the correlation matrix; ``fa_eigenvalue``:
    eigenvalues of the reduced matrix with one-factor minres communalities on
    the diagonal.  R equivalent: ``psych::fa.parallel(data)$pc.values`` and ``$fa.values``.
    """
    frame = _item_frame(data)
    corr, _ = _correlation(frame, missing=missing)
    R = corr.to_numpy()
    table = pd.DataFrame(
        {"pc_eigenvalue": _eigh_desc(R)[0], "fa_eigenvalue": _fa_values(R)},
        index=pd.RangeIndex(1, R.shape[0] + 1, name="number"),
    )
    return ScreeResult(table=table)


# --------------------------------------------------------------------------- CFA and invariance (lavaan)


@dataclasses.dataclass(frozen=True, repr=False)
class CFAResult(Result):
    """Confirmatory factor analysis fitted by maximum likelihood (``lavaan::cfa``).

    Attributes
    ----------
    fit
        Read-only mapping: ``npar, chisq, df, pvalue, baseline_chisq, baseline_df,
        cfi, tli, rmsea, rmsea_ci_lower, rmsea_ci_upper, srmr, aic, bic, loglik,
        n_obs`` (lavaan's ``fitMeasures`` with ``.`` written ``_``, ``logl`` as ``loglik``).
    loadings, standardized_loadings
        Items x factors (zeros where an item does not load); ``std.all``
        for the standardised ones.  With groups the rows are a
        ``(group, item)`` MultiIndex.
    estimates
        lavaan's ``parameterEstimates(fit, standardized = TRUE)``: ``lhs, op, rhs,
        group, label, free, est, se, z, pvalue, std_lv, std_all``.
    """

    fit: Mapping[str, float]
    loadings: pd.DataFrame
    standardized_loadings: pd.DataFrame
    estimates: pd.DataFrame
    groups: tuple[str, ...]
    n_obs: int
    converged: bool
    model: str = dataclasses.field(repr=False)

    def to_frame(self) -> pd.DataFrame:
        return self.estimates.copy()


def _cfa_result(fitted: _sem.FittedModel, model: str) -> CFAResult:
    return CFAResult(
        fit=fitted.fit_measures,
        loadings=fitted.loadings(standardized=False),
        standardized_loadings=fitted.loadings(standardized=True),
        estimates=fitted.estimates,
        groups=fitted.groups,
        n_obs=fitted.n_total,
        converged=fitted.converged,
        model=model,
    )


@single_threaded_blas()  # hundreds of small factorisations: see single_threaded_blas
def cfa(
    model: str,
    data: Any,
    *,
    group: str | None = None,
    group_equal: Sequence[str] = (),
    std_lv: bool = False,
    orthogonal: bool = False,
    meanstructure: bool | None = None,
) -> CFAResult:
    """Confirmatory factor analysis from lavaan model syntax, by maximum likelihood.

    Syntax (one statement per line or separated by ``;``, ``#`` comments)::

        visual  =~ x1 + x2 + x3        # factor measured by items
        textual =~ x4 + x5 + NA*x6     # NA* frees a loading, 1* / 0.5* fixes one
        x1 ~~ x9                       # residual covariance
        visual ~~ 0*speed              # fixed factor covariance
        x2 ~~ a*x2; x3 ~~ a*x3         # shared labels = equality constraints

    Defaults follow ``lavaan::cfa``: the first loading of each factor fixed at 1
    (marker variable; ``std_lv=True`` fixes factor variances at 1 instead),
    residual variances and all factor covariances free, a mean structure only
    with groups (latent means 0; freed outside the first group when
    intercepts are constrained equal, as ``group.equal = "intercepts"``).
    The ML discrepancy per group, with the biased covariance ``S`` (divisor N),

    .. math:: F_g = \\log|\\Sigma| + \\operatorname{tr}(S\\Sigma^{-1}) - \\log|S| - p
              + (\\bar y - \\mu)'\\Sigma^{-1}(\\bar y - \\mu),

    is minimised over the parameters (analytic gradient, expected information
    as Hessian) and ``chisq = sum_g N_g F_g``.  Fit indices follow lavaan
    0.6: CFI and TLI against the independence model, RMSEA
    ``sqrt(max(chisq/df - 1, 0)/N) sqrt(G)`` with its 90% interval from the
    non-central chi-square, SRMR (Bentler; residual covariances and means
    scaled by the observed standard deviations, N_g-weighted over groups),
    AIC/BIC from the log-likelihood.  Browne & Cudeck (1993), "Alternative ways
    of assessing model fit"; Bentler (1990), "Comparative fit indexes in
    structural models"; Rosseel (2012), "lavaan: an R package for structural
    equation modeling", *J. Stat. Softw.* 48(2).
    R equivalent: ``lavaan::cfa(model, data, group=, group.equal=, std.lv=)``.

    Parameters
    ----------
    model
        lavaan syntax (``=~``, ``~~``, ``~ 1``; modifiers ``1*``, ``NA*``, labels).
    data
        DataFrame holding the observed variables (other columns ignored);
        rows with a missing value on them are dropped (listwise).
    group
        Column naming the groups for a multigroup model.
    group_equal
        Parameter classes held equal across groups: ``"loadings"``,
        ``"intercepts"``, ``"residuals"``, ``"residual.covariances"``,
        ``"lv.variances"``, ``"lv.covariances"``, ``"means"``.
    std_lv
        Identify factors by unit variance instead of a marker loading.
    orthogonal
        Fix all factor covariances at zero.
    meanstructure
        Model means; default ``True`` with groups, ``False`` otherwise (lavaan).
    """
    fitted = _sem.fit_model(
        model,
        data,
        group=group,
        group_equal=tuple(group_equal),
        std_lv=std_lv,
        orthogonal=orthogonal,
        meanstructure=meanstructure,
    )
    return _cfa_result(fitted, model)


@dataclasses.dataclass(frozen=True, repr=False)
class InvarianceResult(Result):
    """Measurement invariance sequence; ``table`` has one row per step.

    Columns: ``npar, chisq, df, pvalue, cfi, tli, rmsea, rmsea_ci_lower,
    rmsea_ci_upper, srmr, aic, bic`` and, against the previous step,
    ``chisq_diff, df_diff, p_diff, delta_cfi, delta_rmsea`` (later minus earlier,
    as ``semTools::compareFit``).  ``fits`` holds each step's :class:`CFAResult`.
    """

    table: pd.DataFrame
    fits: Mapping[str, CFAResult]
    group: str
    groups: tuple[str, ...]

    def to_frame(self) -> pd.DataFrame:
        return self.table.copy()


_INVARIANCE_STEPS: dict[str, tuple[str, ...]] = {
    "configural": (),
    "metric": ("loadings",),
    "scalar": ("loadings", "intercepts"),
    "strict": ("loadings", "intercepts", "residuals"),
}


@single_threaded_blas()  # hundreds of small factorisations: see single_threaded_blas
def invariance(
    model: str,
    data: Any,
    *,
    group: str,
    steps: Sequence[str] = ("configural", "metric", "scalar"),
    std_lv: bool = False,
) -> InvarianceResult:
    """Configural, metric and scalar (optionally strict) measurement invariance across groups.

    Each step is a multigroup :func:`cfa` with more parameter classes held
    equal (metric: loadings; scalar: loadings and intercepts, latent means
    free outside the first group; strict: also residual variances).  Nested
    steps are compared with the likelihood-ratio test
    :math:`\\Delta\\chi^2 = \\chi^2_{k} - \\chi^2_{k-1}` on
    :math:`\\Delta df` degrees of freedom, and by the change in CFI and RMSEA
    (Cheung & Rensvold 2002, *Structural Equation Modeling* 9, 233-255;
    Chen 2007, 14, 464-504: a drop in CFI beyond .01 flags non-invariance).
    R equivalent: ``lavaan::cfa(model, data, group =, group.equal =)`` per
    step, ``lavTestLRT`` and ``semTools::compareFit``.
    """
    if not isinstance(group, str):
        raise DataError(f"group: expected a column name, got {group!r}")
    steps = list(steps)
    unknown = [s for s in steps if s not in _INVARIANCE_STEPS]
    if unknown or not steps:
        raise DataError(f"steps: expected some of {list(_INVARIANCE_STEPS)}, got {steps!r}")
    fits: dict[str, CFAResult] = {}
    rows = []
    prev: CFAResult | None = None
    for step in steps:
        res = cfa(model, data, group=group, group_equal=_INVARIANCE_STEPS[step], std_lv=std_lv)
        fits[step] = res
        f = res.fit
        row: dict[str, Any] = {"step": step}
        for key in (
            "npar",
            "chisq",
            "df",
            "pvalue",
            "cfi",
            "tli",
            "rmsea",
            "rmsea_ci_lower",
            "rmsea_ci_upper",
            "srmr",
            "aic",
            "bic",
        ):
            row[key] = f[key]
        if prev is None:
            row.update(chisq_diff=np.nan, df_diff=np.nan, p_diff=np.nan, delta_cfi=np.nan, delta_rmsea=np.nan)
        else:
            pf = prev.fit
            dchi = f["chisq"] - pf["chisq"]
            ddf = f["df"] - pf["df"]
            row.update(
                chisq_diff=dchi,
                df_diff=ddf,
                p_diff=float(stats.chi2.sf(dchi, ddf)) if ddf > 0 else np.nan,
                delta_cfi=f["cfi"] - pf["cfi"],
                delta_rmsea=f["rmsea"] - pf["rmsea"],
            )
        rows.append(row)
        prev = res
    table = pd.DataFrame(rows).set_index("step")
    first = next(iter(fits.values()))
    return InvarianceResult(table=table, fits=MappingProxyType(fits), group=group, groups=first.groups)
