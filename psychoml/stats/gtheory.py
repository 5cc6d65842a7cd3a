"""Generalizability theory for fully crossed random designs.

The object of measurement (a model, a persona, a respondent) is crossed with
any set of random facets (items, prompt variants, sampled replicates ...).
:func:`generalizability` estimates one variance component per main effect and
interaction, the relative (G) and absolute (Phi) coefficients of the design
as run, and :meth:`GeneralizabilityResult.d_study` projects them to other
numbers of facet conditions ("how many prompt variants and samples do I need
for G >= 0.8?").

Estimation
----------
Balanced data (every cell of the crossing observed equally often) use the
ANOVA / expected-mean-squares estimators (Brennan 2001, *Generalizability
Theory*, Springer, ch. 3; Cronbach, Gleser, Nanda & Rajaratnam 1972).
Unbalanced data (missing cells, unequal replications) use REML for the
crossed random model, the estimates of
``lme4::lmer(score ~ 1 + (1|p) + (1|i) + (1|p:i) + ..., REML = TRUE)``
(see :mod:`psychoml.stats._reliability_reml`).

When each cell holds one observation, the highest-order interaction is
confounded with residual error and carries the interaction's name (Brennan's
``pio,e``); when cells hold several observations (repeated samples not
declared as a facet) the within-cell variance is a separate ``residual``
component whose D-study size is ``"replications"``.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

from psychoml._base import Result
from psychoml.errors import DataError
from psychoml.stats._reliability_reml import reml_variance_components

__all__ = ["REPLICATIONS", "DStudyResult", "GeneralizabilityResult", "generalizability"]

#: D-study key for the number of observations per cell (within-cell replications).
REPLICATIONS = "replications"
_RESIDUAL = "residual"


@dataclasses.dataclass(frozen=True, repr=False)
class DStudyResult(Result):
    """Projected coefficients for given facet sample sizes.

    ``g`` = universe / (universe + relative error), ``phi`` = universe /
    (universe + absolute error); ``sem_*`` are the square roots of the error
    variances (standard errors of measurement on the score scale).
    """

    sizes: dict[str, float]
    g: float
    phi: float
    universe_variance: float
    relative_error: float
    absolute_error: float

    @property
    def sem_relative(self) -> float:
        return math.sqrt(self.relative_error)

    @property
    def sem_absolute(self) -> float:
        return math.sqrt(self.absolute_error)

    def to_frame(self) -> pd.DataFrame:
        row: dict[str, Any] = {f"n_{k}": v for k, v in self.sizes.items()}
        row.update(
            g=self.g,
            phi=self.phi,
            universe_variance=self.universe_variance,
            relative_error=self.relative_error,
            absolute_error=self.absolute_error,
        )
        return pd.DataFrame([row])


@dataclasses.dataclass(frozen=True, repr=False)
class GeneralizabilityResult(Result):
    """Variance components and G / Phi coefficients of a crossed random G study.

    ``components`` (also ``to_frame()``) has one row per effect, named by its
    factors joined with ``":"`` (``"model"``, ``"item"``, ``"model:item"`` ...),
    with ``variance`` (the estimate; ANOVA estimates can be negative),
    ``percent`` (share of the sum of non-negative components) and, for ANOVA,
    ``df``, ``ss`` and ``ms``.  ``sizes`` are the numbers of conditions per
    facet in the data (for unbalanced data, the number of distinct levels;
    ``"replications"``: mean observations per observed cell); ``g``, ``phi``
    and the error variances are for those sizes.  Negative estimates enter
    the coefficients as zero (Brennan 2001, sec. 3.4).
    """

    object: str
    facets: tuple[str, ...]
    components: pd.DataFrame
    sizes: dict[str, float]
    g: float
    phi: float
    universe_variance: float
    relative_error: float
    absolute_error: float
    method: str
    balanced: bool
    n_objects: int
    n_observations: int
    _terms: dict[str, tuple[str, ...]] = dataclasses.field(default_factory=dict, repr=False)

    def to_frame(self) -> pd.DataFrame:
        return self.components.copy()

    # -- D study ---------------------------------------------------------------

    def _check_sizes(self, sizes: Mapping[str, float] | None) -> dict[str, float]:
        out = dict(self.sizes)
        if sizes is None:
            return out
        if not isinstance(sizes, Mapping):
            raise DataError(f"sizes: expected a mapping facet -> number of conditions, got {type(sizes).__name__}")
        for key, value in sizes.items():
            if key not in out:
                allowed = ", ".join(repr(k) for k in out)
                raise DataError(f"sizes: {key!r} is not a facet of this design (facets: {allowed})")
            try:
                v = float(value)
            except (TypeError, ValueError) as exc:
                raise DataError(f"sizes[{key!r}]: expected a positive number, got {value!r}") from exc
            if not v > 0 or not math.isfinite(v):
                raise DataError(f"sizes[{key!r}]: expected a positive number, got {value!r}")
            out[key] = v
        return out

    def _error_terms(self, sizes: Mapping[str, float]) -> tuple[float, float, float]:
        comps = self.components
        var = comps["variance"].clip(lower=0.0)
        universe = float(var.loc[self.object])
        rel = ab = 0.0
        for name, row in comps.iterrows():
            if name == self.object:
                continue
            factors = self._terms[str(name)]
            divisor = 1.0
            for f in factors:
                if f != self.object:
                    divisor *= sizes[f]
            if name == _RESIDUAL:
                divisor *= sizes[REPLICATIONS]
            term = float(var.loc[name]) / divisor
            ab += term
            if self.object in factors:
                rel += term
        return universe, rel, ab

    def d_study(self, sizes: Mapping[str, float] | None = None) -> DStudyResult:
        """Coefficients for ``sizes`` conditions per facet (unlisted facets keep the G-study size).

        For object *p* and effect *E*, with ``n(E)`` the product of the
        D-study sizes of the facets in *E* (Brennan 2001, eqs. 4.11-4.14)::

            relative error  = sum over E containing p, E != p       s2(E) / n(E)
            absolute error  = sum over every E != p                 s2(E) / n(E)
            G   = s2(p) / (s2(p) + relative error)
            Phi = s2(p) / (s2(p) + absolute error)

        Example: ``result.d_study({"variant": 10, "replications": 3})``.
        """
        s = self._check_sizes(sizes)
        universe, rel, ab = self._error_terms(s)
        return DStudyResult(
            sizes=s,
            g=_ratio(universe, rel),
            phi=_ratio(universe, ab),
            universe_variance=universe,
            relative_error=rel,
            absolute_error=ab,
        )

    def d_study_grid(self, sizes: Mapping[str, Sequence[float]]) -> pd.DataFrame:
        """D studies over every combination of the listed sizes, one row each.

        ``result.d_study_grid({"variant": [1, 2, 5, 10], "replications": [1, 3]})``.
        """
        if not isinstance(sizes, Mapping) or not sizes:
            raise DataError("sizes: expected a non-empty mapping facet -> list of sizes")
        keys = list(sizes)
        rows = [self.d_study(dict(zip(keys, combo))).to_frame() for combo in itertools.product(*(sizes[k] for k in keys))]
        return pd.concat(rows, ignore_index=True)

    def required_size(
        self,
        facet: str,
        *,
        target: float = 0.8,
        coefficient: Literal["g", "phi"] = "g",
        sizes: Mapping[str, float] | None = None,
    ) -> int:
        """Smallest number of ``facet`` conditions giving ``coefficient >= target``.

        The other facets keep ``sizes`` (default: their G-study sizes).  The
        error variance is ``a + b / n`` in the facet's size ``n``, so the answer
        is ``ceil(b / (s2(p) (1/target - 1) - a))``; a :class:`DataError` says
        when no size reaches the target (the terms without this facet already
        exceed the allowed error) and gives the limit as ``n`` grows.
        """
        if facet not in self.sizes:
            raise DataError(f"facet: {facet!r} is not a facet of this design (facets: {', '.join(self.sizes)})")
        if coefficient not in ("g", "phi"):
            raise DataError(f"coefficient: expected 'g' or 'phi', got {coefficient!r}")
        if not 0.0 < float(target) < 1.0:
            raise DataError(f"target: expected a value in (0, 1), got {target!r}")
        base = self._check_sizes(sizes)
        one = dict(base, **{facet: 1.0})
        huge = dict(base, **{facet: math.inf})
        universe, rel1, ab1 = self._error_terms(one)
        _, rel_inf, ab_inf = self._error_terms(huge)
        a, b = (rel_inf, rel1 - rel_inf) if coefficient == "g" else (ab_inf, ab1 - ab_inf)
        allowed = universe * (1.0 / float(target) - 1.0)
        if universe <= 0:
            raise DataError(
                f"target: {coefficient} >= {target} cannot be reached by adding {facet!r} conditions: the object "
                f"of measurement ({self.object!r}) has no universe-score variance (its estimate is <= 0)"
            )
        if allowed <= a:
            limit = _ratio(universe, a)
            raise DataError(
                f"target: {coefficient} >= {target} cannot be reached by adding {facet!r} conditions; "
                f"its limit as the number grows is {limit:.4f}"
            )
        if b <= 0:
            return 1
        n = b / (allowed - a)
        n_int = max(1, math.ceil(n - 1e-9))
        return n_int


def _ratio(universe: float, error: float) -> float:
    total = universe + error
    return universe / total if total > 0 else float("nan")


def _validate_long(
    data: Any, object: str, facets: Sequence[str], score: str
) -> tuple[pd.DataFrame, list[str]]:
    if not isinstance(data, pd.DataFrame):
        raise DataError("data: expected a long-format DataFrame (one row per observation)")
    if isinstance(facets, str) or not isinstance(facets, Sequence):
        raise DataError(f"facets: expected a list of column names, got {facets!r}")
    facets = list(facets)
    if not facets:
        raise DataError("facets: name at least one facet column (e.g. ['item', 'variant'])")
    factors = [object, *facets]
    if len(set(factors)) != len(factors):
        raise DataError(f"facets: columns must be distinct and differ from object ({factors!r})")
    if score in factors:
        raise DataError(f"score: {score!r} is also used as object or facet")
    for arg, col in [("object", object)] + [("facets", f) for f in facets] + [("score", score)]:
        if col not in data.columns:
            raise DataError(f"{arg}: column {col!r} is not in data (columns: {', '.join(map(str, data.columns))})")
    frame = data[factors + [score]].copy()
    if not (pd.api.types.is_numeric_dtype(frame[score]) or pd.api.types.is_bool_dtype(frame[score])):
        # A store's value column holds None for refusals and is then object-typed: accept it when
        # every present value is a number.
        converted = pd.to_numeric(frame[score], errors="coerce")
        if (converted.isna() & frame[score].notna()).any():
            raise DataError(f"score: column {score!r} is not numeric")
        frame[score] = converted
    frame[score] = frame[score].astype(float)
    if not np.isfinite(frame[score].dropna()).all():
        raise DataError(f"score: column {score!r} contains infinite values")
    frame = frame.dropna(subset=[score])
    for col in factors:
        if frame[col].isna().any():
            raise DataError(f"data: column {col!r} has missing labels")
        n_levels = frame[col].nunique()
        if n_levels < 2:
            raise DataError(f"data: column {col!r} needs at least two levels, got {n_levels}")
    if frame[score].nunique() <= 1:
        raise DataError(f"score: column {score!r} is constant (zero variance)")
    return frame, factors


def _effects(n_factors: int) -> list[tuple[int, ...]]:
    """All non-empty subsets of factor positions, by order then position (p, i, o, pi, po, io, pio)."""
    return [e for r in range(1, n_factors + 1) for e in itertools.combinations(range(n_factors), r)]


def _anova(codes: np.ndarray, y: np.ndarray, levels: list[int], reps: int) -> tuple[list[tuple[int, ...]], dict]:
    """ANOVA sums of squares and EMS variance components of a balanced crossed random design.

    ``T_E = (N / prod_{f in E} n_f) * sum over levels of E of mean_E^2`` and
    ``SS_E = sum_{F subset E} (-1)^{|E| - |F|} T_F`` (Brennan 2001, sec. 3.2);
    ``E[MS_E] = sum_{F superset E} s2(F) r prod_{f not in F} n_f + s2(residual)``
    solved from the highest-order effect down.
    """
    m = len(levels)
    order = np.lexsort(codes.T[::-1])
    cube = y[order].reshape(*levels, reps)
    cells = cube.mean(axis=-1)
    n_total = y.shape[0]
    effects = _effects(m)
    t_values: dict[tuple[int, ...], float] = {(): n_total * float(y.mean()) ** 2}
    for e in effects:
        other = tuple(ax for ax in range(m) if ax not in e)
        means = cells.mean(axis=other) if other else cells
        t_values[e] = n_total / math.prod(levels[ax] for ax in e) * float((means**2).sum())
    ss = {}
    for e in effects:
        ss[e] = sum((-1) ** (len(e) - r) * t_values[f] for r in range(len(e) + 1) for f in itertools.combinations(e, r))
    df = {e: math.prod(levels[ax] - 1 for ax in e) for e in effects}
    ms = {e: ss[e] / df[e] for e in effects}
    out: dict[Any, dict[str, float]] = {e: {"df": df[e], "ss": ss[e], "ms": ms[e]} for e in effects}
    sigma: dict[Any, float] = {}
    res = 0.0
    if reps > 1:
        ss_res = float((y**2).sum()) - t_values[effects[-1]]
        df_res = math.prod(levels) * (reps - 1)
        res = ss_res / df_res
        out[_RESIDUAL] = {"df": df_res, "ss": ss_res, "ms": res}
        sigma[_RESIDUAL] = res

    def coef(f: tuple[int, ...]) -> float:
        return reps * math.prod(levels[ax] for ax in range(m) if ax not in f)

    for e in sorted(effects, key=len, reverse=True):
        higher = [f for f in effects if len(f) > len(e) and set(e) <= set(f)]
        sigma[e] = (ms[e] - sum(coef(f) * sigma[f] for f in higher) - res) / coef(e)
    for key, row in out.items():
        row["variance"] = sigma[key]
    return effects, out


def generalizability(
    data: Any,
    *,
    object: str,
    facets: Sequence[str],
    score: str,
    method: Literal["auto", "anova", "reml"] = "auto",
) -> GeneralizabilityResult:
    """G study of a fully crossed random design from a long table.

    Parameters
    ----------
    data
        Long DataFrame, one row per observation, with the ``object`` column
        (object of measurement), one column per facet and the numeric
        ``score``.  Rows with a missing score are dropped (they make the
        design unbalanced); missing labels are an error.
    object
        Column of the object of measurement (model, persona, respondent).
    facets
        Columns of the random facets crossed with it and with each other,
        any subset of e.g. ``["item", "variant", "replicate"]``.  Several rows
        for one cell are within-cell replications (see the module docstring).
    score
        Numeric response column.
    method
        ``"auto"`` (default): ANOVA when balanced, REML otherwise;
        ``"anova"``: balanced data only; ``"reml"``: always REML (equal to
        ANOVA on balanced data when no ANOVA estimate is negative).

    Returns
    -------
    GeneralizabilityResult
        ``components``, ``g``, ``phi``, ``.d_study(...)``,
        ``.required_size(facet, target=0.8)``.

    Examples
    --------
    A store's responses (``Store.responses()``, one row per model x item x
    variant x sample), with reverse-keyed items already reflected: the
    repeated samples of one prompt are replications within a cell, not a
    crossed facet (sample 1 of one model has nothing in common with sample 1
    of another), so they are left out of ``facets``::

        g = generalizability(responses, object="model", facets=["item", "variant"], score="value")
        g.d_study({"variant": 10, "replications": 3}).g
        g.required_size("variant", target=0.8)

    Notes
    -----
    Verified against Brennan's (2001) Synthetic Data Set No. 3 (p x i x o)
    and against ``lme4::lmer`` REML on unbalanced data
    (``tests/reference/reliability/make_reference.R``).  R equivalents:
    ``gtheory::gstudy`` / ``lme4::lmer`` with one ``(1 | ...)`` term per effect.
    """
    if method not in ("auto", "anova", "reml"):
        raise DataError(f"method: expected 'auto', 'anova' or 'reml', got {method!r}")
    frame, factors = _validate_long(data, object, facets, score)
    codes = np.column_stack([pd.factorize(frame[f], sort=True)[0] for f in factors])
    levels = [int(codes[:, j].max()) + 1 for j in range(len(factors))]
    y = frame[score].to_numpy(dtype=float)
    cell_id = np.ravel_multi_index(codes.T, levels)
    counts = np.bincount(cell_id, minlength=math.prod(levels))
    balanced = bool((counts == counts[0]).all() and counts[0] > 0)
    reps_per_cell = counts[counts > 0]
    has_within = bool(reps_per_cell.max() > 1)

    if method == "anova" and not balanced:
        raise DataError(
            "data: method='anova' needs a balanced design (every combination of object and facets observed "
            f"equally often); {int((counts == 0).sum())} cell(s) are empty and cell counts range "
            f"{int(reps_per_cell.min())}-{int(reps_per_cell.max())}; use method='reml'"
        )
    use_anova = balanced and method in ("auto", "anova")
    names = {e: ":".join(factors[ax] for ax in e) for e in _effects(len(factors))}
    rows: dict[str, dict[str, float]] = {}
    if use_anova:
        effects, table = _anova(codes, y, levels, int(counts[0]))
        for key, vals in table.items():
            rows[names[key] if key != _RESIDUAL else _RESIDUAL] = vals
        used = "anova"
    else:
        effects = _effects(len(factors))
        random_effects = effects if has_within else effects[:-1]
        groups = []
        for e in random_effects:
            if len(e) == 1:
                groups.append(codes[:, e[0]])
            else:
                groups.append(pd.factorize(np.ravel_multi_index(codes[:, list(e)].T, [levels[a] for a in e]))[0])
        fit = reml_variance_components(y, groups)
        for e, v in zip(random_effects, fit.variances):
            rows[names[e]] = {"variance": float(v)}
        rows[_RESIDUAL if has_within else names[effects[-1]]] = {"variance": float(fit.residual)}
        used = "reml"

    comps = pd.DataFrame.from_dict(rows, orient="index")
    comps.index.name = "component"
    positive = comps["variance"].clip(lower=0.0)
    comps.insert(1, "percent", 100.0 * positive / positive.sum())
    cols = ["variance", "percent"] + [c for c in ("df", "ss", "ms") if c in comps.columns]
    comps = comps[cols]

    terms = {names[e]: tuple(factors[ax] for ax in e) for e in _effects(len(factors))}
    terms[_RESIDUAL] = tuple(factors)
    sizes: dict[str, float] = {f: float(levels[j + 1]) for j, f in enumerate(facets)}
    if _RESIDUAL in comps.index:
        sizes[REPLICATIONS] = float(reps_per_cell.mean())
    result = GeneralizabilityResult(
        object=object,
        facets=tuple(facets),
        components=comps,
        sizes=sizes,
        g=float("nan"),
        phi=float("nan"),
        universe_variance=float("nan"),
        relative_error=float("nan"),
        absolute_error=float("nan"),
        method=used,
        balanced=balanced,
        n_objects=levels[0],
        n_observations=int(y.shape[0]),
        _terms=terms,
    )
    d = result.d_study()
    return dataclasses.replace(
        result,
        g=d.g,
        phi=d.phi,
        universe_variance=d.universe_variance,
        relative_error=d.relative_error,
        absolute_error=d.absolute_error,
    )
