"""lavaan-syntax parsing and maximum-likelihood CFA (private engine behind ``factor.cfa``).

The model is the LISREL measurement model per group *g*

    Sigma_g = Lambda_g Psi_g Lambda_g' + Theta_g,     mu_g = nu_g + Lambda_g alpha_g,

fitted by minimising ``sum_g (N_g / N) F_ML,g`` (lavaan's objective with
``likelihood = "normal"``: biased covariances, divisor N_g) with
``scipy.optimize.minimize(method="trust-ncg")`` using the analytic gradient
and the expected information as Hessian (Fisher scoring with a trust region).
Equality constraints (shared labels, ``group.equal``) are imposed by mapping
the constrained entries onto one free parameter, so ``npar`` and ``df`` count
as lavaan's do.  Definitions follow lavaan 0.6-14 (``lav_fit_*`` functions).
"""

from __future__ import annotations

import dataclasses
import math
import re
import warnings
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, stats

from psychoml._base import numeric_frame
from psychoml.errors import DataError, ValidationError

__all__ = ["GROUP_EQUAL", "FittedModel", "Statement", "fit_model", "parse_model"]

GROUP_EQUAL = ("loadings", "intercepts", "means", "residuals", "residual.covariances", "lv.variances", "lv.covariances")

_IDENT = re.compile(r"^[A-Za-z_.][A-Za-z0-9_.]*$")
_NUMBER = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")
_OPERATOR = re.compile(r"=~|~~|:=|==|<|>|~")


# --------------------------------------------------------------------------- syntax


@dataclasses.dataclass(frozen=True)
class Statement:
    """One parsed term: ``lhs op rhs`` with its modifier (fixed value, ``NA`` = free, or a label)."""

    lhs: str
    op: str
    rhs: str
    fixed: float | None
    free: bool  # explicit NA*
    label: str | None
    line: int


def _parse_term(term: str, line: int) -> tuple[str, float | None, bool, str | None]:
    parts = [t.strip() for t in term.split("*")]
    if any(not t for t in parts):
        raise ValidationError(f"incomplete term {term.strip()!r}", line=line)
    name, mods = parts[-1], parts[:-1]
    fixed: float | None = None
    free = False
    label: str | None = None
    for mod in mods:
        if _NUMBER.match(mod):
            fixed = float(mod)
        elif mod == "NA":
            free = True
        elif _IDENT.match(mod):
            label = mod
        else:
            raise ValidationError(
                f"unsupported modifier {mod!r} in {term.strip()!r} (use a number, NA or a label)", line=line
            )
    if fixed is not None and free:
        raise ValidationError(f"term {term.strip()!r} is both fixed and free (NA)", line=line)
    return name, fixed, free, label


def parse_model(text: str) -> list[Statement]:
    """Parse lavaan model syntax into statements.

    Supported: ``f =~ x1 + x2`` (loadings), ``a ~~ b`` (variances and
    covariances), ``x ~ 1`` (intercepts / latent means); modifiers ``1*x``
    (fixed), ``NA*x`` (free), ``label*x`` (labels; equal labels are equality
    constraints).  Comments start with ``#`` or ``!``; ``;`` separates
    statements.  Raises :class:`ValidationError` with the line number.
    """
    if not isinstance(text, str):
        raise ValidationError(f"model: expected lavaan syntax as a string, got {type(text).__name__}")
    out: list[Statement] = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        code = re.split(r"[#!]", raw, maxsplit=1)[0]
        for stmt in code.split(";"):
            stmt = stmt.strip()
            if not stmt:
                continue
            match = _OPERATOR.search(stmt)
            if match is None:
                raise ValidationError(f"no operator (=~, ~~ or ~ 1) in {stmt!r}", line=lineno)
            op = match.group(0)
            lhs, rhs = stmt[: match.start()].strip(), stmt[match.end() :].strip()
            if op in (":=", "==", "<", ">"):
                raise ValidationError(f"operator {op!r} is not supported (in {stmt!r})", line=lineno)
            if not _IDENT.match(lhs):
                raise ValidationError(f"left-hand side {lhs!r} must be a single variable or factor name", line=lineno)
            if not rhs:
                raise ValidationError(f"nothing on the right of {op!r} in {stmt!r}", line=lineno)
            if op == "~":
                name, fixed, free, label = _parse_term(rhs, lineno)
                if name != "1":
                    raise ValidationError(
                        f"regressions ('~') are not supported, only measurement models (in {stmt!r})", line=lineno
                    )
                out.append(Statement(lhs, "~1", "", fixed, free, label, lineno))
                continue
            for term in rhs.split("+"):
                if not term.strip():
                    raise ValidationError(f"empty term in {stmt!r}", line=lineno)
                name, fixed, free, label = _parse_term(term, lineno)
                if not _IDENT.match(name):
                    raise ValidationError(f"{name!r} is not a valid variable name (in {stmt!r})", line=lineno)
                if op == "~~" and "+" in rhs:
                    raise ValidationError(f"'~~' takes one variable on the right (in {stmt!r})", line=lineno)
                out.append(Statement(lhs, op, name, fixed, free, label, lineno))
    return out


# --------------------------------------------------------------------------- parameter table


@dataclasses.dataclass
class _Par:
    lhs: str
    op: str
    rhs: str
    group: int
    mat: str  # lambda, theta, psi, nu, alpha
    row: int
    col: int
    fixed: bool
    value: float  # fixed value, or start value
    label: str | None
    klass: str | None  # group.equal class
    line: int | None
    index: int = -1  # free parameter index


@dataclasses.dataclass
class _Spec:
    observed: list[str]
    latent: list[str]
    indicators: dict[str, list[str]]
    pars: list[_Par]
    meanstructure: bool
    n_groups: int
    factor_lines: dict[str, int]


def _build_spec(
    statements: list[Statement],
    columns: list[str],
    *,
    n_groups: int,
    group_equal: tuple[str, ...],
    std_lv: bool,
    orthogonal: bool,
    meanstructure: bool | None,
) -> _Spec:
    loads = [s for s in statements if s.op == "=~"]
    if not loads:
        raise ValidationError("model: no factor defined (need at least one 'factor =~ item + ...' statement)")
    latent: list[str] = []
    factor_lines: dict[str, int] = {}
    for s in loads:
        if s.lhs not in latent:
            latent.append(s.lhs)
            factor_lines[s.lhs] = s.line
    observed: list[str] = []
    indicators: dict[str, list[str]] = {f: [] for f in latent}
    for s in loads:
        if s.rhs in latent:
            raise ValidationError(
                f"higher-order factor: {s.rhs!r} is a factor and cannot load on {s.lhs!r} (not supported)", line=s.line
            )
        if s.rhs in indicators[s.lhs]:
            raise ValidationError(f"item {s.rhs!r} listed twice for factor {s.lhs!r}", line=s.line)
        indicators[s.lhs].append(s.rhs)
        if s.rhs not in observed:
            observed.append(s.rhs)
    for s in statements:
        names = [s.lhs] + ([s.rhs] if s.op == "~~" else [])
        for name in names:
            if name not in latent and name not in observed:
                observed.append(name)
    colset = set(columns)
    for s in statements:
        names = [s.lhs, s.rhs] if s.op in ("=~", "~~") else [s.lhs]
        for name in names:
            if name not in latent and name not in colset:
                raise ValidationError(f"unknown variable {name!r}: not a column of data and not a factor", line=s.line)
    bad_ge = [g for g in group_equal if g not in GROUP_EQUAL]
    if bad_ge:
        raise ValidationError(f"group_equal: unknown class(es) {bad_ge}; expected some of {list(GROUP_EQUAL)}")
    means_stmts = [s for s in statements if s.op == "~1"]
    if meanstructure is None:
        meanstructure = n_groups > 1 or bool(means_stmts)
    elif not meanstructure and means_stmts:
        raise ValidationError("'~ 1' statements need meanstructure=True", line=means_stmts[0].line)
    oi = {v: i for i, v in enumerate(observed)}
    li = {f: i for i, f in enumerate(latent)}

    pars: list[_Par] = []
    for g in range(n_groups):
        gpars: dict[tuple[str, str, str], _Par] = {}

        def add(par: _Par, table: dict[tuple[str, str, str], _Par] = gpars) -> None:
            table[(par.lhs, par.op, par.rhs)] = par  # a later (user) row replaces a default one

        # loadings
        for f in latent:
            fstmts = [s for s in loads if s.lhs == f]
            for k, s in enumerate(fstmts):
                if s.fixed is not None:
                    fixed, value = True, s.fixed
                elif s.free:
                    fixed, value = False, np.nan
                elif k == 0 and not std_lv:
                    fixed, value = True, 1.0  # marker variable (lavaan's auto.fix.first)
                else:
                    fixed, value = False, np.nan
                add(_Par(f, "=~", s.rhs, g, "lambda", oi[s.rhs], li[f], fixed, value, s.label, "loadings", s.line))
        # default variances / covariances
        for v in observed:
            add(_Par(v, "~~", v, g, "theta", oi[v], oi[v], False, np.nan, None, "residuals", None))
        for f in latent:
            add(_Par(f, "~~", f, g, "psi", li[f], li[f], std_lv, 1.0 if std_lv else np.nan, None, "lv.variances", None))
        for a in range(len(latent)):
            for b in range(a + 1, len(latent)):
                fa, fb = latent[a], latent[b]
                add(
                    _Par(
                        fa,
                        "~~",
                        fb,
                        g,
                        "psi",
                        a,
                        b,
                        orthogonal,
                        0.0 if orthogonal else np.nan,
                        None,
                        "lv.covariances",
                        None,
                    )
                )
        # user variances / covariances
        for s in statements:
            if s.op != "~~":
                continue
            lat_l, lat_r = s.lhs in li, s.rhs in li
            if lat_l != lat_r:
                raise ValidationError(
                    f"covariance between factor and item ({s.lhs} ~~ {s.rhs}) is not supported", line=s.line
                )
            for key in ((s.lhs, "~~", s.rhs), (s.rhs, "~~", s.lhs)):
                gpars.pop(key, None)
            if lat_l:
                a, b = li[s.lhs], li[s.rhs]
                mat, klass = "psi", ("lv.variances" if a == b else "lv.covariances")
            else:
                a, b = oi[s.lhs], oi[s.rhs]
                mat, klass = "theta", ("residuals" if a == b else "residual.covariances")
            fixed = s.fixed is not None
            add(_Par(s.lhs, "~~", s.rhs, g, mat, a, b, fixed, s.fixed if fixed else np.nan, s.label, klass, s.line))
        # means
        if meanstructure:
            free_means = g > 0 and "intercepts" in group_equal and "means" not in group_equal
            for v in observed:
                add(_Par(v, "~1", "", g, "nu", oi[v], 0, False, np.nan, None, "intercepts", None))
            for f in latent:
                add(
                    _Par(
                        f,
                        "~1",
                        "",
                        g,
                        "alpha",
                        li[f],
                        0,
                        not free_means,
                        np.nan if free_means else 0.0,
                        None,
                        "means",
                        None,
                    )
                )
            for s in means_stmts:
                is_lat = s.lhs in li
                fixed = s.fixed is not None
                add(
                    _Par(
                        s.lhs,
                        "~1",
                        "",
                        g,
                        "alpha" if is_lat else "nu",
                        (li if is_lat else oi)[s.lhs],
                        0,
                        fixed,
                        s.fixed if fixed else np.nan,
                        s.label,
                        "means" if is_lat else "intercepts",
                        s.line,
                    )
                )
        pars.extend(gpars.values())

    # free parameter indices: shared labels, then group.equal classes
    index: dict[Any, int] = {}
    for par in pars:
        if par.fixed:
            continue
        if par.label is not None:
            key: Any = ("label", par.label)
        elif n_groups > 1 and par.klass in group_equal:
            key = ("equal", par.lhs, par.op, par.rhs)
        else:
            key = ("own", id(par))
        if key not in index:
            index[key] = len(index)
        par.index = index[key]
    return _Spec(observed, latent, indicators, pars, bool(meanstructure), n_groups, factor_lines)


def _check_identification(spec: _Spec, n_moments: int) -> None:
    for g in range(spec.n_groups):
        gp = [p for p in spec.pars if p.group == g]
        for f in spec.latent:
            lam = [p for p in gp if p.op == "=~" and p.lhs == f]
            var = next(p for p in gp if p.op == "~~" and p.lhs == f and p.rhs == f)
            scaled = var.fixed or any(p.fixed and p.value != 0 for p in lam)
            if not scaled:
                raise ValidationError(
                    f"model is not identified: factor {f!r} has no scale; fix one loading (1*item) "
                    f"or its variance ({f} ~~ 1*{f}), or use std_lv=True",
                    line=spec.factor_lines[f],
                )
            if len(spec.indicators[f]) == 1:
                item = spec.indicators[f][0]
                resid = next(p for p in gp if p.op == "~~" and p.lhs == item and p.rhs == item)
                if not resid.fixed and not (var.fixed and all(p.fixed for p in lam)):
                    raise ValidationError(
                        f"model is not identified: factor {f!r} has a single indicator {item!r}; "
                        f"fix its residual variance (e.g. {item} ~~ 0*{item})",
                        line=spec.factor_lines[f],
                    )
    npar = 1 + max((p.index for p in spec.pars), default=-1)
    if npar > n_moments:
        raise ValidationError(
            f"model is not identified: {npar} free parameters but only {n_moments} sample moments "
            f"(df = {n_moments - npar} < 0)"
        )


# --------------------------------------------------------------------------- model evaluation


@dataclasses.dataclass
class _Group:
    name: str
    n: int
    S: np.ndarray
    ybar: np.ndarray
    logdet_S: float
    base: dict[str, np.ndarray]
    free: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]  # mat -> rows, cols, param index


class _Model:
    def __init__(self, spec: _Spec, groups: list[_Group]) -> None:
        self.spec = spec
        self.groups = groups
        self.p = len(spec.observed)
        self.m = len(spec.latent)
        self.npar = 1 + max((p.index for p in spec.pars), default=-1)
        self.n_total = sum(g.n for g in groups)
        self.weights = np.array([g.n / self.n_total for g in groups])

    def matrices(self, theta: np.ndarray, g: int) -> dict[str, np.ndarray]:
        grp = self.groups[g]
        out = {k: v.copy() for k, v in grp.base.items()}
        for mat, (rows, cols, idx) in grp.free.items():
            vals = theta[idx]
            out[mat][rows, cols] = vals
            if mat in ("theta", "psi"):
                out[mat][cols, rows] = vals
        return out

    def implied(self, mats: dict[str, np.ndarray], grp: _Group) -> tuple[np.ndarray, np.ndarray]:
        L, Psi, Th = mats["lambda"], mats["psi"], mats["theta"]
        Sigma = L @ Psi @ L.T + Th
        if self.spec.meanstructure:
            mu = mats["nu"][:, 0] + L @ mats["alpha"][:, 0]
        else:
            mu = grp.ybar
        return Sigma, mu

    def _group_parts(
        self, theta: np.ndarray, g: int
    ) -> tuple[float, np.ndarray, dict[str, np.ndarray], np.ndarray, np.ndarray] | None:
        grp = self.groups[g]
        mats = self.matrices(theta, g)
        Sigma, mu = self.implied(mats, grp)
        try:
            chol = np.linalg.cholesky(Sigma)
        except np.linalg.LinAlgError:
            return None
        inv = np.linalg.inv(Sigma)
        d = grp.ybar - mu
        logdet = 2.0 * float(np.sum(np.log(np.diag(chol))))
        F = logdet + float(np.sum(grp.S * inv)) - grp.logdet_S - self.p + float(d @ inv @ d)
        return F, inv, mats, d, Sigma

    def objective(self, theta: np.ndarray) -> float:
        total = 0.0
        for g, w in enumerate(self.weights):
            parts = self._group_parts(theta, g)
            if parts is None:
                return 1e10
            total += w * parts[0]
        return total

    def gradient(self, theta: np.ndarray) -> np.ndarray:
        grad = np.zeros(self.npar)
        for g, w in enumerate(self.weights):
            parts = self._group_parts(theta, g)
            if parts is None:
                return grad
            _, inv, mats, d, Sigma = parts
            grp = self.groups[g]
            W = inv @ (Sigma - grp.S - np.outer(d, d)) @ inv
            v = inv @ d
            L, Psi = mats["lambda"], mats["psi"]
            gmats = {
                "lambda": 2.0 * W @ L @ Psi,
                "psi": L.T @ W @ L,
                "theta": W,
            }
            if self.spec.meanstructure:
                gmats["lambda"] = gmats["lambda"] - 2.0 * np.outer(v, mats["alpha"][:, 0])
                gmats["nu"] = (-2.0 * v)[:, None]
                gmats["alpha"] = (-2.0 * L.T @ v)[:, None]
            for mat, (rows, cols, idx) in grp.free.items():
                vals = gmats[mat][rows, cols]
                if mat in ("theta", "psi"):
                    vals = np.where(rows == cols, vals, 2.0 * vals)
                np.add.at(grad, idx, w * vals)
        return grad

    def jacobian(self, theta: np.ndarray, g: int) -> tuple[np.ndarray, np.ndarray]:
        """d vec(Sigma_g) / d theta (p^2 x q) and d mu_g / d theta (p x q)."""
        grp = self.groups[g]
        mats = self.matrices(theta, g)
        p, q = self.p, self.npar
        L, Psi = mats["lambda"], mats["psi"]
        LP = L @ Psi
        JS = np.zeros((p, p, q))
        Jm = np.zeros((p, q))
        for mat, (rows, cols, idx) in grp.free.items():
            for r, c, k in zip(rows, cols, idx):
                if mat == "lambda":
                    JS[r, :, k] += LP[:, c]
                    JS[:, r, k] += LP[:, c]
                    if self.spec.meanstructure:
                        Jm[r, k] += mats["alpha"][c, 0]
                elif mat == "psi":
                    if r == c:
                        JS[:, :, k] += np.outer(L[:, r], L[:, r])
                    else:
                        JS[:, :, k] += np.outer(L[:, r], L[:, c]) + np.outer(L[:, c], L[:, r])
                elif mat == "theta":
                    JS[r, c, k] += 1.0
                    if r != c:
                        JS[c, r, k] += 1.0
                elif mat == "nu":
                    Jm[r, k] += 1.0
                elif mat == "alpha":
                    Jm[:, k] += L[:, r]
        return JS.reshape(p * p, q), Jm

    def information(self, theta: np.ndarray) -> np.ndarray:
        """Expected second derivative of the objective: sum_g w_g [J' (S^-1 x S^-1) J + 2 Jm' S^-1 Jm].

        lavaan's expected information per observation is half of this.
        """
        H = np.zeros((self.npar, self.npar))
        for g, w in enumerate(self.weights):
            grp = self.groups[g]
            mats = self.matrices(theta, g)
            Sigma, _ = self.implied(mats, grp)
            try:
                inv = np.linalg.inv(Sigma)
            except np.linalg.LinAlgError:
                inv = np.linalg.pinv(Sigma)
            JS, Jm = self.jacobian(theta, g)
            p, q = self.p, self.npar
            # (inv kron inv) vec(X) = vec(inv X inv), one p x p slice per parameter
            Jq = JS.reshape(p, p, q).transpose(2, 0, 1)
            KJ = inv @ Jq @ inv
            H += w * (Jq.reshape(q, -1) @ KJ.reshape(q, -1).T)
            if self.spec.meanstructure:
                H += w * 2.0 * (Jm.T @ inv @ Jm)
        return (H + H.T) / 2.0


# --------------------------------------------------------------------------- data


def _prepare_groups(spec_obs: list[str], data: pd.DataFrame, group: str | None) -> tuple[list[str], list[pd.DataFrame]]:
    """Split ``data`` into one numeric frame per group (groups in order of appearance, as lavaan)."""
    cols = list(spec_obs)
    if group is None:
        labels = ["1"]
        frames = [numeric_frame(data[cols], name="data", drop_all_missing_rows=True)]
    else:
        if group not in data.columns:
            raise DataError(f"group: {group!r} is not a column of data")
        if group in cols:
            raise DataError(f"group: {group!r} is also an observed variable of the model")
        sub = data.loc[data[group].notna(), cols + [group]]
        numeric_frame(sub[cols], name="data", drop_all_missing_rows=True)
        labels = [str(x) for x in pd.unique(sub[group])]
        if len(labels) < 2:
            raise DataError(f"group: column {group!r} has {len(labels)} distinct value(s); need at least 2")
        key = sub[group].astype(str)
        frames = [sub.loc[key == lab, cols].astype(float) for lab in labels]
    out = []
    for lab, fr in zip(labels, frames):
        fr = fr.dropna()  # listwise deletion, lavaan's default for complete-data ML
        where = "" if group is None else f" in group {lab!r}"
        if fr.shape[0] <= len(cols):
            raise DataError(
                f"data: fewer complete observations ({fr.shape[0]}){where} than observed variables "
                f"({len(cols)}); the sample covariance matrix would be singular"
            )
        const = [c for c in cols if fr[c].nunique() <= 1]
        if const:
            raise DataError(f"data: column(s) {', '.join(repr(c) for c in const)} are constant (zero variance){where}")
        out.append(fr)
    return labels, out


def _sample_moments(fr: pd.DataFrame, name: str) -> tuple[np.ndarray, np.ndarray, float]:
    x = fr.to_numpy(dtype=float)
    n = x.shape[0]
    ybar = x.mean(axis=0)
    S = (x - ybar).T @ (x - ybar) / n
    values, vectors = np.linalg.eigh(S)
    if values[0] <= 1e-10 * max(values[-1], 1e-300):
        w = np.abs(vectors[:, 0])
        involved = [fr.columns[i] for i in np.argsort(-w) if w[i] > 0.1][:6]
        where = "" if name == "1" else f" of group {name!r}"
        raise DataError(
            f"data: the sample covariance matrix{where} is singular; linearly dependent items: "
            f"{', '.join(repr(v) for v in involved)}"
        )
    return S, ybar, float(np.sum(np.log(values)))


# --------------------------------------------------------------------------- fitting


@dataclasses.dataclass
class FittedModel:
    """Everything ``factor.cfa`` reports; built by :func:`fit_model`."""

    fit_measures: Mapping[str, float]
    estimates: pd.DataFrame
    groups: tuple[str, ...]
    n_total: int
    converged: bool
    observed: list[str]
    latent: list[str]
    _lambda: list[np.ndarray]
    _lambda_std: list[np.ndarray]

    def loadings(self, *, standardized: bool) -> pd.DataFrame:
        mats = self._lambda_std if standardized else self._lambda
        if len(self.groups) == 1:
            return pd.DataFrame(mats[0], index=self.observed, columns=self.latent)
        index = pd.MultiIndex.from_tuples([(g, v) for g in self.groups for v in self.observed], names=["group", "item"])
        return pd.DataFrame(np.vstack(mats), index=index, columns=self.latent)


def _start_values(spec: _Spec, model: _Model) -> np.ndarray:
    theta = np.full(model.npar, np.nan)
    for g, grp in enumerate(model.groups):
        S = grp.S
        oi = {v: i for i, v in enumerate(spec.observed)}
        gp = [p for p in spec.pars if p.group == g]
        lam_start: dict[tuple[str, str], float] = {}
        psi_start: dict[str, float] = {}
        for f in spec.latent:
            items = spec.indicators[f]
            lam = {p.rhs: p for p in gp if p.op == "=~" and p.lhs == f}
            idx = [oi[v] for v in items]
            if len(idx) >= 2:
                vals, vecs = np.linalg.eigh(S[np.ix_(idx, idx)])
                load = vecs[:, -1] * math.sqrt(max(vals[-1], 1e-8))
            else:
                load = np.array([math.sqrt(S[idx[0], idx[0]] / 2)])
            if load[0] < 0:
                load = -load  # orient factors by their first indicator, as lavaan's start values do
            var = next(p for p in gp if p.op == "~~" and p.lhs == f and p.rhs == f)
            anchor = next((k for k, v in enumerate(items) if lam[v].fixed and lam[v].value != 0), None)
            if var.fixed:
                scale = math.sqrt(var.value) if var.value > 0 else 1.0
                load = load / scale
                if anchor is not None and load[anchor] * lam[items[anchor]].value < 0:
                    load = -load
                psi_start[f] = var.value
            elif anchor is not None and abs(load[anchor]) > 1e-6:
                c = lam[items[anchor]].value
                psi_start[f] = (load[anchor] / c) ** 2
                load = load * c / load[anchor]
            else:
                psi_start[f] = 0.05
                load = np.ones_like(load)
            for v, value in zip(items, load):
                lam_start[(f, v)] = float(value)
        for p in gp:
            if p.fixed or p.index < 0 or not np.isnan(theta[p.index]):
                continue
            if p.op == "=~":
                value = lam_start[(p.lhs, p.rhs)]
            elif p.op == "~~" and p.mat == "psi":
                value = psi_start[p.lhs] if p.lhs == p.rhs else 0.0
            elif p.op == "~~":
                if p.lhs == p.rhs:
                    i = oi[p.lhs]
                    common = sum(lam_start.get((f, p.lhs), 0.0) ** 2 * psi_start[f] for f in spec.latent)
                    value = float(np.clip(S[i, i] - common, 0.1 * S[i, i], 0.9 * S[i, i]))
                else:
                    value = 0.0
            elif p.mat == "nu":
                value = float(grp.ybar[oi[p.lhs]])
            else:
                value = 0.0
            theta[p.index] = value
    return np.nan_to_num(theta)


def _rmsea_ci(X2: float, df: float, N: int, G: int, level: float = 0.90) -> tuple[float, float]:
    """lavaan's lav_fit_rmsea_ci: non-centrality bounds by root finding on pchisq(X2, df, ncp)."""
    if not (np.isfinite(X2) and df >= 1):
        return (0.0, 0.0) if df < 1 else (np.nan, np.nan)
    upper_p = 1 - (1 - level) / 2
    lower_p = (1 - level) / 2

    def cdf(lam: float) -> float:
        return float(stats.chi2.cdf(X2, df)) if lam <= 0 else float(stats.ncx2.cdf(X2, df, lam))

    if cdf(0.0) - upper_p < 0:
        lo = 0.0
    else:
        lam_l = optimize.brentq(lambda x: cdf(x) - upper_p, 0.0, X2, xtol=1e-12)
        lo = math.sqrt(lam_l / (N * df)) * math.sqrt(G)
    n_rmsea = max(N, X2 * 4)
    if cdf(n_rmsea) - lower_p > 0 or cdf(0.0) - lower_p < 0:
        hi = 0.0
    else:
        lam_u = optimize.brentq(lambda x: cdf(x) - lower_p, 0.0, n_rmsea, xtol=1e-12)
        hi = math.sqrt(lam_u / (N * df)) * math.sqrt(G)
    return lo, hi


def fit_model(
    model: str,
    data: Any,
    *,
    group: str | None = None,
    group_equal: tuple[str, ...] = (),
    std_lv: bool = False,
    orthogonal: bool = False,
    meanstructure: bool | None = None,
) -> FittedModel:
    statements = parse_model(model)
    if not isinstance(data, pd.DataFrame):
        try:
            data = pd.DataFrame(data)
        except Exception as exc:  # pragma: no cover - defensive
            raise DataError(f"data: cannot be read as a table ({exc})") from exc
    data = data.copy()
    data.columns = [str(c) for c in data.columns]
    if group is not None and (not isinstance(group, str) or group not in data.columns):
        raise DataError(f"group: {group!r} is not a column of data")
    n_groups = 1 if group is None else int(data[group].dropna().nunique())
    if group is not None and n_groups < 2:
        raise DataError(f"group: column {group!r} has {n_groups} distinct value(s); need at least 2")
    if isinstance(group_equal, str):
        group_equal = (group_equal,)
    spec = _build_spec(
        statements,
        list(data.columns),
        n_groups=n_groups,
        group_equal=tuple(group_equal),
        std_lv=std_lv,
        orthogonal=orthogonal,
        meanstructure=meanstructure,
    )
    p, m = len(spec.observed), len(spec.latent)
    n_moments = n_groups * (p * (p + 1) // 2 + (p if spec.meanstructure else 0))
    _check_identification(spec, n_moments)
    labels, frames = _prepare_groups(spec.observed, data, group)

    groups: list[_Group] = []
    for g, (lab, fr) in enumerate(zip(labels, frames)):
        S, ybar, logdet = _sample_moments(fr, lab)
        base = {
            "lambda": np.zeros((p, m)),
            "theta": np.zeros((p, p)),
            "psi": np.zeros((m, m)),
            "nu": np.zeros((p, 1)),
            "alpha": np.zeros((m, 1)),
        }
        free: dict[str, list[list[int]]] = {}
        for par in spec.pars:
            if par.group != g:
                continue
            if par.fixed:
                base[par.mat][par.row, par.col] = par.value
                if par.mat in ("theta", "psi"):
                    base[par.mat][par.col, par.row] = par.value
            else:
                entry = free.setdefault(par.mat, [[], [], []])
                entry[0].append(par.row)
                entry[1].append(par.col)
                entry[2].append(par.index)
        free_arr = {k: (np.array(v[0]), np.array(v[1]), np.array(v[2])) for k, v in free.items()}
        groups.append(_Group(lab, fr.shape[0], S, ybar, logdet, base, free_arr))
    mdl = _Model(spec, groups)
    x0 = _start_values(spec, mdl)

    res = optimize.minimize(
        mdl.objective,
        x0,
        jac=mdl.gradient,
        hess=mdl.information,
        method="trust-ncg",
        options={"gtol": 1e-9, "maxiter": 500},
    )
    theta = res.x
    gnorm = float(np.max(np.abs(mdl.gradient(theta))))
    if not (gnorm < 1e-6):
        res2 = optimize.minimize(
            mdl.objective, theta, jac=mdl.gradient, method="BFGS", options={"gtol": 1e-9, "maxiter": 5000}
        )
        if mdl.objective(res2.x) <= mdl.objective(theta):
            theta = res2.x
        gnorm = float(np.max(np.abs(mdl.gradient(theta))))
    converged = gnorm < 1e-5

    H = mdl.information(theta)
    evals, evecs = np.linalg.eigh(H)
    if evals[0] <= 1e-9 * max(evals[-1], 1.0):
        names = []
        for k in np.argsort(-np.abs(evecs[:, 0])):
            if abs(evecs[k, 0]) < 0.1 or len(names) >= 6:
                break
            par = next(pp for pp in spec.pars if pp.index == k)
            names.append(f"{par.lhs} {par.op} {par.rhs}".strip())
        raise ValidationError(
            "model is not identified: the information matrix is singular (e.g. a two-indicator factor "
            "uncorrelated with every other factor); parameters involved: " + "; ".join(names)
        )
    if not converged:
        warnings.warn(f"cfa: the ML fit did not converge (max |gradient| = {gnorm:.2e})", RuntimeWarning, stacklevel=3)
    vcov = 2.0 * np.linalg.inv(H) / mdl.n_total

    return _summarise(spec, mdl, theta, vcov, labels, converged)


def _summarise(
    spec: _Spec, mdl: _Model, theta: np.ndarray, vcov: np.ndarray, labels: list[str], converged: bool
) -> FittedModel:
    p = mdl.p
    G = len(mdl.groups)
    N = mdl.n_total
    chisq = 0.0
    loglik = 0.0
    base_chisq = 0.0
    srmr = 0.0
    lam, lam_std = [], []
    implied = []
    for g, grp in enumerate(mdl.groups):
        mats = mdl.matrices(theta, g)
        Sigma, mu = mdl.implied(mats, grp)
        implied.append((mats, Sigma))
        _, logdet = np.linalg.slogdet(Sigma)
        inv = np.linalg.inv(Sigma)
        d = grp.ybar - mu
        F = logdet + float(np.sum(grp.S * inv)) - grp.logdet_S - p + float(d @ inv @ d)
        chisq += grp.n * F
        loglik += -grp.n / 2 * (p * math.log(2 * math.pi) + logdet + float(np.sum(grp.S * inv)) + float(d @ inv @ d))
        base_chisq += grp.n * (float(np.sum(np.log(np.diag(grp.S)))) - grp.logdet_S)
        sd = np.sqrt(np.diag(grp.S))
        resid = (grp.S - Sigma) / np.outer(sd, sd)
        parts = [resid[np.tril_indices(p)]]
        if spec.meanstructure:
            parts.append(d / sd)
        allr = np.concatenate(parts)
        srmr += grp.n / N * math.sqrt(float(np.mean(allr**2)))
        psi_sd = np.sqrt(np.clip(np.diag(mats["psi"]), 0, None))
        lam.append(mats["lambda"].copy())
        lam_std.append(mats["lambda"] * psi_sd[None, :] / np.sqrt(np.diag(Sigma))[:, None])
    npar = mdl.npar
    n_moments = G * (p * (p + 1) // 2 + (p if spec.meanstructure else 0))
    df = n_moments - npar
    base_df = G * p * (p - 1) // 2
    pvalue = float(stats.chi2.sf(chisq, df)) if df > 0 else np.nan
    t1 = max(chisq - df, 0.0)
    t2 = max(chisq - df, base_chisq - base_df, 0.0)
    cfi = 1.0 if (math.isclose(t1, 0.0, abs_tol=1.5e-8) and math.isclose(t2, 0.0, abs_tol=1.5e-8)) else 1 - t1 / t2
    tt2 = (base_chisq - base_df) * df
    tli = 1 - (chisq - df) * base_df / tt2 if (df > 0 and abs(tt2) > 0) else 1.0
    rmsea = math.sqrt(max(chisq / N / df - 1 / N, 0.0)) * math.sqrt(G) if df > 0 else 0.0
    lo, hi = _rmsea_ci(chisq, df, N, G)
    fit = {
        "npar": float(npar),
        "chisq": chisq,
        "df": float(df),
        "pvalue": pvalue,
        "baseline_chisq": base_chisq,
        "baseline_df": float(base_df),
        "cfi": cfi,
        "tli": tli,
        "rmsea": rmsea,
        "rmsea_ci_lower": lo,
        "rmsea_ci_upper": hi,
        "srmr": srmr,
        "aic": -2 * loglik + 2 * npar,
        "bic": -2 * loglik + npar * math.log(N),
        "loglik": loglik,
        "n_obs": float(N),
    }

    se_all = np.sqrt(np.clip(np.diag(vcov), 0, None))
    rows = []
    oi = {v: i for i, v in enumerate(spec.observed)}
    li = {f: i for i, f in enumerate(spec.latent)}
    for par in spec.pars:
        mats, Sigma = implied[par.group]
        est = float(mats[par.mat][par.row, par.col])
        se = float(se_all[par.index]) if par.index >= 0 else 0.0
        z = est / se if par.index >= 0 and se > 0 else np.nan
        psi = np.diag(mats["psi"])
        with np.errstate(invalid="ignore", divide="ignore"):
            if par.op == "=~":
                std_lv = est * math.sqrt(psi[li[par.lhs]]) if psi[li[par.lhs]] >= 0 else np.nan
                std_all = std_lv / math.sqrt(Sigma[oi[par.rhs], oi[par.rhs]])
            elif par.mat == "psi":
                denom = math.sqrt(psi[par.row] * psi[par.col]) if psi[par.row] * psi[par.col] > 0 else np.nan
                std_lv = std_all = est / denom
            elif par.mat == "theta" and par.row == par.col:
                std_lv = est
                std_all = est / Sigma[par.row, par.row]
            elif par.mat == "theta":
                # lavaan (cov.std = TRUE): residual covariances become residual correlations
                std_lv = est
                th = mats["theta"]
                std_all = est / math.sqrt(abs(th[par.row, par.row]) * abs(th[par.col, par.col]))
            elif par.mat == "nu":
                std_lv = est
                std_all = est / math.sqrt(Sigma[par.row, par.row])
            else:
                std_lv = std_all = est / math.sqrt(psi[par.row]) if psi[par.row] > 0 else np.nan
        rows.append(
            {
                "lhs": par.lhs,
                "op": par.op,
                "rhs": par.rhs,
                "group": labels[par.group],
                "label": par.label or "",
                "free": par.index >= 0,
                "est": est,
                "se": se,
                "z": z,
                "pvalue": float(2 * stats.norm.sf(abs(z))) if np.isfinite(z) else np.nan,
                "std_lv": std_lv,
                "std_all": std_all,
            }
        )
    order = {"=~": 0, "~~": 1, "~1": 2}
    est_df = pd.DataFrame(rows)
    est_df["_g"] = [labels.index(g) for g in est_df["group"]]
    est_df["_o"] = est_df["op"].map(order)
    est_df = est_df.sort_values(["_g", "_o"], kind="stable").drop(columns=["_g", "_o"]).reset_index(drop=True)
    return FittedModel(
        fit_measures=MappingProxyType({k: float(v) for k, v in fit.items()}),
        estimates=est_df,
        groups=tuple(labels),
        n_total=N,
        converged=converged,
        observed=list(spec.observed),
        latent=list(spec.latent),
        _lambda=lam,
        _lambda_std=lam_std,
    )
