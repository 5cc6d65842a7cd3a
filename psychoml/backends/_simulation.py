"""The generative model behind ``simulated:SPEC``: synthetic respondents with known parameters.

Two measurement models, both cumulative-link models for ordered categories
(the response values of an item's response scale, sorted ascending):

``grm``
    Samejima's graded response model in slope-intercept form (as mirt writes
    it): :math:`P(X_j \\ge k \\mid \\theta) = \\mathrm{logistic}(a_j\\theta_{f(j)} + d_{jk})`,
    with difficulties :math:`b_{jk} = -d_{jk}/a_j` (``mirt::coef(..., IRTpars=TRUE)``).
``factor``
    The ordinal (normal-ogive) factor model: a continuous latent response
    :math:`y^*_j = \\lambda_j\\theta_{f(j)} + \\nu_j + \\varepsilon_j`,
    :math:`\\varepsilon_j \\sim N(0, 1-\\lambda_j^2)`, cut at thresholds
    :math:`\\tau_{jk}`: :math:`P(X_j \\ge k \\mid \\theta) = \\Phi((\\lambda_j\\theta + \\nu_j - \\tau_{jk}) / \\sqrt{1-\\lambda_j^2})`
    (lavaan's ``ordered=`` model with standardised :math:`y^*`).

Latent traits: one factor per scale (by default the smallest item scale that
contains the item; items in no scale are grouped by their first tag), each
:math:`N(\\mu_f, 1)`, correlated by a circumplex structure for the Schwartz
family (value scales are listed in circle order) and an optional uniform
correlation.  A respondent is ``(seed, persona, sample)``: their standard-normal
draws come from a counter-based hash of those, so the same respondent answers
every item of an instrument consistently, in any order, and a rerun gives the
same person.  A persona shifts the latent means by a deterministic amount
(``persona_effect`` latent SDs times a standard-normal draw per factor).

Response styles act on each response's category probabilities ``p``, in this order:

acquiescence ``A``
    each respondent's latent response moves toward the high end of the scale by
    :math:`s_i \\sim N(A, (A/2)^2)` (in latent-response SDs for ``factor``,
    :math:`\\theta` units for ``grm``), whatever the item's keying;
extreme ``E``
    with probability ``E`` the answer is an end point, the low one with the
    probability that the model's answer falls below the midpoint;
position ``P``
    with probability ``P`` the answer is the first option presented (so
    reversing the option order reveals it);
random ``R``
    with probability ``R`` the answer is uniform over the categories.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from psychoml._base import Result
from psychoml.errors import DataError, ModelSpecError
from psychoml.instruments import Instrument, load

__all__ = [
    "MODELS",
    "STYLE_NAMES",
    "SimulationModel",
    "SimulationTruth",
    "build_model",
    "read_parameter_file",
    "simulate_responses",
]

MODELS = ("grm", "factor")
STYLE_NAMES = ("acquiescence", "extreme", "position", "random")

#: Logistic latent-response variance (pi^2 / 3): a GRM slope a corresponds to the standardised loading
#: a / sqrt(a^2 + pi^2/3) (latent-response formulation, e.g. Wirth & Edwards, 2007).
_LOGISTIC_VAR = math.pi**2 / 3

# Stream numbers of the counter-based generator (factor f uses stream f).
_STREAM_ACQUIESCENCE = 1_000_003
_STREAM_PERSONA = 2_000_000
_PERSONA_SAMPLE = -0x5EED  # the "sample" under which a persona's own shift is drawn

_MASK64 = (1 << 64) - 1


# --------------------------------------------------------------------------------------------------------------
# counter-based hashing: deterministic standard normals for (seed, persona, sample, stream)
# --------------------------------------------------------------------------------------------------------------
def _splitmix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser (Steele, Lea & Flood, 2014), vectorised; uint64 arithmetic wraps mod 2^64."""
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def text_hash(text: str) -> int:
    """A stable 64-bit hash of a string (SHA-256 prefix; Python's hash() is salted per process)."""
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "little")


def _persona_hash(persona: str | None) -> int:
    return text_hash("\0no-persona" if persona is None else "persona:" + persona)


def _u64(values: Any) -> np.ndarray:
    arr = np.atleast_1d(np.asarray(values, dtype=object))
    return np.array([int(v) & _MASK64 for v in arr.ravel()], dtype=np.uint64).reshape(arr.shape)


def uniforms(seed: int, persona: str | None, samples: Any, streams: Any) -> np.ndarray:
    """Uniform(0, 1) numbers, shape ``(len(samples), len(streams))``, a pure function of the arguments."""
    base = _splitmix64(_u64([seed]) ^ _u64([_persona_hash(persona)]))[0]
    s = _u64(samples).reshape(-1, 1)
    t = _u64(streams).reshape(1, -1)
    h = _splitmix64(_splitmix64(base ^ s) ^ t)
    return ((h >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0**-53


def normals(seed: int, persona: str | None, samples: Any, streams: Any) -> np.ndarray:
    """Standard normals by inversion of :func:`uniforms` (same shape)."""
    return special.ndtri(uniforms(seed, persona, samples, streams))


# --------------------------------------------------------------------------------------------------------------
# the model
# --------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Styles:
    """Response-style intensities (see the module docstring)."""

    acquiescence: float = 0.0
    extreme: float = 0.0
    position: float = 0.0
    random: float = 0.0

    def as_dict(self) -> dict[str, float]:
        return dataclasses.asdict(self)


@dataclass
class SimulationModel:
    """Item and latent parameters of one instrument, as arrays ready for vectorised answering.

    ``d`` holds the slope-intercept intercepts padded with ``-inf`` beyond an
    item's categories; ``values`` the category values (ascending) padded with NaN.
    """

    instrument: Instrument
    model: str
    item_ids: list[str]
    factor_names: list[str]
    factor_of: np.ndarray  # (J,) factor index of each item
    a: np.ndarray  # (J,) signed slope on the linear-predictor scale
    d: np.ndarray  # (J, Kmax-1) intercepts, decreasing, -inf padded
    values: np.ndarray  # (J, Kmax) category values ascending, NaN padded
    ncat: np.ndarray  # (J,)
    keying: np.ndarray  # (J,)
    loading: np.ndarray  # (J,) standardised loading of the latent response
    intercept: np.ndarray  # (J,) factor model: nu; grm: NaN
    thresholds: list[np.ndarray]  # factor model: tau; grm: b (IRT difficulties)
    latent_means: np.ndarray  # (F,)
    latent_corr: np.ndarray  # (F, F)
    persona_effect: float
    seed: int
    styles: Styles
    row: dict[str, int] = field(default_factory=dict)
    category: list[dict[float, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.row = {item: j for j, item in enumerate(self.item_ids)}
        self.category = [
            {float(v): k for k, v in enumerate(self.values[j, : self.ncat[j]])} for j in range(len(self.item_ids))
        ]
        try:
            self.chol = np.linalg.cholesky(self.latent_corr)
        except np.linalg.LinAlgError:
            raise ModelSpecError("simulated: the latent correlation matrix is not positive definite") from None
        kmax = self.values.shape[1]
        k = np.arange(kmax)[None, :]
        mid = (self.ncat[:, None] - 1) / 2.0
        # weight of each category in "below the midpoint" (the middle category counts half)
        self.low_weight = np.where(k < mid, 1.0, np.where(k == mid, 0.5, 0.0)) * (k < self.ncat[:, None])
        self.valid = (k < self.ncat[:, None]).astype(float)
        # acquiescence shift per unit of s on the linear-predictor scale
        if self.model == "grm":
            self.acq_scale = np.abs(self.a)
        else:
            self.acq_scale = 1.0 / np.sqrt(1.0 - self.loading**2)

    # --- people ------------------------------------------------------------------------------------------
    def persona_shift(self, persona: str | None) -> np.ndarray:
        """The persona's deterministic latent mean shift (zero without a persona)."""
        if persona is None or self.persona_effect == 0:
            return np.zeros(len(self.factor_names))
        z = normals(self.seed, persona, [_PERSONA_SAMPLE], _STREAM_PERSONA + np.arange(len(self.factor_names)))[0]
        return self.persona_effect * z

    def people(self, persona: str | None, samples: Any) -> tuple[np.ndarray, np.ndarray]:
        """Latent traits ``(n, F)`` and acquiescence shifts ``(n,)`` of respondents ``(persona, sample)``."""
        samples = np.atleast_1d(np.asarray(samples, dtype=np.int64))
        nf = len(self.factor_names)
        z = normals(self.seed, persona, samples, np.arange(nf))
        theta = self.latent_means + self.persona_shift(persona) + z @ self.chol.T
        acq = self.styles.acquiescence
        if acq != 0:
            za = normals(self.seed, persona, samples, [_STREAM_ACQUIESCENCE])[:, 0]
            s = acq + 0.5 * abs(acq) * za
        else:
            s = np.zeros(len(samples))
        return theta, s

    # --- probabilities -----------------------------------------------------------------------------------
    def _cdf(self, x: np.ndarray) -> np.ndarray:
        return special.expit(x) if self.model == "grm" else special.ndtr(x)

    def base_probabilities(self, linear: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Category probabilities ``(..., J, Kmax)`` from linear predictors ``(..., J)`` (no styles)."""
        cum = self._cdf(linear[..., None] + self.d[rows])  # P(X >= k), k = 1..K-1
        ones = np.ones(cum.shape[:-1] + (1,))
        zeros = np.zeros(cum.shape[:-1] + (1,))
        full = np.concatenate([ones, cum, zeros], axis=-1)
        return np.clip(full[..., :-1] - full[..., 1:], 0.0, 1.0)

    def mix_styles(self, p: np.ndarray, rows: np.ndarray, first: np.ndarray | None) -> np.ndarray:
        """Apply extreme, position and random responding (mixtures, linear in ``p``) to ``p (..., J, Kmax)``."""
        st = self.styles
        kmax = p.shape[-1]
        if st.extreme:
            low = (p * self.low_weight[rows]).sum(axis=-1, keepdims=True)
            ends = np.zeros_like(p)
            ends[..., 0] = low[..., 0]
            last = self.ncat[rows] - 1
            np.put_along_axis(ends, np.broadcast_to(last[..., None], p.shape[:-1] + (1,)), 1.0 - low, axis=-1)
            p = (1 - st.extreme) * p + st.extreme * ends
        if st.position and first is not None:
            onehot = (np.arange(kmax)[None, :] == np.asarray(first)[:, None]).astype(float)
            p = (1 - st.position) * p + st.position * onehot
        if st.random:
            valid = self.valid[rows]
            p = (1 - st.random) * p + st.random * valid / valid.sum(axis=-1, keepdims=True)
        return p

    def probabilities(self, theta: np.ndarray, s: np.ndarray, rows: np.ndarray, first: np.ndarray | None) -> np.ndarray:
        """Category probabilities ``(n, J, Kmax)`` for people ``theta (n, F)`` on items ``rows``."""
        linear = theta[:, self.factor_of[rows]] * self.a[rows] + s[:, None] * self.acq_scale[rows]
        return self.mix_styles(self.base_probabilities(linear, rows), rows, first)

    def first_published(self, rows: np.ndarray, option_order: str) -> np.ndarray:
        """Category index of the first option presented in published / reversed order, per item."""
        out = np.empty(len(rows), dtype=int)
        for i, j in enumerate(rows):
            published = [float(v) for v in self.instrument.response_scale(self.item_ids[j]).values]
            first = published[0] if option_order == "published" else published[-1]
            out[i] = self.category[j][first]
        return out

    # --- population moments (Gauss-Hermite quadrature) ---------------------------------------------------
    def marginal_probabilities(
        self, persona: str | None = None, *, option_order: str = "published", nodes: int = 81
    ) -> np.ndarray:
        """Population category probabilities ``(J, Kmax)`` (integrated over the latent distribution).

        The linear predictor of item j is normal with mean
        :math:`a_j\\mu_f + c_j A` and variance :math:`a_j^2 + c_j^2 (A/2)^2`
        (trait and acquiescence independent), so one Gauss-Hermite rule in one
        dimension integrates it exactly up to quadrature error; the mixing
        styles are linear in ``p`` and are applied after integrating.
        """
        rows = np.arange(len(self.item_ids))
        mu = (self.latent_means + self.persona_shift(persona))[self.factor_of]
        acq = self.styles.acquiescence
        mean = self.a * mu + self.acq_scale * acq
        sd = np.sqrt(self.a**2 + (self.acq_scale * 0.5 * abs(acq)) ** 2)
        z, w = _hermite(nodes)
        p = self.base_probabilities(mean[None, :] + sd[None, :] * z[:, None], rows)  # (Q, J, K)
        p = np.tensordot(w, p, axes=(0, 0))
        return self.mix_styles(p, rows, self.first_published(rows, option_order))

    def conditional_means(self, theta_grid: np.ndarray, *, option_order: str = "published") -> np.ndarray:
        """E[X_j | theta] on a grid of trait values ``(Q,)`` for every item: ``(Q, J)`` (no acquiescence)."""
        rows = np.arange(len(self.item_ids))
        linear = theta_grid[:, None] * self.a[None, :]
        p = self.mix_styles(self.base_probabilities(linear, rows), rows, self.first_published(rows, option_order))
        return (p * np.nan_to_num(self.values)).sum(axis=-1)


def _hermite(nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Probabilists' Gauss-Hermite nodes and weights normalised to sum 1 (expectations under N(0, 1))."""
    z, w = np.polynomial.hermite_e.hermegauss(nodes)
    return z, w / w.sum()


# --------------------------------------------------------------------------------------------------------------
# defaults derived from the instrument
# --------------------------------------------------------------------------------------------------------------
def _item_uniforms(instrument_id: str, item_id: str) -> tuple[float, float]:
    h = text_hash(f"psychoml-simulated/{instrument_id}/{item_id}")
    return ((h & 0xFFFFFFFF) + 0.5) / 2**32, ((h >> 32) + 0.5) / 2**32


def default_factors(instrument: Instrument, n_factors: int | None = None) -> tuple[list[str], dict[str, str]]:
    """Factor names and the item -> factor assignment.

    Default: the smallest item scale that contains the item (ties: the first
    listed); an item in no scale goes to a factor named by its first tag value
    (``mrat_only``, ``social_values`` ...), or its own factor when untagged.
    ``n_factors=k`` instead assigns the items in published order cyclically to
    factors ``F1..Fk`` (``k=1``: one general factor).
    """
    items = instrument.item_ids
    if n_factors is not None:
        names = [f"F{i + 1}" for i in range(n_factors)]
        return names, {item: names[i % n_factors] for i, item in enumerate(items)}
    item_scales = [s for s in instrument.scales if s.items]
    assign: dict[str, str] = {}
    for item in items:
        containing = [s for s in item_scales if item in s.items]
        if containing:
            assign[item] = min(containing, key=lambda s: len(s.items)).id
        else:
            tags = instrument.item(item).tags
            assign[item] = next(iter(tags.values())) if tags else item
    names: list[str] = []
    for s in item_scales:  # scale order first (the circle order for the Schwartz family)
        if s.id in assign.values() and s.id not in names:
            names.append(s.id)
    for item in items:
        if assign[item] not in names:
            names.append(assign[item])
    return names, assign


def circumplex_correlation(
    names: Sequence[str], on_circle: Sequence[bool], strength: float, uniform: float
) -> np.ndarray:
    """Latent correlations: ``uniform + (1-uniform) * strength * cos(angle difference)`` on the circle.

    Factors on the circle are spaced equally in the order given (Schwartz's
    value scales are listed in circle order), so adjacent values correlate
    positively and opposite values negatively, the structure a circumplex
    analysis (MDS, RTHOR) should recover.  The matrix is
    :math:`u\\mathbf{1}\\mathbf{1}^T + (1-u)[s K + (1-s) I]` with K the (PSD)
    cosine kernel, hence positive definite for :math:`0 \\le s, u < 1`.
    """
    n = len(names)
    circle = [i for i in range(n) if on_circle[i]]
    m = np.eye(n)
    if strength and len(circle) >= 3:
        angles = 2 * np.pi * np.arange(len(circle)) / len(circle)
        kernel = np.cos(angles[:, None] - angles[None, :])
        block = strength * kernel + (1 - strength) * np.eye(len(circle))
        m[np.ix_(circle, circle)] = block
    return uniform * np.ones((n, n)) + (1 - uniform) * m


def build_model(
    instrument: Instrument,
    *,
    model: str = "grm",
    seed: int = 0,
    styles: Styles | None = None,
    n_factors: int | None = None,
    circumplex: float | None = None,
    corr: float = 0.0,
    persona_effect: float = 0.5,
    params: Mapping[str, Any] | None = None,
    params_source: str = "params",
) -> SimulationModel:
    """Generating parameters for ``instrument``: deterministic defaults, then ``params`` overrides.

    Defaults (a function of the instrument and item ids only, not of the seed):
    ``grm`` slopes :math:`a_j \\in [0.9, 2.2]`, ``factor`` loadings
    :math:`\\lambda_j \\in [0.5, 0.8]` (negative for reverse-keyed items);
    thresholds at the normal quantiles :math:`\\Phi^{-1}(k/K)` (for the GRM
    times :math:`\\sqrt{1 + \\pi^2/(3a^2)}`, the SD of its latent response),
    shifted by an item location in :math:`[-0.4, 0.4]`.  Latent means 0, SD 1; Schwartz-family instruments get
    a circumplex correlation of strength 0.6 among their value scales.
    """
    if model not in MODELS:
        raise ModelSpecError(f"simulated: unknown model {model!r}; known: {', '.join(MODELS)}")
    params = dict(params or {})
    factor_override = params.get("factors") or {}
    names, assign = default_factors(instrument, n_factors)
    if factor_override:
        if not isinstance(factor_override, Mapping):
            raise ModelSpecError(f"{params_source}: 'factors' must map item ids to factor names")
        for item, fac in factor_override.items():
            _known_item(instrument, item, params_source, "factors")
            assign[item] = str(fac)
        names = [n for n in names if n in assign.values()] + sorted({str(f) for f in assign.values()} - set(names))
    items = instrument.item_ids
    values_list = [sorted(float(v) for v in instrument.response_scale(i).values) for i in items]
    kmax = max(len(v) for v in values_list)
    J = len(items)
    a = np.zeros(J)
    d = np.full((J, kmax - 1), -np.inf)
    values = np.full((J, kmax), np.nan)
    ncat = np.array([len(v) for v in values_list])
    keying = np.array([instrument.item(i).keying for i in items], dtype=float)
    loading = np.zeros(J)
    intercept = np.full(J, np.nan)
    thresholds: list[np.ndarray] = []
    item_over = params.get("items") or {}
    if not isinstance(item_over, Mapping):
        raise ModelSpecError(f"{params_source}: 'items' must map item ids to parameters")
    for item in item_over:
        _known_item(instrument, item, params_source, "items")
    for j, item in enumerate(items):
        K = ncat[j]
        values[j, :K] = values_list[j]
        u1, u2 = _item_uniforms(instrument.id, item)
        q = special.ndtri(np.arange(1, K) / K)
        over = item_over.get(item) or {}
        where = f"{params_source}: items.{item}"
        if model == "grm":
            allowed = {"a", "b", "d"}
            _no_unknown(over, allowed, where)
            aj = _number(over.get("a", keying[j] * (0.9 + 1.3 * u1)), f"{where}.a")
            if "b" in over and "d" in over:
                raise ModelSpecError(f"{where}: give either 'b' (difficulties) or 'd' (intercepts), not both")
            if aj == 0:
                raise ModelSpecError(f"{where}.a: the slope must not be 0")
            # P(X >= k) = logistic(a (theta - b_k)) falls with k when b rises (a > 0) or falls (a < 0);
            # in slope-intercept form d_k = -a b_k always falls.
            if "d" in over:
                dj = _vector(over["d"], K - 1, f"{where}.d", decreasing=True)
                bj = -dj / aj
            elif "b" in over:
                bj = _vector(over["b"], K - 1, f"{where}.b", increasing=aj > 0, decreasing=aj < 0)
                dj = -aj * bj
            else:
                # spread the thresholds like the latent response theta + logistic/a, so a mid-located item
                # uses its categories about equally (as the factor model's normal quantiles do)
                spread = math.sqrt(1.0 + _LOGISTIC_VAR / aj**2)
                bj = (0.8 * (u2 - 0.5) + spread * q) * (1.0 if aj > 0 else -1.0)
                dj = -aj * bj
            a[j] = aj
            d[j, : K - 1] = dj
            loading[j] = aj / math.sqrt(aj**2 + _LOGISTIC_VAR)
            thresholds.append(np.asarray(bj, dtype=float))
        else:
            allowed = {"loading", "intercept", "thresholds"}
            _no_unknown(over, allowed, where)
            lam = _number(over.get("loading", keying[j] * (0.5 + 0.3 * u1)), f"{where}.loading")
            if not -1 < lam < 1 or lam == 0:
                raise ModelSpecError(f"{where}.loading: must be in (-1, 1) and not 0, got {lam}")
            nu = _number(over.get("intercept", 0.8 * (u2 - 0.5)), f"{where}.intercept")
            tau = (
                _vector(over["thresholds"], K - 1, f"{where}.thresholds", increasing=True)
                if "thresholds" in over
                else q
            )
            sigma = math.sqrt(1 - lam**2)
            a[j] = lam / sigma
            d[j, : K - 1] = (nu - tau) / sigma
            loading[j] = lam
            intercept[j] = nu
            thresholds.append(np.asarray(tau, dtype=float))
    factor_of = np.array([names.index(assign[i]) for i in items])

    # latent structure
    scale_ids = {s.id for s in instrument.scales if s.items}
    if circumplex is None:
        circumplex = 0.6 if (instrument.spec.family == "schwartz" and n_factors is None) else 0.0
    on_circle = [n in scale_ids for n in names]
    R = circumplex_correlation(names, on_circle, circumplex, corr)
    mu = np.zeros(len(names))
    latent = params.get("latent") or {}
    if not isinstance(latent, Mapping):
        raise ModelSpecError(f"{params_source}: 'latent' must be a mapping with 'means' and/or 'correlation'")
    _no_unknown(latent, {"means", "correlation"}, f"{params_source}: latent")
    for fac, m in (latent.get("means") or {}).items():
        if fac not in names:
            raise ModelSpecError(
                f"{params_source}: latent.means names unknown factor {fac!r} (factors: {', '.join(names)})"
            )
        mu[names.index(fac)] = float(m)
    for f1, row in (latent.get("correlation") or {}).items():
        for f2, r in (row or {}).items():
            for fac in (f1, f2):
                if fac not in names:
                    raise ModelSpecError(
                        f"{params_source}: latent.correlation names unknown factor {fac!r} (factors: {', '.join(names)})"
                    )
            i, k = names.index(f1), names.index(f2)
            if i == k or not -1 < float(r) < 1:
                raise ModelSpecError(
                    f"{params_source}: latent.correlation.{f1}.{f2} must be in (-1, 1) off the diagonal"
                )
            R[i, k] = R[k, i] = float(r)
    if np.linalg.eigvalsh(R).min() <= 1e-10:
        raise ModelSpecError(f"{params_source}: the latent correlation matrix is not positive definite")
    return SimulationModel(
        instrument=instrument,
        model=model,
        item_ids=list(items),
        factor_names=names,
        factor_of=factor_of,
        a=a,
        d=d,
        values=values,
        ncat=ncat,
        keying=keying,
        loading=loading,
        intercept=intercept,
        thresholds=thresholds,
        latent_means=mu,
        latent_corr=R,
        persona_effect=float(persona_effect),
        seed=int(seed),
        styles=styles or Styles(),
    )


def _known_item(instrument: Instrument, item: Any, source: str, section: str) -> None:
    if item not in instrument.item_ids:
        raise ModelSpecError(f"{source}: {section} names item {item!r}, which {instrument.id!r} does not have")


def _no_unknown(mapping: Any, allowed: set[str], where: str) -> None:
    if not isinstance(mapping, Mapping):
        raise ModelSpecError(f"{where}: expected a mapping, got {mapping!r}")
    unknown = sorted(set(map(str, mapping)) - allowed)
    if unknown:
        raise ModelSpecError(f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")


def _number(value: Any, where: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ModelSpecError(f"{where}: expected a number, got {value!r}") from None
    if not math.isfinite(v):
        raise ModelSpecError(f"{where}: expected a finite number, got {value!r}")
    return v


def _vector(value: Any, n: int, where: str, *, increasing: bool = False, decreasing: bool = False) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=float).ravel()
    except (TypeError, ValueError):
        raise ModelSpecError(f"{where}: expected a list of {n} numbers, got {value!r}") from None
    if arr.size != n or not np.isfinite(arr).all():
        raise ModelSpecError(f"{where}: expected {n} finite numbers (one per category boundary), got {arr.size}")
    if increasing and n > 1 and not (np.diff(arr) > 0).all():
        raise ModelSpecError(f"{where}: must be strictly increasing")
    if decreasing and n > 1 and not (np.diff(arr) < 0).all():
        raise ModelSpecError(f"{where}: must be strictly decreasing")
    return arr


def read_parameter_file(path: str | Path) -> dict[str, Any]:
    """Read a YAML or JSON parameter file (``simulated:grm?params=path.yaml``).

    Layout (every section optional)::

        model: grm                 # checked against the spec's model
        instrument: svs56          # the parameters apply to this instrument only
        factors: {svs01: F1}       # item -> factor reassignment
        items:
          svs01: {a: 1.5, b: [-2, -1.5, ...]}        # grm: signed slope a, difficulties b or intercepts d
          svs02: {loading: 0.7, intercept: 0.1, thresholds: [...]}   # factor model
        latent:
          means: {universalism: 0.5}
          correlation: {universalism: {benevolence: 0.6}}
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ModelSpecError(f"simulated: parameter file {str(p)!r} not found") from None
    except OSError as exc:
        raise ModelSpecError(f"simulated: cannot read parameter file {str(p)!r} ({exc})") from None
    import yaml

    try:
        data = json.loads(text) if p.suffix.lower() == ".json" else yaml.safe_load(text)
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        raise ModelSpecError(f"simulated: cannot parse parameter file {str(p)!r}: {exc}") from None
    data = data or {}
    if not isinstance(data, Mapping):
        raise ModelSpecError(f"simulated: parameter file {str(p)!r} must hold a mapping")
    _no_unknown(data, {"model", "instrument", "factors", "items", "latent"}, str(p))
    return dict(data)


# --------------------------------------------------------------------------------------------------------------
# truth and the direct simulation API
# --------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True, repr=False)
class SimulationTruth(Result):
    """The generating parameters of a simulated population (and, from :func:`simulate_responses`, its people).

    Attributes
    ----------
    instrument, model
        Instrument id and measurement model (``grm`` or ``factor``).
    items
        One row per item: ``factor``, ``keying``, ``a`` (GRM slope, or the
        factor model's :math:`\\lambda/\\sqrt{1-\\lambda^2}`), ``loading``
        (standardised loading of the latent response; for the GRM
        :math:`a/\\sqrt{a^2+\\pi^2/3}`), ``intercept`` (factor model
        :math:`\\nu`), ``n_categories`` and ``mean`` (population expected score).
    thresholds
        Item -> GRM difficulties ``b`` or factor-model thresholds ``tau``.
    intercepts
        Item -> slope-intercept ``d`` (``P(X >= k) = F(a theta + d_k)``).
    latent_means, latent_correlation
        Population latent means (including the persona shift) and correlations.
    styles
        Response-style intensities.
    item_means, scale_means
        Population expected item scores and scale scores (the instrument's
        scoring applied to expected item scores: exact for mean/sum scales and
        centred scores, which are linear).
    thetas
        The simulated people's latent traits (``simulate_responses`` only).
    """

    instrument: str
    model: str
    persona: str | None
    items: pd.DataFrame
    thresholds: Mapping[str, tuple[float, ...]]
    intercepts: Mapping[str, tuple[float, ...]]
    latent_means: pd.Series
    latent_correlation: pd.DataFrame
    styles: Mapping[str, float]
    item_means: pd.Series
    scale_means: pd.Series
    thetas: pd.DataFrame | None = None
    _model: Any = field(default=None, compare=False, repr=False)
    _option_order: str = field(default="published", compare=False, repr=False)

    @property
    def loadings(self) -> pd.Series:
        """Standardised loadings of the latent responses (signed)."""
        return self.items["loading"]

    def to_frame(self) -> pd.DataFrame:
        return self.items.copy()

    def observed_covariance(self, *, nodes: int = 41) -> pd.DataFrame:
        """Population covariance matrix of the item scores implied by the model (no missing data).

        Items are conditionally independent given the traits, so for
        :math:`j \\ne k`: :math:`\\mathrm{Cov}(X_j, X_k) = E[m_j(\\theta_f) m_k(\\theta_g)] - E X_j E X_k`
        with :math:`m_j(\\theta) = E[X_j \\mid \\theta]`, integrated by (bivariate)
        Gauss-Hermite quadrature; :math:`\\mathrm{Var}(X_j)` comes from the
        marginal category probabilities.  Not available with acquiescence,
        whose person-level shift is a second latent dimension shared by all items.
        """
        model: SimulationModel = self._model
        if model.styles.acquiescence:
            raise DataError("observed_covariance: not available with acquiescence (a shared person-level shift)")
        z, w = _hermite(nodes)
        mu = model.latent_means + model.persona_shift(self.persona)
        R = model.latent_corr
        J = len(model.item_ids)
        cov = np.zeros((J, J))
        F = len(model.factor_names)
        idx = [np.flatnonzero(model.factor_of == f) for f in range(F)]
        # m_j at trait values mu_f + x for the grid x: compute on a shared grid per factor
        for f in range(F):
            for g in range(f, F):
                jf, jg = idx[f], idx[g]
                if not len(jf) or not len(jg):
                    continue
                rho = R[f, g] if f != g else 1.0
                x1 = z[:, None] * np.ones((1, nodes))  # theta_f standardised
                x2 = rho * z[:, None] + math.sqrt(max(1 - rho**2, 0.0)) * z[None, :]
                ww = w[:, None] * w[None, :]
                mf = model.conditional_means(mu[f] + x1.ravel(), option_order=self._option_order)[:, jf]
                mg = model.conditional_means(mu[g] + x2.ravel(), option_order=self._option_order)[:, jg]
                block = (mf * ww.ravel()[:, None]).T @ mg
                cov[np.ix_(jf, jg)] = block
                cov[np.ix_(jg, jf)] = block.T
        means = self.item_means.to_numpy()
        cov = cov - np.outer(means, means)
        p = model.marginal_probabilities(self.persona, option_order=self._option_order)
        vals = np.nan_to_num(model.values)
        var = (p * vals**2).sum(axis=1) - means**2
        np.fill_diagonal(cov, var)
        return pd.DataFrame(cov, index=model.item_ids, columns=model.item_ids)

    def observed_correlation(self, *, nodes: int = 41) -> pd.DataFrame:
        """Population correlation matrix of the item scores (see :meth:`observed_covariance`)."""
        cov = self.observed_covariance(nodes=nodes)
        sd = np.sqrt(np.diag(cov.to_numpy()))
        return cov / np.outer(sd, sd)


def make_truth(
    model: SimulationModel,
    *,
    persona: str | None = None,
    option_order: str = "published",
    thetas: pd.DataFrame | None = None,
) -> SimulationTruth:
    """The :class:`SimulationTruth` of ``model`` for respondents with ``persona``."""
    p = model.marginal_probabilities(persona, option_order=option_order)
    item_means = pd.Series((p * np.nan_to_num(model.values)).sum(axis=1), index=model.item_ids, name="mean")
    ins = model.instrument
    scale_means = pd.Series(dtype=float, name="mean")
    if ins.scales or ins.spec.respondent_means:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            scored = ins.score(item_means.to_frame().T.reset_index(drop=True), exclude=False)
        keep = [
            c
            for c in scored.columns
            if c in {s.id for s in ins.scales}
            or c.endswith("_centred")
            or c in {m.id for m in ins.spec.respondent_means}
        ]
        scale_means = scored[keep].iloc[0].astype(float).rename("mean")
    names = model.factor_names
    items = pd.DataFrame(
        {
            "factor": [names[f] for f in model.factor_of],
            "keying": model.keying.astype(int),
            "a": model.a,
            "loading": model.loading,
            "intercept": model.intercept,
            "n_categories": model.ncat,
            "mean": item_means.to_numpy(),
        },
        index=pd.Index(model.item_ids, name="item"),
    )
    return SimulationTruth(
        instrument=ins.id,
        model=model.model,
        persona=persona,
        items=items,
        thresholds=MappingProxyType({i: tuple(map(float, t)) for i, t in zip(model.item_ids, model.thresholds)}),
        intercepts=MappingProxyType(
            {i: tuple(map(float, model.d[j, : model.ncat[j] - 1])) for j, i in enumerate(model.item_ids)}
        ),
        latent_means=pd.Series(model.latent_means + model.persona_shift(persona), index=names, name="mean"),
        latent_correlation=pd.DataFrame(model.latent_corr, index=names, columns=names),
        styles=MappingProxyType(model.styles.as_dict()),
        item_means=item_means,
        scale_means=scale_means,
        thetas=thetas,
        _model=model,
        _option_order=option_order,
    )


def resolve_instrument(instrument: Instrument | str) -> Instrument:
    if isinstance(instrument, Instrument):
        return instrument
    if isinstance(instrument, str):
        return load(instrument)
    raise DataError(f"instrument: expected an Instrument or an instrument id, got {type(instrument).__name__}")


def simulate_responses(
    instrument: Instrument | str,
    n: int,
    *,
    model: str = "grm",
    seed: int = 0,
    persona: str | None = None,
    option_order: str = "published",
    params: Mapping[str, Any] | str | Path | None = None,
    n_factors: int | None = None,
    circumplex: float | None = None,
    corr: float = 0.0,
    persona_effect: float = 0.5,
    start: int = 0,
    acquiescence: float = 0.0,
    extreme: float = 0.0,
    position: float = 0.0,
    random: float = 0.0,
) -> tuple[pd.DataFrame, SimulationTruth]:
    """Simulate ``n`` respondents answering every item of ``instrument``, without prompts.

    The respondents are those a ``simulated:<model>?seed=<seed>`` backend
    answers for ``persona`` and samples ``start .. start+n-1`` (same latent
    traits); their answers are drawn from the same category probabilities
    (with a random stream of their own, so individual answers differ from a
    backend's generate-mode draws while following the same distribution).

    Parameters
    ----------
    instrument
        An :class:`~psychoml.instruments.Instrument` or a shipped instrument id.
    n
        Number of respondents.
    model
        ``"grm"`` (graded response model) or ``"factor"`` (ordinal factor model).
    seed
        Population seed (the same as the spec's ``seed``).
    option_order
        ``"published"`` or ``"reversed"``: which option counts as first presented
        for position bias.
    params
        Parameter overrides (a mapping or a YAML/JSON file, see :func:`read_parameter_file`).
    n_factors, circumplex, corr, persona_effect
        Latent structure (see :func:`build_model`).
    acquiescence, extreme, position, random
        Response styles (see the module docstring).

    Returns
    -------
    (DataFrame, SimulationTruth)
        Respondents x item ids (index ``sample``), and the truth, with the
        respondents' latent traits in ``truth.thetas``.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise DataError(f"n: expected a positive integer, got {n!r}")
    if option_order not in ("published", "reversed"):
        raise DataError(f"option_order: expected 'published' or 'reversed', got {option_order!r}")
    ins = resolve_instrument(instrument)
    if isinstance(params, (str, Path)):
        source = str(params)
        params = read_parameter_file(params)
    else:
        source = "params"
    sim = build_model(
        ins,
        model=model,
        seed=seed,
        n_factors=n_factors,
        circumplex=circumplex,
        corr=corr,
        persona_effect=persona_effect,
        params=params,
        params_source=source,
        styles=check_styles({"acquiescence": acquiescence, "extreme": extreme, "position": position, "random": random}),
    )
    samples = np.arange(start, start + int(n))
    theta, s = sim.people(persona, samples)
    rows = np.arange(len(sim.item_ids))
    p = sim.probabilities(theta, s, rows, sim.first_published(rows, option_order))
    rng = np.random.default_rng(
        [int(seed) & 0xFFFFFFFF, _persona_hash(persona) & 0xFFFFFFFF, 0x51D, start & 0xFFFFFFFF]
    )
    u = rng.random(p.shape[:2])
    cat = (u[..., None] > np.cumsum(p, axis=-1)).sum(axis=-1)
    cat = np.minimum(cat, sim.ncat[None, :] - 1)  # guards against cumulative sums of 1 - 1e-16
    answers = np.take_along_axis(np.broadcast_to(sim.values, (len(samples),) + sim.values.shape), cat[..., None], -1)[
        ..., 0
    ]
    index = pd.Index(samples, name="sample")
    frame = pd.DataFrame(answers, index=index, columns=sim.item_ids)
    thetas = pd.DataFrame(theta, index=index, columns=sim.factor_names)
    return frame, make_truth(sim, persona=persona, option_order=option_order, thetas=thetas)


def check_styles(styles: Mapping[str, Any], where: str = "simulated") -> Styles:
    """Validate style intensities: mixing probabilities in [0, 1), acquiescence finite."""
    out: dict[str, float] = {}
    for name in STYLE_NAMES:
        value = styles.get(name, 0.0)
        try:
            v = float(value)
        except (TypeError, ValueError):
            raise ModelSpecError(f"{where}: option {name!r} must be a number, got {value!r}") from None
        if not math.isfinite(v):
            raise ModelSpecError(f"{where}: option {name!r} must be finite, got {value!r}")
        if name != "acquiescence" and not 0 <= v < 1:
            raise ModelSpecError(f"{where}: option {name!r} is a probability in [0, 1), got {value!r}")
        out[name] = v
    return Styles(**out)
