"""Validity: MTMM, HTMT, convergent, known-groups and criterion validity, circumplex structure,
the value-action gap, and response-style diagnostics.

Every function takes its data first, options keyword-only, and returns a frozen
``<Statistic>Result`` with ``to_frame()``.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from psychoml._base import Result, check_not_constant, numeric_frame
from psychoml.errors import DataError

__all__ = [
    "SCHWARTZ_ORDER",
    "CircumplexResult",
    "CorrelationResult",
    "CriterionResult",
    "HTMTResult",
    "KnownGroupsResult",
    "MTMMResult",
    "PositionBiasResult",
    "ResponseStyleResult",
    "ValueActionGapResult",
    "circumplex",
    "classical_mds",
    "convergent_validity",
    "criterion_validity",
    "htmt",
    "known_groups",
    "mtmm",
    "position_bias",
    "response_styles",
    "value_action_gap",
]

#: Schwartz's (1992) theoretical circular order of the 10 basic values (hedonism between achievement and
#: stimulation; tradition and conformity share a wedge, tradition outside).
SCHWARTZ_ORDER: tuple[str, ...] = (
    "self_direction", "stimulation", "hedonism", "achievement", "power",
    "security", "conformity", "tradition", "benevolence", "universalism",
)


def _fisher_ci(r: float, n: int, level: float) -> tuple[float, float]:
    """Fisher-z confidence interval of a correlation (``psych::r.con``)."""
    if n <= 3 or not np.isfinite(r) or abs(r) >= 1:
        return (np.nan, np.nan)
    z = np.arctanh(r)
    half = stats.norm.ppf(0.5 + level / 2) / math.sqrt(n - 3)
    return (float(np.tanh(z - half)), float(np.tanh(z + half)))


def _corr_p(r: float, n: int) -> float:
    if n <= 2 or not np.isfinite(r):
        return np.nan
    if abs(r) >= 1:
        return 0.0
    t = r * math.sqrt((n - 2) / (1 - r * r))
    return float(2 * stats.t.sf(abs(t), n - 2))


# --- MTMM -----------------------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True, repr=False)
class MTMMResult(Result):
    """Multitrait-multimethod matrix with the Campbell-Fiske comparisons.

    Attributes
    ----------
    correlations
        The full correlation matrix, ordered method-major.
    validity
        Monotrait-heteromethod correlations (the validity diagonals), one row per trait x method pair.
    criteria
        One row per Campbell-Fiske criterion: comparisons made, satisfied, proportion.
    """

    correlations: pd.DataFrame
    validity: pd.DataFrame
    criteria: pd.DataFrame
    mean_convergent: float
    mean_heterotrait_monomethod: float
    mean_heterotrait_heteromethod: float

    def to_frame(self) -> pd.DataFrame:
        return self.criteria


def mtmm(
    data: pd.DataFrame,
    *,
    traits: Mapping[str, str],
    methods: Mapping[str, str],
    missing: str = "pairwise",
) -> MTMMResult:
    """Multitrait-multimethod analysis (Campbell & Fiske, 1959).

    Parameters
    ----------
    data
        Rows = respondents (e.g. model x persona x sample), columns = measures.
    traits, methods
        Map every column to its trait (e.g. the scale) and its method (e.g. the
        prompt variant or the instrument).
    missing
        ``"pairwise"`` (default) or ``"listwise"`` deletion for the correlations.

    Notes
    -----
    Criteria, each counted over all relevant comparisons:

    1. convergent validities (monotrait-heteromethod r) are positive and significant (p < .05);
    2. each validity value exceeds the heterotrait-heteromethod correlations in its row and column;
    3. each validity value exceeds the heterotrait-monomethod correlations of its two measures;
    4. the pattern of trait intercorrelations is the same in every block: Kendall's W-free version, the mean
       Spearman correlation between the heterotrait triangles of every pair of blocks.

    R equivalent: none in psych; the counts follow Campbell & Fiske (1959) as in ``psy::mtmm``.
    """
    frame = numeric_frame(data, name="data", min_columns=4)
    for name, mapping in (("traits", traits), ("methods", methods)):
        missing_cols = [c for c in frame.columns if c not in mapping]
        if missing_cols:
            raise DataError(f"{name}: no entry for column(s) {missing_cols}")
    cols = list(frame.columns)
    tr = {c: traits[c] for c in cols}
    me = {c: methods[c] for c in cols}
    if len(set(tr.values())) < 2 or len(set(me.values())) < 2:
        raise DataError("mtmm needs at least two traits and two methods")
    if len(set(zip(tr.values(), me.values()))) != len(cols):
        raise DataError("traits/methods: two columns share the same trait and method")
    check_not_constant(frame)
    if missing == "listwise":
        frame = frame.dropna()
    elif missing != "pairwise":
        raise DataError(f"missing: expected 'pairwise' or 'listwise', got {missing!r}")
    n_obs = frame.notna().astype(int).T @ frame.notna().astype(int)
    if int(n_obs.to_numpy().min()) < 4:
        a, b = np.unravel_index(int(np.argmin(n_obs.to_numpy())), n_obs.shape)
        raise DataError(f"data: measures {frame.columns[a]!r} and {frame.columns[b]!r} share only "
                        f"{int(n_obs.iloc[a, b])} observation(s); the MTMM correlations need at least 4")
    order = sorted(cols, key=lambda c: (str(me[c]), str(tr[c])))
    corr = frame[order].corr()
    n_pair = frame[order].notna().astype(int).T @ frame[order].notna().astype(int)

    val_rows = []
    crit2 = [0, 0]
    crit3 = [0, 0]
    hthm, hthet = [], []
    for a, b in itertools.combinations(order, 2):
        r = corr.loc[a, b]
        if tr[a] != tr[b] and me[a] == me[b]:
            hthm.append(r)
        elif tr[a] != tr[b]:
            hthet.append(r)
    for a, b in itertools.combinations(order, 2):
        if tr[a] != tr[b] or me[a] == me[b]:
            continue
        r = corr.loc[a, b]
        n = int(n_pair.loc[a, b])
        p = _corr_p(r, n)
        val_rows.append({"trait": tr[a], "method_1": me[a], "method_2": me[b], "r": r, "n": n, "p": p})
        # criterion 2: compare with r(a, b') and r(a', b) for traits t' != t across the same two methods
        for c in order:
            if tr[c] == tr[a]:
                continue
            if me[c] == me[b]:
                crit2[0] += 1
                crit2[1] += int(r > corr.loc[a, c])
            if me[c] == me[a]:
                crit2[0] += 1
                crit2[1] += int(r > corr.loc[b, c])
                # criterion 3: heterotrait-monomethod correlations involving a (method of a)
                crit3[0] += 1
                crit3[1] += int(r > corr.loc[a, c])
            if me[c] == me[b]:
                crit3[0] += 1
                crit3[1] += int(r > corr.loc[b, c])
    validity = pd.DataFrame(val_rows)
    crit1 = (len(validity), int(((validity["r"] > 0) & (validity["p"] < 0.05)).sum()) if len(validity) else 0)
    # criterion 4: same pattern of heterotrait correlations in every block
    trait_list = sorted(set(tr.values()))
    method_list = sorted(set(me.values()))
    lookup = {(tr[c], me[c]): c for c in cols}
    blocks = []
    for m1, m2 in itertools.combinations_with_replacement(method_list, 2):
        pattern = []
        for t1, t2 in itertools.combinations(trait_list, 2):
            a, b = lookup.get((t1, m1)), lookup.get((t2, m2))
            pattern.append(corr.loc[a, b] if a and b else np.nan)
        blocks.append(np.array(pattern))
    sims = []
    for x, y in itertools.combinations(blocks, 2):
        ok = np.isfinite(x) & np.isfinite(y)
        if ok.sum() >= 3:
            sims.append(stats.spearmanr(x[ok], y[ok]).statistic)
    crit4_value = float(np.nanmean(sims)) if sims else np.nan
    criteria = pd.DataFrame(
        [
            {"criterion": "1 convergent validities positive and significant", "comparisons": crit1[0], "satisfied": crit1[1]},
            {"criterion": "2 validity > heterotrait-heteromethod", "comparisons": crit2[0], "satisfied": crit2[1]},
            {"criterion": "3 validity > heterotrait-monomethod", "comparisons": crit3[0], "satisfied": crit3[1]},
            {"criterion": "4 same trait pattern across blocks (mean Spearman)", "comparisons": len(sims),
             "satisfied": np.nan},
        ]
    ).set_index("criterion")
    criteria["proportion"] = criteria["satisfied"] / criteria["comparisons"].replace(0, np.nan)
    criteria.loc["4 same trait pattern across blocks (mean Spearman)", "proportion"] = crit4_value
    return MTMMResult(
        correlations=corr,
        validity=validity,
        criteria=criteria,
        mean_convergent=float(validity["r"].mean()) if len(validity) else np.nan,
        mean_heterotrait_monomethod=float(np.mean(hthm)) if hthm else np.nan,
        mean_heterotrait_heteromethod=float(np.mean(hthet)) if hthet else np.nan,
    )


# --- HTMT -----------------------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True, repr=False)
class HTMTResult(Result):
    """Heterotrait-monotrait ratios between constructs (square matrix, NaN on the diagonal)."""

    matrix: pd.DataFrame
    max_htmt: float

    def to_frame(self) -> pd.DataFrame:
        return self.matrix


def htmt(data: pd.DataFrame, *, constructs: Mapping[str, Sequence[str]], missing: str = "pairwise") -> HTMTResult:
    """Heterotrait-monotrait ratio of correlations (Henseler, Ringle & Sarstedt, 2015).

    .. math:: HTMT_{ij} = \\frac{\\bar r_{ij}}{\\sqrt{\\bar r_{ii}\\,\\bar r_{jj}}}

    with :math:`\\bar r_{ij}` the mean correlation between indicators of constructs i and j (heterotrait)
    and :math:`\\bar r_{ii}` the mean correlation among indicators of construct i (monotrait).
    Values above 0.85 (or 0.90) suggest the two constructs are not discriminated.

    R equivalent: ``semTools::htmt(model, data)`` (arithmetic mean, ``htmt2 = FALSE``), whose absolute
    values of correlations are used the same way.
    """
    frame = numeric_frame(data, name="data", min_columns=2)
    if len(constructs) < 2:
        raise DataError("constructs: need at least two constructs")
    for k, cols in constructs.items():
        if len(cols) < 2:
            raise DataError(f"constructs[{k!r}]: HTMT needs at least two indicators per construct")
        unknown = [c for c in cols if c not in frame.columns]
        if unknown:
            raise DataError(f"constructs[{k!r}]: column(s) {unknown} not in data")
    used = [c for cols in constructs.values() for c in cols]
    check_not_constant(frame, columns=used)
    n_min = int(frame[used].dropna().shape[0] if missing == "listwise" else frame[used].notna().sum().min())
    if n_min < 3:
        raise DataError(f"data: only {n_min} observation(s) on some indicator; HTMT's correlations need at least 3")
    sub = frame[used].dropna() if missing == "listwise" else frame[used]
    corr = sub.corr().abs()
    names = list(constructs)
    mono = {}
    for k in names:
        block = corr.loc[list(constructs[k]), list(constructs[k])].to_numpy()
        mono[k] = block[np.triu_indices_from(block, 1)].mean()
    out = pd.DataFrame(np.nan, index=names, columns=names)
    for a, b in itertools.combinations(names, 2):
        hetero = corr.loc[list(constructs[a]), list(constructs[b])].to_numpy().mean()
        out.loc[a, b] = out.loc[b, a] = hetero / math.sqrt(mono[a] * mono[b])
    return HTMTResult(matrix=out, max_htmt=float(np.nanmax(out.to_numpy())))


# --- convergent / criterion -----------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True, repr=False)
class CorrelationResult(Result):
    """Correlations between pairs of measures with Fisher-z confidence intervals."""

    table: pd.DataFrame

    def to_frame(self) -> pd.DataFrame:
        return self.table


def convergent_validity(
    data: pd.DataFrame,
    *,
    pairs: Sequence[tuple[str, str]],
    method: str = "pearson",
    ci: float = 0.95,
) -> CorrelationResult:
    """Correlations between measures of related constructs (e.g. SVS benevolence vs MFQ care).

    Parameters
    ----------
    data
        Rows = respondents, columns = scale scores of both instruments.
    pairs
        Column pairs expected to converge.
    method
        ``"pearson"`` or ``"spearman"``.

    The interval is Fisher's z (for Spearman, the same approximation as ``psych::corr.test``).
    """
    frame = numeric_frame(data, name="data", min_columns=2)
    if method not in ("pearson", "spearman"):
        raise DataError(f"method: expected 'pearson' or 'spearman', got {method!r}")
    rows = []
    for a, b in pairs:
        for c in (a, b):
            if c not in frame.columns:
                raise DataError(f"pairs: column {c!r} not in data")
        both = frame[[a, b]].dropna()
        n = len(both)
        if n < 3:
            raise DataError(f"pairs: ({a!r}, {b!r}) have fewer than 3 complete rows")
        check_not_constant(both)
        r = float(both[a].corr(both[b], method=method))
        lo, hi = _fisher_ci(r, n, ci)
        rows.append({"measure_1": a, "measure_2": b, "r": r, "ci_lower": lo, "ci_upper": hi, "n": n, "p": _corr_p(r, n)})
    return CorrelationResult(table=pd.DataFrame(rows))


@dataclasses.dataclass(frozen=True, repr=False)
class CriterionResult(Result):
    """Agreement between model scores and human norms per score: r with CI, MAD, RMSE, mean difference."""

    table: pd.DataFrame
    merged: pd.DataFrame

    def to_frame(self) -> pd.DataFrame:
        return self.table


def criterion_validity(
    model_scores: pd.DataFrame,
    norms: pd.DataFrame,
    *,
    columns: Sequence[str] | None = None,
    ci: float = 0.95,
) -> CriterionResult:
    """Criterion validity against human norms (e.g. simulated country personas vs Hofstede's country scores).

    Parameters
    ----------
    model_scores, norms
        Both indexed by group (e.g. ISO country code), columns = scores (``PDI``, ``IDV`` ...).
    columns
        Scores to compare (default: those in both tables).

    Returns per score: Pearson r across groups with a Fisher-z CI, mean absolute deviation
    ``mean(|model - human|)``, RMSE, mean signed difference, and the number of groups.
    """
    if not isinstance(model_scores, pd.DataFrame) or not isinstance(norms, pd.DataFrame):
        raise DataError("model_scores and norms must be DataFrames indexed by group")
    cols = list(columns) if columns is not None else [c for c in model_scores.columns if c in norms.columns]
    if not cols:
        raise DataError("criterion_validity: no score column is shared by model_scores and norms")
    common = model_scores.index.intersection(norms.index)
    if len(common) < 3:
        raise DataError(f"criterion_validity: only {len(common)} group(s) in both tables; need at least 3")
    rows, merged = [], []
    for c in cols:
        for name, tab in (("model_scores", model_scores), ("norms", norms)):
            if c not in tab.columns:
                raise DataError(f"{name}: no column {c!r}")
        m = pd.to_numeric(model_scores.loc[common, c], errors="coerce")
        h = pd.to_numeric(norms.loc[common, c], errors="coerce")
        ok = m.notna() & h.notna()
        m, h = m[ok], h[ok]
        n = len(m)
        r = float(np.corrcoef(m, h)[0, 1]) if n >= 3 and m.std() > 0 and h.std() > 0 else np.nan
        lo, hi = _fisher_ci(r, n, ci)
        d = m - h
        rows.append({"score": c, "r": r, "ci_lower": lo, "ci_upper": hi, "mad": float(d.abs().mean()),
                     "rmse": float(np.sqrt((d**2).mean())), "mean_difference": float(d.mean()), "n_groups": n})
        merged.append(pd.DataFrame({"group": m.index, "score": c, "model": m.to_numpy(), "human": h.to_numpy()}))
    return CriterionResult(table=pd.DataFrame(rows).set_index("score"), merged=pd.concat(merged, ignore_index=True))


# --- known groups ---------------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True, repr=False)
class KnownGroupsResult(Result):
    """Group means and standardised differences against a reference group, per score."""

    table: pd.DataFrame
    anova: pd.DataFrame

    def to_frame(self) -> pd.DataFrame:
        return self.table


def known_groups(
    data: pd.DataFrame,
    *,
    group: str,
    scores: Sequence[str] | None = None,
    reference: Any = None,
    ci: float = 0.95,
) -> KnownGroupsResult:
    """Known-groups validity: do persona groups differ where theory says they should?

    For every score and every group against ``reference`` (default: the first group in sorted order):
    means, Welch's t test, Hedges' g with the CI of Hedges & Olkin (1985):

    .. math:: g = J\\,\\frac{\\bar x_1-\\bar x_2}{s_p},\\quad J = 1-\\frac{3}{4(n_1+n_2)-9},\\quad
              SE_g = \\sqrt{\\frac{n_1+n_2}{n_1 n_2}+\\frac{g^2}{2(n_1+n_2)}}

    and per score a one-way ANOVA with eta squared. R equivalent: ``effsize::cohen.d(hedges.correction=TRUE)``.
    """
    if not isinstance(data, pd.DataFrame) or group not in data.columns:
        raise DataError(f"group: data has no column {group!r}")
    cols = list(scores) if scores is not None else [c for c in data.columns if c != group]
    frame = numeric_frame(data[cols], name="data")
    labels = data[group]
    levels = sorted(labels.dropna().unique(), key=str)
    if len(levels) < 2:
        raise DataError(f"group: column {group!r} has fewer than two groups")
    ref = levels[0] if reference is None else reference
    if ref not in levels:
        raise DataError(f"reference: {ref!r} is not a level of {group!r}")
    z = stats.norm.ppf(0.5 + ci / 2)
    rows, aov = [], []
    for c in cols:
        x_ref = frame.loc[labels == ref, c].dropna()
        samples = []
        for lev in levels:
            x = frame.loc[labels == lev, c].dropna()
            samples.append(x)
            if lev == ref:
                continue
            n1, n2 = len(x), len(x_ref)
            if n1 < 2 or n2 < 2:
                raise DataError(f"group {lev!r} or {ref!r} has fewer than 2 scores on {c!r}")
            sp = math.sqrt(((n1 - 1) * x.var() + (n2 - 1) * x_ref.var()) / (n1 + n2 - 2))
            d = (x.mean() - x_ref.mean()) / sp if sp > 0 else np.nan
            g = d * (1 - 3 / (4 * (n1 + n2) - 9))
            se = math.sqrt((n1 + n2) / (n1 * n2) + g * g / (2 * (n1 + n2))) if np.isfinite(g) else np.nan
            t = stats.ttest_ind(x, x_ref, equal_var=False)
            rows.append({"score": c, "group": lev, "reference": ref, "mean": x.mean(), "mean_reference": x_ref.mean(),
                         "n": n1, "n_reference": n2, "hedges_g": g, "ci_lower": g - z * se, "ci_upper": g + z * se,
                         "t": float(t.statistic), "p": float(t.pvalue)})
        ok = [s for s in samples if len(s) > 0]
        f = stats.f_oneway(*ok)
        allv = pd.concat(ok)
        ss_between = sum(len(s) * (s.mean() - allv.mean()) ** 2 for s in ok)
        ss_total = ((allv - allv.mean()) ** 2).sum()
        aov.append({"score": c, "F": float(f.statistic), "p": float(f.pvalue),
                    "eta_squared": float(ss_between / ss_total) if ss_total > 0 else np.nan})
    return KnownGroupsResult(table=pd.DataFrame(rows), anova=pd.DataFrame(aov).set_index("score"))


# --- circumplex -----------------------------------------------------------------------------------------------------
def classical_mds(distances: np.ndarray, k: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Classical (Torgerson) multidimensional scaling; returns (coordinates, eigenvalues).

    .. math:: B = -\\tfrac12 J D^{(2)} J,\\quad X = V_k \\Lambda_k^{1/2}

    R equivalent: ``cmdscale(d, k, eig = TRUE)`` (coordinates equal up to the sign of each axis).
    """
    d = np.asarray(distances, dtype=float)
    n = d.shape[0]
    j = np.eye(n) - np.ones((n, n)) / n
    b = -0.5 * j @ (d**2) @ j
    vals, vecs = np.linalg.eigh(b)
    idx = np.argsort(vals)[::-1]
    vals, vecs = vals[idx], vecs[:, idx]
    pos = np.clip(vals[:k], 0, None)
    return vecs[:, :k] * np.sqrt(pos), vals


@dataclasses.dataclass(frozen=True, repr=False)
class CircumplexResult(Result):
    """Structural test of a circumplex (Schwartz's circular order of values).

    Attributes
    ----------
    coordinates
        Two-dimensional MDS configuration with the angle (degrees) of each variable.
    recovered_order
        Variables sorted by angle, rotated to start at the first variable of the theoretical order and
        oriented in its direction.
    correspondence_index
        Hubert & Arabie's CI = (agreements - violations) / predictions, in [-1, 1].
    p_value
        Randomisation test of hypothesised order (RTHOR): share of label permutations with a CI at least as
        large as the observed one.
    order_agreement
        Circular rank agreement between recovered and theoretical order (1 = identical cyclic order).
    stress
        Kruskal's stress-1 of the two-dimensional configuration against the distances.
    fits
        Whether the circumplex is supported (CI > 0 and p < alpha).
    """

    coordinates: pd.DataFrame
    theoretical_order: tuple[str, ...]
    recovered_order: tuple[str, ...]
    correspondence_index: float
    p_value: float
    order_agreement: float
    stress: float
    n_predictions: int
    fits: bool

    def to_frame(self) -> pd.DataFrame:
        return self.coordinates


def _circular_distance(i: int, j: int, n: int) -> int:
    d = abs(i - j) % n
    return min(d, n - d)


def _rthor_ci(corr: np.ndarray, order_pos: np.ndarray) -> tuple[float, int]:
    """Hubert & Arabie (1987) circular-order predictions: r(pair) > r(pair') when pair is closer on the circle."""
    n = corr.shape[0]
    pairs = list(itertools.combinations(range(n), 2))
    dist = np.array([_circular_distance(order_pos[a], order_pos[b], n) for a, b in pairs])
    r = np.array([corr[a, b] for a, b in pairs])
    closer = dist[:, None] < dist[None, :]
    diff = r[:, None] - r[None, :]
    agree = int(((diff > 0) & closer).sum())
    violate = int(((diff < 0) & closer).sum())
    total = int(closer.sum())
    return (agree - violate) / total, total


def circumplex(
    data: pd.DataFrame,
    *,
    order: Sequence[str] | None = None,
    n_permutations: int = 2000,
    alpha: float = 0.05,
    seed: int = 0,
) -> CircumplexResult:
    """Test whether variables (e.g. the 10 Schwartz values) follow a hypothesised circular order.

    The correlation matrix is turned into distances :math:`d_{ij} = \\sqrt{2(1-r_{ij})}` and scaled into two
    dimensions by classical MDS (``cmdscale``); each variable's angle gives the recovered circular order.
    The fit is tested with the randomisation test of hypothesised order (RTHOR; Hubert & Arabie, 1987;
    Tracey, 1997): for every two pairs of variables, the pair closer on the theoretical circle should
    correlate more strongly.  Its correspondence index CI = (agreements - violations) / predictions, and
    its p value is the share of random relabellings with a CI at least as large.

    Parameters
    ----------
    data
        Rows = respondents, columns = the variables (defaults to Schwartz's 10 values when ``order`` is None,
        so column names must match :data:`SCHWARTZ_ORDER`).
    order
        Theoretical circular order of the columns.
    n_permutations
        Random relabellings for the RTHOR p value (seeded; Tracey's RANDALL uses all :math:`(n-1)!`
        circular permutations, impractical beyond 8 variables).

    R equivalent: ``RTHORR::randall`` for the CI and p; ``cmdscale`` for the configuration.
    """
    theo = tuple(order) if order is not None else SCHWARTZ_ORDER
    frame = numeric_frame(data, name="data", min_columns=4)
    missing_cols = [c for c in theo if c not in frame.columns]
    if missing_cols:
        raise DataError(f"data: missing column(s) {missing_cols} of the theoretical order")
    if len(theo) < 4:
        raise DataError("order: a circumplex test needs at least four variables")
    frame = frame[list(theo)]
    check_not_constant(frame)
    if frame.dropna().shape[0] < len(theo):
        raise DataError(f"data: fewer complete rows ({frame.dropna().shape[0]}) than variables ({len(theo)})")
    corr = frame.corr().to_numpy()
    dist = np.sqrt(np.clip(2 * (1 - corr), 0, None))
    coords, _ = classical_mds(dist, 2)
    angles = np.degrees(np.arctan2(coords[:, 1], coords[:, 0])) % 360
    n = len(theo)
    # recovered order: by angle, starting at the first theoretical variable, oriented as the theory's second
    rel = (angles - angles[0]) % 360
    ccw = list(np.argsort(rel))
    cw = [ccw[0]] + ccw[1:][::-1]
    theo_pos = np.arange(n)

    def agreement(seq: list[int]) -> float:
        # circular rank agreement: 1 - mean circular displacement / max displacement
        pos = np.empty(n, dtype=int)
        pos[seq] = np.arange(n)
        disp = np.array([_circular_distance(pos[i], theo_pos[i], n) for i in range(n)])
        return 1 - disp.mean() / (n // 2)

    best = max((ccw, cw), key=agreement)
    recovered = tuple(theo[i] for i in best)
    ci_obs, total = _rthor_ci(corr, theo_pos)
    rng = np.random.default_rng(seed)
    count = 0
    for _ in range(n_permutations):
        perm = rng.permutation(n)
        ci_perm, _ = _rthor_ci(corr, perm)
        count += ci_perm >= ci_obs - 1e-12
    p = (count + 1) / (n_permutations + 1)
    # Kruskal stress-1 of the 2-D configuration
    fitted = np.sqrt(((coords[:, None, :] - coords[None, :, :]) ** 2).sum(-1))
    iu = np.triu_indices(n, 1)
    stress = float(np.sqrt(((dist[iu] - fitted[iu]) ** 2).sum() / (dist[iu] ** 2).sum()))
    coord_frame = pd.DataFrame({"dim1": coords[:, 0], "dim2": coords[:, 1], "angle": angles}, index=list(theo))
    return CircumplexResult(
        coordinates=coord_frame, theoretical_order=theo, recovered_order=recovered,
        correspondence_index=float(ci_obs), p_value=float(p), order_agreement=float(agreement(best)),
        stress=stress, n_predictions=total, fits=bool(ci_obs > 0 and p < alpha),
    )


# --- value-action gap -----------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True, repr=False)
class ValueActionGapResult(Result):
    """Stated value importance against value-informed action choices.

    ``table`` has one row per value (and persona, when given): stated importance rescaled to [0, 1], the
    action rate (share of choices of the value-aligned action, averaged over both option positions so
    position bias cancels), the signed gap (stated - action) with a bootstrap CI, the agreement rate, and
    the action rate in each position.
    """

    table: pd.DataFrame
    agreement_rate: float
    mean_gap: float
    position_balance: float

    def to_frame(self) -> pd.DataFrame:
        return self.table


def value_action_gap(
    stated: pd.DataFrame,
    actions: pd.DataFrame,
    *,
    scale_min: float,
    scale_max: float,
    threshold: float = 0.5,
    by: Sequence[str] = ("value",),
    ci: float = 0.95,
    n_boot: int = 2000,
    seed: int = 0,
) -> ValueActionGapResult:
    """The value-action gap (as in ValueActionLens, Shen et al. 2025), with counterbalancing and CIs.

    Parameters
    ----------
    stated
        Long table with columns ``by`` (``value`` and optionally ``persona``) and ``importance`` (the stated
        rating on ``scale_min..scale_max``).
    actions
        Long table with columns ``by``, ``scenario``, ``chose_aligned`` (1 if the value-aligned action was
        chosen, 0 otherwise) and ``aligned_position`` (0 if the aligned action was presented first, 1 if second).
    threshold
        Stated importance (rescaled to [0, 1]) above which the value is taken as endorsed, for agreement.

    Notes
    -----
    * stated :math:`s = (x - \\min)/(\\max - \\min)`; action rate :math:`a = (a_{first} + a_{second})/2`
      where each is the aligned-choice rate in one presentation position (balanced, so a respondent who
      always picks the first option scores 0.5 and no gap is manufactured by position);
    * gap :math:`= s - a` (positive: the model says it values more than it acts on);
    * agreement: endorsement (:math:`s > \\text{threshold}`) matches the majority action (:math:`a > 0.5`),
      per scenario choice, averaged;
    * CIs by a percentile bootstrap over scenarios within each cell;
    * a cell whose aligned action was shown in one position only gets a ``UserWarning``: its rate is that
      position's rate, not position-free.

    Raises
    ------
    DataError
        A missing column, a non-numeric or missing ``importance``, ``chose_aligned`` or ``aligned_position``,
        codes other than 0/1, importance outside the scale, or a cell without stated importance.
    """
    by = list(by)
    for name, frame, need in (("stated", stated, [*by, "importance"]),
                              ("actions", actions, [*by, "scenario", "chose_aligned", "aligned_position"])):
        if not isinstance(frame, pd.DataFrame):
            raise DataError(f"{name}: expected a DataFrame")
        miss = [c for c in need if c not in frame.columns]
        if miss:
            raise DataError(f"{name}: missing column(s) {miss}")
    if not scale_max > scale_min:
        raise DataError("scale_max must exceed scale_min")
    for name, frame, col in (("stated", stated, "importance"), ("actions", actions, "chose_aligned"),
                             ("actions", actions, "aligned_position")):
        if not pd.api.types.is_numeric_dtype(frame[col]):  # bool counts as numeric: True = 1
            raise DataError(f"{name}: non-numeric column {col!r} (dtype {frame[col].dtype})")
        if frame[col].isna().any():
            raise DataError(f"{name}: column {col!r} has {int(frame[col].isna().sum())} missing value(s)")
    st_ = stated.groupby(by)["importance"].mean()
    if ((st_ < scale_min) | (st_ > scale_max)).any():
        raise DataError(f"stated: importance outside {scale_min}..{scale_max}")
    s01 = (st_ - scale_min) / (scale_max - scale_min)
    act = actions.copy()
    if not set(pd.unique(act["chose_aligned"].dropna())) <= {0, 1}:
        raise DataError("actions: chose_aligned must be 0 or 1")
    if not set(pd.unique(act["aligned_position"].dropna())) <= {0, 1}:
        raise DataError("actions: aligned_position must be 0 (first) or 1 (second)")
    shown = act.groupby(by)["aligned_position"].nunique()
    if (shown < 2).any():
        # one position only: the position pull is not cancelled, so the gap may be manufactured by position
        cells = [dict(zip(by, k if isinstance(k, tuple) else (k,))) for k in shown.index[shown < 2]]
        warnings.warn(f"value_action_gap: {len(cells)} cell(s) show the aligned action in one position only, "
                      f"so position bias is not cancelled there (e.g. {cells[0]})", UserWarning, stacklevel=2)
    rng = np.random.default_rng(seed)
    rows = []
    agree_all = []
    for key, cell in act.groupby(by):
        key_t = key if isinstance(key, tuple) else (key,)
        lookup = key_t if len(by) > 1 else key_t[0]
        if lookup not in s01.index:
            raise DataError(f"stated: no importance for {dict(zip(by, key_t))}")
        s = float(s01.loc[lookup])
        rates = cell.groupby("aligned_position")["chose_aligned"].mean()
        first = float(rates.get(0, np.nan))
        second = float(rates.get(1, np.nan))
        a = np.nanmean([first, second])
        endorsed = s > threshold
        agree = ((cell["chose_aligned"] == 1) == endorsed).mean()
        agree_all.append(((cell["chose_aligned"] == 1) == endorsed).to_numpy())
        # bootstrap over scenarios (keeping each scenario's position pairs together), vectorised on the
        # per-scenario counts: a resample's rate in a position is sum(aligned) / sum(choices) over its scenarios
        counts = (cell.assign(_n=1).groupby(["scenario", "aligned_position"])[["chose_aligned", "_n"]].sum()
                  .unstack("aligned_position").reindex(columns=[0, 1], level=1).fillna(0.0))
        k = counts["chose_aligned"].to_numpy(dtype=float)
        n_ = counts["_n"].to_numpy(dtype=float)
        pick = rng.integers(0, len(counts), size=(n_boot, len(counts)))
        with np.errstate(invalid="ignore", divide="ignore"):
            boot_rates = k[pick].sum(axis=1) / n_[pick].sum(axis=1)  # n_boot x 2 positions, NaN if never shown
        both = np.isfinite(boot_rates)
        boot_action = np.where(both.any(axis=1), np.nansum(np.where(both, boot_rates, 0), axis=1)
                               / np.maximum(both.sum(axis=1), 1), np.nan)
        gaps = s - boot_action
        lo, hi = np.nanpercentile(gaps, [50 * (1 - ci), 50 * (1 + ci)])
        rows.append({**dict(zip(by, key_t)), "stated": s, "action_rate": a, "gap": s - a, "gap_ci_lower": lo,
                     "gap_ci_upper": hi, "agreement": agree, "rate_aligned_first": first,
                     "rate_aligned_second": second, "n_choices": len(cell)})
    table = pd.DataFrame(rows)
    balance = float(act["aligned_position"].mean())
    return ValueActionGapResult(table=table, agreement_rate=float(np.concatenate(agree_all).mean()),
                                mean_gap=float(table["gap"].mean()), position_balance=balance)


# --- response styles ------------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True, repr=False)
class ResponseStyleResult(Result):
    """Per-respondent response-style indices and style-corrected (ipsatised) answers.

    Columns of ``table``: ``acquiescence`` (mean answer minus the scale midpoint, over pairs of
    oppositely keyed items when ``keys`` are given, otherwise over all items), ``extreme`` (share of answers at
    either end), ``midpoint`` (share at the midpoint), ``longest_string`` (longest run of identical
    consecutive answers), ``within_sd`` (standard deviation of a respondent's answers) and ``straightlining``
    (all answers identical).
    """

    table: pd.DataFrame
    corrected: pd.DataFrame
    balanced: bool = False

    def to_frame(self) -> pd.DataFrame:
        return self.table


def response_styles(
    data: pd.DataFrame,
    *,
    scale_min: float,
    scale_max: float,
    keys: Mapping[str, int] | None = None,
) -> ResponseStyleResult:
    """Response-style diagnostics (Baumgartner & Steenkamp, 2001; Meade & Craig, 2012).

    ``corrected`` holds the answers with each respondent's acquiescence removed (the respondent's mean over
    a balanced set of keyed items subtracted, as in Soto & John's acquiescence correction), which is only
    meaningful when ``keys`` contains both directions: ``balanced`` says whether it did.  Without a balanced
    key, ``corrected`` is the ipsatised answers (each respondent's mean moved to the scale midpoint), which also
    removes true differences in the trait level and is a correction only for comparing items within a
    respondent (as Schwartz's centred value scores do).
    """
    frame = numeric_frame(data, name="data", min_columns=2)
    if scale_max <= scale_min:
        raise DataError("scale_max must exceed scale_min")
    mid = (scale_min + scale_max) / 2
    x = frame.to_numpy()
    answered = ~np.isnan(x)
    n_ans = answered.sum(axis=1)
    extreme = np.where(answered, (x == scale_min) | (x == scale_max), False).sum(1) / np.maximum(n_ans, 1)
    midpoint = np.where(answered, np.isclose(x, mid), False).sum(1) / np.maximum(n_ans, 1)
    if keys is not None:
        unknown = [c for c in keys if c not in frame.columns]
        if unknown:
            raise DataError(f"keys: column(s) {unknown} not in data")
        pos = [c for c, k in keys.items() if k == 1]
        neg = [c for c, k in keys.items() if k == -1]
        if not pos or not neg:
            raise DataError("keys: acquiescence needs items keyed in both directions")
        # agreeing with both an item and its opposite: mean of the two direction means minus midpoint
        acq = (frame[pos].mean(axis=1) + frame[neg].mean(axis=1)) / 2 - mid
    else:
        acq = frame.mean(axis=1) - mid
    longest = []
    for row in x:
        vals = row[~np.isnan(row)]
        best = run = 1 if len(vals) else 0
        for a, b in itertools.pairwise(vals):
            run = run + 1 if a == b else 1
            best = max(best, run)
        longest.append(best)
    sd = np.nanstd(x, axis=1, ddof=1) if x.shape[1] > 1 else np.zeros(len(x))
    table = pd.DataFrame(
        {"acquiescence": np.asarray(acq, dtype=float), "extreme": extreme, "midpoint": midpoint,
         "longest_string": longest, "within_sd": sd, "straightlining": np.nan_to_num(sd, nan=0.0) == 0,
         "n_answered": n_ans},
        index=frame.index,
    )
    corrected = frame.sub(np.asarray(acq, dtype=float), axis=0)
    return ResponseStyleResult(table=table, corrected=corrected, balanced=keys is not None)


@dataclasses.dataclass(frozen=True, repr=False)
class PositionBiasResult(Result):
    """Shift of answers when the option order is reversed, per item and overall.

    ``shift`` = mean(value | reversed) - mean(value | published): a respondent preferring the first-presented
    option moves towards the high end when the order is reversed (if the published order ascends), so a
    non-zero shift with a CI excluding 0 reveals position bias; ``corrected`` is the counterbalanced mean (the
    average of both orders), which cancels a constant position effect.  ``corrected_answers`` holds the same
    correction per respondent (rows = the ``respondent`` columns, columns = items; empty when ``respondent``
    was not given): the mean of a respondent's answers to an item under both orders, NaN unless the
    respondent answered it under both.
    """

    table: pd.DataFrame
    shift: float
    ci: tuple[float, float]
    corrected_answers: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)

    def to_frame(self) -> pd.DataFrame:
        return self.table


def position_bias(
    long: pd.DataFrame,
    *,
    order: str = "option_order",
    value: str = "value",
    item: str = "item",
    published: str = "published",
    reversed_: str = "reversed",
    respondent: Sequence[str] | None = None,
    ci: float = 0.95,
) -> PositionBiasResult:
    """Position bias from option-order reversal (a factorial prompt design with both orders).

    Per item: mean value under each order, their difference and the counterbalanced mean; overall: the
    mean of item differences with a t-based CI across items,

    .. math:: \\bar d \\pm t_{k-1,\\,1-\\alpha/2}\\, s_d/\\sqrt{k},\\quad d_i = \\bar x_{i,\\text{reversed}} -
              \\bar x_{i,\\text{published}}.

    With ``respondent`` (columns identifying a respondent apart from the option order, e.g. ``["model",
    "persona", "instruction", "sample"]``) it also returns each respondent's counterbalanced answers: a
    constant pull toward the first-presented option moves the two orders' answers in opposite directions,
    so their mean is free of it (Krosnick & Alwin, 1987, on response-order effects).
    """
    if not isinstance(long, pd.DataFrame):
        raise DataError("long: expected a DataFrame (one row per answer)")
    for c in (order, value, item, *(respondent or ())):
        if c not in long.columns:
            raise DataError(f"long: no column {c!r}")
    levels = set(long[order].dropna().unique())
    if not {published, reversed_} <= levels:
        raise DataError(f"{order}: needs both {published!r} and {reversed_!r} levels, found {sorted(map(str, levels))}")
    vals = pd.to_numeric(long[value], errors="coerce")
    means = vals.groupby([long[item], long[order]]).mean().unstack(order)
    table = pd.DataFrame({"published": means[published], "reversed": means[reversed_]})
    table["shift"] = table["reversed"] - table["published"]
    table["corrected"] = (table["reversed"] + table["published"]) / 2
    d = table["shift"].dropna()
    if len(d) >= 2:
        half = stats.t.ppf(0.5 + ci / 2, len(d) - 1) * d.std(ddof=1) / math.sqrt(len(d))
        interval = (float(d.mean() - half), float(d.mean() + half))
    else:
        interval = (np.nan, np.nan)
    corrected_answers = pd.DataFrame()
    if respondent:
        keys = [*respondent, item]
        cells = long[keys].assign(_value=vals, _order=long[order])
        cells = cells[cells["_order"].isin([published, reversed_])]
        per = cells.groupby([*keys, "_order"], dropna=False)["_value"].mean().unstack("_order")
        both = per.reindex(columns=[published, reversed_])
        corrected_answers = both.mean(axis=1, skipna=False).unstack(item)
    return PositionBiasResult(table=table, shift=float(d.mean()) if len(d) else np.nan, ci=interval,
                              corrected_answers=corrected_answers)
