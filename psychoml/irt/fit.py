"""Fitting IRT models: ``fit(data, model="2pl", method="nuts")`` and the :class:`IrtResult` it returns.

Models: Rasch/1PL, 2PL, 3PL (binary); graded response (GRM) and generalised partial credit (GPCM) for ordered
categories; two-dimensional compensatory 2PL/GRM/GPCM (``n_dims=2``); hierarchical item priors
(``hierarchical=True``).  Methods: NUTS through nutpie (``"nuts"``, default) or numpyro (``"numpyro"``),
ADVI (``"advi"``), pathfinder (``"pathfinder"``, needs pymc-extras), a MAP point estimate (``"map"``) and the
marginal-ML EM of :mod:`psychoml.irt._mml` (``"mml"``, 2PL).  NUTS samples the one-dimensional 1PL/2PL through
the hand-written numba log-density and gradient of :mod:`psychoml.irt._fast2pl` (the same posterior as the PyMC
model, tested equal to its logp and gradient; ~8x cheaper per gradient), every other model through PyMC's graph.

R equivalents: ``mirt::mirt(data, 1, itemtype = "2PL" | "Rasch" | "3PL" | "graded" | "gpcm")`` for the point
estimates; the Bayesian models are those of Bürkner (2020, *J. Intell.* 8:5, "Analysing Standard Progressive
Matrices (SPM-LS) with Bayesian Item Response Models") in slope-intercept form.
"""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from psychoml._base import Result, single_threaded_blas
from psychoml.errors import ConfigurationError, DataError
from psychoml.irt._data import IrtData, prepare_data
from psychoml.irt._probs import BINARY_MODELS, category_probs

__all__ = [
    "METHODS",
    "MODELS",
    "IrtConvergenceWarning",
    "IrtResult",
    "fit",
    "load_result",
]

MODELS = ("1pl", "2pl", "3pl", "grm", "gpcm")
_ALIASES = {"rasch": "1pl", "1pl": "1pl", "2pl": "2pl", "3pl": "3pl", "grm": "grm", "graded": "grm",
            "gpcm": "gpcm"}
METHODS = ("nuts", "numpyro", "advi", "pathfinder", "map", "mml")
_HDI_PROB = 0.9
_RHAT_MAX = 1.01
_ESS_MIN = 400
#: above this PSIS shape the importance-weighted approximation is unreliable (Vehtari et al. 2024, JMLR 25:72)
_PARETO_K_MAX = 0.7


class IrtConvergenceWarning(UserWarning):
    """The fit's diagnostics (R-hat, ESS, divergences; pathfinder's Pareto k) say its summaries are not yet reliable."""


# --- summaries -----------------------------------------------------------------------------------------------------
def _hdi(draws: np.ndarray, prob: float = _HDI_PROB) -> tuple[np.ndarray, np.ndarray]:
    """Narrowest interval holding ``prob`` of the draws, per column (draws on axis 0)."""
    s = np.sort(draws, axis=0)
    n = s.shape[0]
    k = max(int(np.ceil(prob * n)), 1)
    if k >= n:
        return s[0], s[-1]
    widths = s[k - 1:] - s[: n - k + 1]
    lo = np.argmin(widths, axis=0)
    idx = np.arange(s.shape[1]) if s.ndim > 1 else None
    if idx is None:
        return s[lo], s[lo + k - 1]
    return s[lo, idx], s[lo + k - 1, idx]


def _summarise(columns: dict[str, np.ndarray], index: pd.Index) -> pd.DataFrame:
    """Posterior mean, sd and 90% HDI of each (draws x rows) array, as tidy columns."""
    out: dict[str, np.ndarray] = {}
    for name, draws in columns.items():
        out[name] = draws.mean(axis=0)
        if draws.shape[0] > 1:
            out[f"{name}_sd"] = draws.std(axis=0, ddof=1)
            lo, hi = _hdi(draws)
            out[f"{name}_hdi_low"], out[f"{name}_hdi_high"] = lo, hi
        else:
            out[f"{name}_sd"] = np.full(draws.shape[1], np.nan)
    return pd.DataFrame(out, index=index)


# --- the result ------------------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True, repr=False)
class IrtResult(Result):
    """A fitted IRT model.

    Attributes
    ----------
    model, method, n_dims
        What was fitted and how.
    items
        One row per item: ``a`` (``a1``, ``a2`` with two dimensions), ``b`` (location; for GRM/GPCM the mean of
        the thresholds), ``b1..b{K-1}`` thresholds for GRM/GPCM, ``d`` intercepts, ``c`` for 3PL; each with
        ``_sd`` and, for posterior draws, 90% ``_hdi_low``/``_hdi_high``.
    persons
        One row per person: ``theta`` (``theta1``, ``theta2``), its posterior sd (the standard error of ability)
        and 90% HDI.  Persons with no responses are not in the table (they were dropped with a warning).
    idata
        ArviZ ``InferenceData`` (posterior draws; a single draw for point estimates) with the responses in
        ``constant_data`` so the result can be saved (``idata.to_netcdf``) and reloaded (:func:`load_result`).
    diagnostics
        ``max_rhat``, ``min_ess_bulk``, ``min_ess_tail``, ``divergences`` (NUTS: nutpie, numpyro), ``pareto_k``
        (pathfinder's PSIS shape; above 0.7 its intervals are unreliable); empty for ADVI, MAP and ML.
    loglik
        Marginal log-likelihood (``method="mml"`` only).
    """

    model: str
    method: str
    n_dims: int
    items: pd.DataFrame
    persons: pd.DataFrame
    idata: Any = dataclasses.field(repr=False)
    diagnostics: dict[str, float]
    loglik: float | None
    _data: IrtData = dataclasses.field(repr=False)
    _draws: dict[str, np.ndarray] = dataclasses.field(repr=False)

    # -- tables -------------------------------------------------------------------------------------------------------
    def to_frame(self) -> pd.DataFrame:
        """The item table."""
        return self.items

    @property
    def n_persons(self) -> int:
        return self._data.matrix.shape[0]

    @property
    def n_items(self) -> int:
        return self._data.matrix.shape[1]

    def _point(self) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        a = self._draws["a"].mean(axis=0)
        d = self._draws["d"].mean(axis=0)
        c = self._draws["c"].mean(axis=0) if "c" in self._draws else None
        return a, d, c

    def _grid(self, theta: Any) -> np.ndarray:
        t = np.asarray(theta, dtype=float)
        if self.n_dims == 1:
            return np.atleast_1d(t).reshape(-1, 1)
        t = np.atleast_2d(t)
        if t.shape[1] != self.n_dims:
            raise DataError(f"theta: a {self.n_dims}-dimensional model needs rows of {self.n_dims} abilities")
        return t

    def _probs_at(self, grid: np.ndarray) -> np.ndarray:
        a, d, c = self._point()
        return category_probs(self.model, grid[:, None, :], a[None], d[None], None if c is None else c[None])

    # -- information, scores ------------------------------------------------------------------------------------------
    def information(self, theta: Any) -> pd.DataFrame:
        """Item and test information at ``theta`` (posterior-mean item parameters).

        ``I_j(theta) = sum_k P'_jk(theta)^2 / P_jk(theta)`` (Samejima, 1969; for the 2PL ``a^2 P (1 - P)``), the
        derivative taken numerically (central difference, h = 1e-5) so the one formula serves every model; with
        two dimensions the information is along the first ability axis direction of ``theta`` rows, i.e. the
        trace of the Fisher information.  Column ``test`` is the sum; ``se`` = 1 / sqrt(test).
        R: ``mirt::iteminfo`` / ``mirt::testinfo``.
        """
        grid = self._grid(theta)
        h = 1e-5
        info = np.zeros((grid.shape[0], self.n_items))
        p0 = self._probs_at(grid)
        for k in range(self.n_dims):
            step = np.zeros(self.n_dims)
            step[k] = h
            dp = (self._probs_at(grid + step) - self._probs_at(grid - step)) / (2 * h)
            info += np.sum(dp**2 / np.maximum(p0, 1e-300), axis=-1)
        frame = pd.DataFrame(info, columns=self._data.items, index=self._index(grid))
        frame["test"] = info.sum(axis=1)
        frame["se"] = 1.0 / np.sqrt(frame["test"])
        return frame

    def standard_error(self, theta: Any) -> pd.Series:
        """Standard error of ability at ``theta``: 1 / sqrt(test information)."""
        return self.information(theta)["se"]

    def expected_score(self, theta: Any) -> pd.DataFrame:
        """Expected item scores (raw response scale) at ``theta`` and their sum (``total``, the test curve)."""
        grid = self._grid(theta)
        p = self._probs_at(grid)
        cats = np.arange(p.shape[-1]) + self._data.offset
        exp = p @ cats
        frame = pd.DataFrame(exp, columns=self._data.items, index=self._index(grid))
        frame["total"] = exp.sum(axis=1)
        return frame

    def _index(self, grid: np.ndarray) -> pd.Index:
        if self.n_dims == 1:
            return pd.Index(grid[:, 0], name="theta")
        return pd.MultiIndex.from_arrays([grid[:, k] for k in range(self.n_dims)],
                                         names=[f"theta{k + 1}" for k in range(self.n_dims)])

    # -- model checking -----------------------------------------------------------------------------------------------
    def _draw_params(self, s: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
        c = self._draws["c"][s] if "c" in self._draws else None
        return self._draws["theta"][s], self._draws["a"][s], self._draws["d"][s], c

    def _cell_probs(self, s: int, pi: np.ndarray, ii: np.ndarray) -> np.ndarray:
        theta, a, d, c = self._draw_params(s)
        return category_probs(self.model, theta[pi], a[ii], d[ii], None if c is None else c[ii])

    def _thinned(self, max_draws: int) -> np.ndarray:
        n = self._draws["a"].shape[0]
        return np.unique(np.linspace(0, n - 1, min(n, max_draws)).round().astype(int))

    def pointwise_loglik(self, *, max_draws: int = 500) -> np.ndarray:
        """Log-likelihood of every observed response under (up to ``max_draws``) posterior draws: draws x cells."""
        pi, ii, y = self._data.observed
        draws = self._thinned(max_draws)
        out = np.empty((len(draws), len(y)))
        for row, s in enumerate(draws):
            p = self._cell_probs(s, pi, ii)
            out[row] = np.log(np.maximum(p[np.arange(len(y)), y], 1e-300))
        return out

    def _loo_idata(self, max_draws: int) -> Any:
        import arviz as az

        ll = self.pointwise_loglik(max_draws=max_draws)
        return az.from_dict(log_likelihood={"y": ll[None]}, posterior={"lp": np.zeros((1, ll.shape[0]))})

    def compare(self, *others: IrtResult, ic: str = "loo", max_draws: int = 500) -> pd.DataFrame:
        """Compare this fit with others on the same responses by PSIS-LOO (``ic="loo"``) or WAIC.

        The pointwise unit is one response (person x item cell).  Returns ArviZ's comparison table (rank,
        elpd, p, elpd difference and its standard error, weight), rows named ``model/method``.
        R: ``loo::loo_compare``.
        """
        import arviz as az

        if ic not in ("loo", "waic"):
            raise DataError(f"ic: expected 'loo' or 'waic', got {ic!r}")
        fits = (self, *others)
        for f in fits:
            if f.method in ("map", "mml"):
                raise DataError(f"compare: {f.model}/{f.method} is a point estimate; LOO/WAIC need posterior "
                                "draws (refit with method='nuts' or 'advi')")
            if not _same_data(self._data, f._data):
                raise DataError("compare: fits were made on different responses; compare models of the same data")
        names: dict[str, Any] = {}
        for f in fits:
            name = f"{f.model}{'-2d' if f.n_dims == 2 else ''}/{f.method}"
            while name in names:
                name += "'"
            names[name] = f._loo_idata(max_draws)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return az.compare(names, ic=ic)

    def ppc(self, *, n_draws: int = 200, seed: int = 0) -> pd.DataFrame:
        """Posterior predictive check per item (Gelman, Meng & Stern, 1996).

        Replicates every observed response from ``n_draws`` posterior draws and compares, per item, the mean
        response and the item-total correlation (total = person's mean over observed items) with their observed
        values: ``ppp_*`` is P(replicated >= observed); values below 0.025 or above 0.975 flag misfit.
        """
        rng = np.random.default_rng(seed)
        X = self._data.matrix
        mask = ~np.isnan(X)
        pi, ii, y = self._data.observed
        draws = self._thinned(n_draws)
        obs_mean, obs_corr = _item_stats(X, mask)
        rep_mean = np.empty((len(draws), X.shape[1]))
        rep_corr = np.empty_like(rep_mean)
        for row, s in enumerate(draws):
            p = self._cell_probs(s, pi, ii)
            u = rng.random(len(y))
            yrep = (u[:, None] > np.cumsum(p, axis=1)[:, :-1]).sum(axis=1)
            Xr = np.full(X.shape, np.nan)
            Xr[pi, ii] = yrep
            rep_mean[row], rep_corr[row] = _item_stats(Xr, mask)
        off = self._data.offset
        return pd.DataFrame({
            "mean": obs_mean + off,
            "mean_rep": rep_mean.mean(axis=0) + off,
            "ppp_mean": (rep_mean >= obs_mean).mean(axis=0),
            "item_total_r": obs_corr,
            "item_total_r_rep": rep_corr.mean(axis=0),
            "ppp_item_total_r": (rep_corr >= obs_corr).mean(axis=0),
        }, index=self._data.items)

    def item_fit(self) -> pd.DataFrame:
        """Infit and outfit mean squares per item (Wright & Masters, 1982), from posterior means.

        ``outfit_j = mean_i z_ij^2`` with ``z = (x - E) / sqrt(W)``; ``infit_j = sum_i (x - E)^2 / sum_i W``,
        E and W the model's expected score and variance.  Values near 1 fit; above ~1.3 the item is noisier
        than the model, below ~0.7 more deterministic.  R: ``mirt::itemfit(fit, c("infit"))``.
        """
        a, d, c = self._point()
        theta = self._draws["theta"].mean(axis=0)
        pi, ii, y = self._data.observed
        p = category_probs(self.model, theta[pi], a[ii], d[ii], None if c is None else c[ii])
        cats = np.arange(p.shape[1])
        E = p @ cats
        W = p @ cats**2 - E**2
        r2 = (y - E) ** 2
        J = self.n_items
        n = np.bincount(ii, minlength=J)
        outfit = np.bincount(ii, r2 / np.maximum(W, 1e-12), minlength=J) / n
        infit = np.bincount(ii, r2, minlength=J) / np.bincount(ii, W, minlength=J)
        return pd.DataFrame({"infit": infit, "outfit": outfit, "n": n}, index=self._data.items)


def _item_stats(X: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    with np.errstate(invalid="ignore", divide="ignore"):
        n = mask.sum(axis=0)
        Xz = np.where(mask, X, 0.0)
        mean = Xz.sum(axis=0) / n
        total = Xz.sum(axis=1) / np.maximum(mask.sum(axis=1), 1)
        xc = np.where(mask, X - mean, 0.0)
        tm = np.array([total[mask[:, j]].mean() for j in range(X.shape[1])])
        tc = np.where(mask, total[:, None] - tm, 0.0)
        corr = (xc * tc).sum(axis=0) / np.sqrt((xc**2).sum(axis=0) * (tc**2).sum(axis=0))
    return mean, corr


def _same_data(x: IrtData, y: IrtData) -> bool:
    return x.matrix.shape == y.matrix.shape and bool(np.array_equal(x.matrix, y.matrix, equal_nan=True))


# --- fitting ---------------------------------------------------------------------------------------------------------
def fit(
    data: Any,
    model: str = "2pl",
    method: str = "nuts",
    *,
    n_dims: int = 1,
    hierarchical: bool = True,
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    cores: int | None = None,
    seed: int | None = None,
    advi_iterations: int = 30000,
    n_quad: int = 61,
    progress: bool = False,
    warn: bool = True,
) -> IrtResult:
    """Fit an item response model.

    Parameters
    ----------
    data
        Respondents x items: a wide DataFrame (person ids in the index), a 2-D array, a CSV/TSV/Parquet path, a
        long table with ``item`` and ``value`` columns plus ``respondent``/``person`` or psychoml's respondent
        columns (``model``, ``persona``, ``variant``, ``sample``), or a psychoml store (its ``responses()``).
        Missing responses (NaN) are left out of the likelihood, never imputed.  Binary models need 0/1;
        polytomous models take consecutive integer categories (e.g. 1-5).
    model
        ``"1pl"`` (alias ``"rasch"``: common slope), ``"2pl"``, ``"3pl"``, ``"grm"`` (alias ``"graded"``),
        ``"gpcm"``.
    method
        ``"nuts"`` (nutpie; default), ``"numpyro"``, ``"advi"``, ``"pathfinder"``, ``"map"`` (for the 1-D 2PL
        the marginal posterior mode by EM with a log-normal(0, 0.5) slope prior and EAP abilities; for other
        models the joint mode of items and abilities under fixed weak priors, a quick look that is biased
        towards larger slopes),
        ``"mml"`` (marginal ML by EM with EAP abilities; 2PL, one dimension).
    n_dims
        1, or 2 for a two-dimensional compensatory model (2PL, GRM, GPCM): item 1 loads on dimension 1 only and
        item 2's second slope is positive (identification); abilities are independent N(0, 1).
    hierarchical
        Hierarchical (partially pooled) priors on log slopes and intercepts; otherwise fixed weak priors.
    draws, tune, chains, cores, seed
        Sampler settings (nuts, numpyro); ``draws`` is also the number of draws taken from ADVI/pathfinder.
    advi_iterations
        Optimisation steps for ADVI.
    n_quad
        Quadrature nodes for ``method="mml"``.
    warn
        Emit :class:`IrtConvergenceWarning` when R-hat > 1.01, bulk/tail ESS < 400 or divergences occur.

    Returns
    -------
    IrtResult
    """
    key = str(model).lower()
    if key not in _ALIASES:
        raise DataError(f"model: unknown IRT model {model!r}; choose one of {', '.join(MODELS)} (or 'rasch')")
    model = _ALIASES[key]
    if method not in METHODS:
        raise DataError(f"method: unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if n_dims not in (1, 2):
        raise DataError(f"n_dims: 1 or 2 dimensions are supported, got {n_dims!r}")
    if n_dims == 2 and model in ("1pl", "3pl"):
        raise DataError(f"n_dims: the two-dimensional model is available for 2pl, grm and gpcm, not {model}")
    for arg, val, low in (("draws", draws, 1), ("tune", tune, 0), ("chains", chains, 1)):
        if int(val) < low:
            raise DataError(f"{arg}: must be at least {low}, got {val!r}")
    irt_data = prepare_data(data, binary=model in BINARY_MODELS)
    if model in BINARY_MODELS:
        irt_data = dataclasses.replace(irt_data, n_categories=2)
    if n_dims == 2 and irt_data.matrix.shape[1] < 3:
        raise DataError("data: a two-dimensional model needs at least 3 items")

    if method == "mml" or (method == "map" and model == "2pl" and n_dims == 1):
        # the 2PL's MAP is the marginal posterior mode: EM with a log-normal(0, 0.5) prior on the slopes
        return _fit_mml(irt_data, model, n_dims, n_quad, method=method,
                        prior_a=(0.0, 0.5) if method == "map" else None)

    from psychoml.irt._pymc import build_model

    if method == "nuts":
        idata = _sample_nutpie(irt_data, model, n_dims, hierarchical, draws=draws, tune=tune, chains=chains,
                               cores=cores, seed=seed, progress=progress)
        return _make_result(irt_data, model, method, n_dims, idata, warn=warn)
    # a joint posterior mode under hierarchical priors is degenerate (sigma -> 0), so MAP uses fixed priors
    pm_model = build_model(irt_data, model, n_dims=n_dims, hierarchical=hierarchical and method != "map")
    if method == "numpyro":
        idata = _sample_numpyro(pm_model, draws=draws, tune=tune, chains=chains, cores=cores, seed=seed,
                                progress=progress)
    elif method == "advi":
        idata = _fit_advi(pm_model, draws=draws, iterations=advi_iterations, seed=seed, progress=progress)
    elif method == "pathfinder":
        idata = _fit_pathfinder(pm_model, draws=draws, seed=seed, progress=progress)
    else:
        idata = _fit_map(pm_model, seed=seed, progress=progress)
    return _make_result(irt_data, model, method, n_dims, idata, warn=warn)


_KEEP = ("theta", "a", "d", "b", "c", "mu_log_a", "sigma_log_a", "mu_d", "sigma_d", "log_a_common")


def _var_names(pm_model: Any) -> list[str]:
    names = {v.name for v in pm_model.free_RVs} | {v.name for v in pm_model.deterministics}
    return [n for n in _KEEP if n in names]


#: nutpie models compiled in this process, keyed by what fixes the graph (model, shape, categories, priors)
_COMPILED: dict[tuple[Any, ...], Any] = {}


#: sample the 1-D 1PL/2PL through the hand-written density (False: through PyMC's graph, the reference)
_FAST_NUTS = True


def _remember(key: tuple[Any, ...], compiled: Any) -> None:
    if len(_COMPILED) >= 8:
        _COMPILED.pop(next(iter(_COMPILED)))
    _COMPILED[key] = compiled


def _sample_nutpie(data: IrtData, model: str, n_dims: int, hierarchical: bool, *, draws: int, tune: int,
                   chains: int, cores: int | None, seed: int | None, progress: bool) -> Any:
    import nutpie

    from psychoml.irt._fast2pl import compile_fast_model, fast_path_available, response_signs
    from psychoml.irt._pymc import build_model

    fast = _FAST_NUTS and fast_path_available(model, n_dims)
    key = (model, n_dims, hierarchical, data.matrix.shape, data.n_categories, fast)
    compiled = _COMPILED.get(key)
    if fast and compiled is None:
        # the 1-D 1PL/2PL: the same posterior as build_model's, through a hand-written numba log-density and
        # gradient (~8x cheaper per gradient than PyMC's graph on 500 x 100; see psychoml/irt/_fast2pl.py)
        compiled = compile_fast_model(data.matrix, model, hierarchical, persons=[str(p) for p in data.persons],
                                      items=list(data.items))
        _remember(key, compiled)
    elif fast:
        compiled = compiled.with_data(sgn=response_signs(data.matrix))
    elif compiled is None:
        pm_model = build_model(data, model, n_dims=n_dims, hierarchical=hierarchical)
        compiled = nutpie.compile_pymc_model(pm_model, var_names=_var_names(pm_model))
        _remember(key, compiled)
    else:  # same graph: swap the data in, no recompilation
        mask = (~np.isnan(data.matrix)).astype("float64")
        compiled = compiled.with_data(Y=np.where(mask > 0, data.matrix, 0.0), mask=mask)
    # the low-rank mass matrix adapts to the few global directions of an IRT posterior (all slopes up while
    # all abilities shrink; all intercepts shift with the ability mean), which a diagonal one cannot: on a
    # 300 x 10 2PL it raises the abilities' ESS ~25-fold at the same number of gradient evaluations
    # one BLAS thread per chain: the chains already fill the cores, and threaded BLAS on top oversubscribes
    with single_threaded_blas():
        idata = nutpie.sample(compiled, draws=draws, tune=tune, chains=chains, cores=cores or min(chains, 2),
                              seed=seed, progress_bar=progress, save_warmup=False,
                              low_rank_modified_mass_matrix=True)
    return _relabel(idata, data)


def _relabel(idata: Any, data: IrtData) -> Any:
    """Person and item labels of this data set (a reused compiled model carries those of its first data)."""
    labels = {"person": [str(p) for p in data.persons], "item": list(data.items)}
    for group in idata.groups():
        ds = getattr(idata, group)
        new = {k: v for k, v in labels.items() if k in ds.coords}
        if new:
            setattr(idata, group, ds.assign_coords(new))
    return idata


def _sample_numpyro(pm_model: Any, *, draws: int, tune: int, chains: int, cores: int | None, seed: int | None,
                    progress: bool) -> Any:
    try:
        import numpyro  # noqa: F401
    except ImportError:
        raise ConfigurationError("method='numpyro' needs numpyro and jax: pip install numpyro jax") from None
    import pymc as pm

    with pm_model:
        return pm.sample(draws=draws, tune=tune, chains=chains, cores=cores, random_seed=seed,
                         nuts_sampler="numpyro", progressbar=progress, var_names=_var_names(pm_model))


def _fit_advi(pm_model: Any, *, draws: int, iterations: int, seed: int | None, progress: bool) -> Any:
    import pymc as pm

    with pm_model:
        approx = pm.fit(n=iterations, method="advi", random_seed=seed, progressbar=progress,
                        callbacks=[pm.callbacks.CheckParametersConvergence(tolerance=1e-3, diff="relative")])
        return approx.sample(draws, random_seed=seed, return_inferencedata=True)


def _fit_pathfinder(pm_model: Any, *, draws: int, seed: int | None, progress: bool) -> Any:
    import sys

    try:
        import pymc_extras as pmx
    except ImportError:
        raise ConfigurationError("method='pathfinder' needs pymc-extras: pip install pymc-extras") from None
    # Paths run in forked processes by default; forking a process that has loaded JAX (numpyro) can deadlock.
    concurrent = None if "jax" in sys.modules else "process"
    with pm_model:
        return pmx.fit(method="pathfinder", num_draws=draws, random_seed=seed, progressbar=progress,
                       display_summary=False, concurrent=concurrent)


def _fit_map(pm_model: Any, *, seed: int | None, progress: bool) -> Any:
    import arviz as az
    import pymc as pm

    with pm_model:
        point = pm.find_MAP(progressbar=progress, seed=seed)
    names = _var_names(pm_model)
    dims = {name: list(pm_model.named_vars_to_dims.get(name, ())) for name in names}
    coords = {k: list(v) for k, v in pm_model.coords.items()}
    posterior = {n: np.asarray(point[n])[None, None] for n in names}
    return az.from_dict(posterior=posterior, dims=dims, coords=coords)


def _fit_mml(data: IrtData, model: str, n_dims: int, n_quad: int, *, method: str = "mml",
             prior_a: tuple[float, float] | None = None) -> IrtResult:
    import arviz as az

    from psychoml.irt._mml import eap_theta, fit_2pl_mml

    if model != "2pl" or n_dims != 1:
        raise DataError(f"method='mml' fits the one-dimensional 2PL; for {model} use method='map' (a quick "
                        "point estimate) or 'nuts'")
    res = fit_2pl_mml(data.matrix, n_quad=n_quad, prior_a=prior_a)
    if not res.converged:
        warnings.warn(f"MML EM stopped after {res.n_iter} iterations without converging; estimates may be "
                      "off (items with extreme proportions? try method='map')", IrtConvergenceWarning,
                      stacklevel=3)
    theta, se = eap_theta(data.matrix, res.a, res.d)
    posterior = {"a": res.a[None, None, :, None], "d": res.d[None, None, :, None], "b": res.b[None, None, :, None],
                 "theta": theta[None, None, :, None]}
    coords = {"person": [str(p) for p in data.persons], "item": list(data.items), "dim": ["theta1"],
              "threshold": ["b1"]}
    dims = {"a": ["item", "dim"], "d": ["item", "threshold"], "b": ["item", "threshold"],
            "theta": ["person", "dim"]}
    idata = az.from_dict(posterior=posterior, coords=coords, dims=dims)
    result = _make_result(data, model, method, n_dims, idata, warn=False, loglik=res.loglik)
    persons = result.persons.copy()
    persons["theta_sd"] = se  # EAP posterior sd = standard error of the EAP
    return dataclasses.replace(result, persons=persons)


def _stack(idata: Any, name: str) -> np.ndarray:
    arr = idata.posterior[name].values
    return arr.reshape((-1,) + arr.shape[2:])


def _make_result(data: IrtData, model: str, method: str, n_dims: int, idata: Any, *, warn: bool,
                 loglik: float | None = None) -> IrtResult:
    draws = {name: _stack(idata, name) for name in ("theta", "a", "d", "b") if name in idata.posterior}
    if "c" in idata.posterior:
        draws["c"] = _stack(idata, "c")
    items_cols: dict[str, np.ndarray] = {}
    a = draws["a"]
    if n_dims == 1:
        items_cols["a"] = a[..., 0]
    else:
        for k in range(n_dims):
            items_cols[f"a{k + 1}"] = a[..., k]
    b = draws["b"]
    d = draws["d"]
    if model in BINARY_MODELS:
        items_cols["b"] = b[..., 0]
        items_cols["d"] = d[..., 0]
    else:
        items_cols["b"] = b.mean(axis=-1)
        for k in range(b.shape[-1]):
            items_cols[f"b{k + 1}"] = b[..., k]
        for k in range(d.shape[-1]):
            items_cols[f"d{k + 1}"] = d[..., k]
    if "c" in draws:
        items_cols["c"] = draws["c"]
    items = _summarise(items_cols, data.items)
    theta = draws["theta"]
    person_cols = {"theta": theta[..., 0]} if n_dims == 1 else {f"theta{k + 1}": theta[..., k]
                                                                for k in range(n_dims)}
    persons = _summarise(person_cols, pd.Index(data.persons, name=data.persons.name or "person"))
    diagnostics: dict[str, float] = {}
    if method in ("nuts", "numpyro"):
        diagnostics = _diagnose(idata, warn=warn)
    elif method == "pathfinder":
        diagnostics = _diagnose_pathfinder(idata, warn=warn)
    _attach_data(idata, data, model, method, n_dims)
    return IrtResult(model=model, method=method, n_dims=n_dims, items=items, persons=persons, idata=idata,
                     diagnostics=diagnostics, loglik=loglik, _data=data, _draws=draws)


def _diagnose(idata: Any, *, warn: bool) -> dict[str, float]:
    import arviz as az

    names = [n for n in ("theta", "a", "d", "c") if n in idata.posterior]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        rhat = az.rhat(idata, var_names=names)
        ess_bulk = az.ess(idata, var_names=names, method="bulk")
        ess_tail = az.ess(idata, var_names=names, method="tail")

    def worst(ds: Any, fn: Any) -> tuple[float, str]:
        best_val, best_name = np.nan, ""
        for name in ds.data_vars:
            vals = np.asarray(ds[name].values, dtype=float)
            if not np.isfinite(vals).any():
                continue
            v = float(fn(vals[np.isfinite(vals)]))
            if np.isnan(best_val) or fn([v, best_val]) == v:
                best_val, best_name = v, name
        return best_val, best_name

    max_rhat, rhat_var = worst(rhat, np.max)
    min_bulk, bulk_var = worst(ess_bulk, np.min)
    min_tail, tail_var = worst(ess_tail, np.min)
    div = int(np.asarray(idata.sample_stats["diverging"].values).sum()) if "diverging" in idata.sample_stats else 0
    n_chains = idata.posterior.sizes["chain"]
    n_draws = idata.posterior.sizes["draw"]
    if warn:
        if n_chains > 1 and max_rhat > _RHAT_MAX:
            warnings.warn(
                f"R-hat up to {max_rhat:.3f} (> {_RHAT_MAX}) for '{rhat_var}': the chains disagree. Run longer "
                f"(tune={2 * n_draws}, draws={2 * n_draws}) or more chains; if it persists, the model may be "
                "weakly identified (3PL guessing, 2-D slopes): try hierarchical=True or a simpler model.",
                IrtConvergenceWarning, stacklevel=3)
        if min(min_bulk, min_tail) < _ESS_MIN:
            worst_var = bulk_var if min_bulk <= min_tail else tail_var
            warnings.warn(
                f"effective sample size down to {min(min_bulk, min_tail):.0f} (< {_ESS_MIN}; bulk {min_bulk:.0f}, "
                f"tail {min_tail:.0f}) for '{worst_var}': posterior sds and HDIs are noisy. Increase draws "
                f"(e.g. draws={int(np.ceil(n_draws * _ESS_MIN / max(min(min_bulk, min_tail), 1)))}) or chains.",
                IrtConvergenceWarning, stacklevel=3)
        if div:
            warnings.warn(
                f"{div} divergent transition(s): the sampler missed part of the posterior, so estimates may be "
                "biased. Use hierarchical=True (the default), more tuning (tune=2000), or drop items with "
                "almost no variance.", IrtConvergenceWarning, stacklevel=3)
    return {"max_rhat": max_rhat, "min_ess_bulk": min_bulk, "min_ess_tail": min_tail, "divergences": float(div)}


def _diagnose_pathfinder(idata: Any, *, warn: bool) -> dict[str, float]:
    """Pathfinder's own check: the Pareto shape k of its importance weights (PSIS).

    k > 0.7 means the multi-path normal approximation misses the posterior's shape, so its means may be biased
    and its sds and intervals wrong (Zhang et al. 2022, *JMLR* 23(306), "Pathfinder: parallel quasi-Newton variational inference";
    Vehtari et al. 2024, *JMLR* 25(72), "Pareto smoothed importance sampling").  IRT
    posteriors with one ability per person are high-dimensional and funnel-shaped under hierarchical priors,
    where this is common.
    """
    stats = idata.sample_stats if "sample_stats" in idata.groups() else {}
    k = float(np.asarray(stats["pareto_k"]).item()) if "pareto_k" in stats else float("nan")
    if warn and np.isfinite(k) and k > _PARETO_K_MAX:
        warnings.warn(
            f"pathfinder's Pareto k is {k:.2f} (> {_PARETO_K_MAX}): its approximation misses the shape of this "
            "posterior, so sds and HDIs are unreliable and means may be biased. Use it for a quick look only; "
            "refit with method='nuts' (or 'advi' for very large matrices) before reporting intervals.",
            IrtConvergenceWarning, stacklevel=3)
    return {"pareto_k": k}


def _attach_data(idata: Any, data: IrtData, model: str, method: str, n_dims: int) -> None:
    import xarray as xr

    ds = xr.Dataset(
        {"responses": (("person", "item"), data.matrix)},
        coords={"person": [str(p) for p in data.persons], "item": list(data.items)},
        attrs={"psychoml_model": model, "psychoml_method": method, "psychoml_n_dims": n_dims,
               "psychoml_offset": data.offset, "psychoml_n_categories": data.n_categories,
               "psychoml_person_index_name": str(data.persons.name or "person")},
    )
    if "constant_data" in idata.groups():
        del idata.constant_data
    idata.add_groups({"constant_data": ds})


def load_result(source: Any, *, warn: bool = False) -> IrtResult:
    """Rebuild an :class:`IrtResult` from a saved ``InferenceData`` (``.nc`` path or object) written by fit."""
    import arviz as az

    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.exists():
            raise DataError(f"{path}: fit file not found")
        try:
            idata = az.from_netcdf(path)
        except (OSError, ValueError, KeyError, TypeError) as exc:  # netCDF/HDF5 read errors
            raise DataError(f"{path}: not an IRT fit saved by psychoml ({exc})") from None
    else:
        idata = source
    if "constant_data" not in idata.groups() or "psychoml_model" not in idata.constant_data.attrs:
        raise DataError(f"{source}: not an IRT fit saved by psychoml (no psychoml constant_data)")
    cd = idata.constant_data
    attrs = cd.attrs
    data = IrtData(
        matrix=np.asarray(cd["responses"].values, dtype=float),
        persons=pd.Index([str(p) for p in cd["person"].values], name=attrs.get("psychoml_person_index_name")),
        items=pd.Index([str(i) for i in cd["item"].values], name="item"),
        n_categories=int(attrs["psychoml_n_categories"]),
        offset=float(attrs["psychoml_offset"]),
    )
    return _make_result(data, str(attrs["psychoml_model"]), str(attrs["psychoml_method"]),
                        int(attrs["psychoml_n_dims"]), idata, warn=warn)
