"""Minimum-residual factoring, varimax, oblimin and the Schmid-Leiman transformation (private).

These reproduce, step by step, what ``psych::omega`` (psych 2.2.9) does:

1. ``psych::fa(R, nfactors, fm = "minres", rotate = "varimax")``: unweighted
   least squares (minres) uniquenesses found with L-BFGS-B in ``[0.005, 1]``
   from ``1 - SMC``, loadings from the eigen decomposition of the reduced
   matrix, columns reflected to positive sums, then Kaiser-normalised varimax
   (``stats::varimax``);
2. ``GPArotation::oblimin`` (direct quartimin, ``gam = 0``, not normalised),
   the gradient-projection algorithm of Jennrich (2002) started at the identity;
3. ``psych::schmid``: a one-factor minres fit to the factor correlations gives
   the second-order loadings (for two factors both are ``sqrt(|phi_12|)``);
   general loadings are ``F @ g``, group loadings ``sign(F) * sqrt(F^2 (1 - g^2))``.

References: Harman & Jones (1966) for minres; Kaiser (1958) for varimax;
Jennrich (2002), *Psychometrika* 67, 7-19, for the oblique GPA algorithm;
Schmid & Leiman (1957), *Psychometrika* 22, 53-61.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

__all__ = ["SchmidLeiman", "minres", "oblimin", "schmid_leiman", "smc", "varimax"]

_LOWER = 0.005  # psych's lower bound on uniquenesses


def smc(r: np.ndarray) -> np.ndarray:
    """Squared multiple correlations ``1 - 1/diag(R^-1)`` (pseudo-inverse, clipped to [0, 1]) as ``psych::smc``."""
    inv = np.linalg.pinv(r)
    out = 1.0 - 1.0 / np.diag(inv)
    return np.clip(out, 0.0, 1.0)


def _top_loadings(s: np.ndarray, psi: np.ndarray, nf: int) -> np.ndarray:
    reduced = s.copy()
    np.fill_diagonal(reduced, np.diag(s) - psi)
    vals, vecs = np.linalg.eigh(reduced)
    order = np.argsort(vals)[::-1][:nf]
    return vecs[:, order] * np.sqrt(np.maximum(vals[order], 0.0))


def minres(r: np.ndarray, n_factors: int) -> np.ndarray:
    """Unrotated minres loadings of correlation matrix ``r`` (``psych::fa(..., fm = "minres")``).

    The objective is psych's: the sum of squared off-diagonal residuals of the
    principal-axis loadings of ``R`` with ``1 - psi`` on the diagonal.  The
    gradient handed to L-BFGS-B is psych's ``FAgr.minres`` (the diagonal
    residual), so that Heywood cases stop at the same bound as psych does.
    """
    p = r.shape[0]
    tri = np.tril_indices(p, -1)

    def objective(psi: np.ndarray) -> float:
        s = r.copy()
        np.fill_diagonal(s, 1.0 - psi)
        vals, vecs = np.linalg.eigh(s)
        vals = np.where(vals < np.finfo(float).eps, 100 * np.finfo(float).eps, vals)
        order = np.argsort(vals)[::-1][:n_factors]
        load = vecs[:, order] * np.sqrt(vals[order])
        resid = (s - load @ load.T)[tri]
        return float(resid @ resid)

    def gradient(psi: np.ndarray) -> np.ndarray:
        load = _top_loadings(r, psi, n_factors)
        return np.diag(load @ load.T) + psi - np.diag(r)

    s_smc = smc(r)
    upper = max(float(s_smc.max()), 1.0)
    start = np.diag(r) - s_smc
    start = np.clip(start, _LOWER, upper)
    res = minimize(
        objective,
        start,
        jac=gradient,
        method="L-BFGS-B",
        bounds=[(_LOWER, upper)] * p,
        options={"ftol": 1e-15, "gtol": 1e-10, "maxiter": 10000},
    )
    load = _top_loadings(r, res.x, n_factors)
    signs = np.sign(load.sum(axis=0))
    signs[signs == 0] = 1.0
    return load * signs


def varimax(loadings: np.ndarray, *, normalize: bool = True, tol: float = 1e-12, max_iter: int = 5000) -> np.ndarray:
    """Kaiser-normalised varimax, the algorithm of ``stats::varimax`` run to a tighter tolerance."""
    x = loadings.copy()
    p, nc = x.shape
    if nc < 2:
        return x
    sc = np.sqrt((x**2).sum(axis=1)) if normalize else np.ones(p)
    x = x / sc[:, None]
    rot = np.eye(nc)
    d = 0.0
    for _ in range(max_iter):
        z = x @ rot
        b = x.T @ (z**3 - z @ np.diag((z**2).sum(axis=0)) / p)
        u, s, vt = np.linalg.svd(b)
        rot = u @ vt
        d_past, d = d, float(s.sum())
        if d < d_past * (1 + tol):
            break
    return (x @ rot) * sc[:, None]


def _quartimin(lam: np.ndarray) -> tuple[float, np.ndarray]:
    nc = lam.shape[1]
    x = (lam**2) @ (1.0 - np.eye(nc))
    return float((lam**2 * x).sum() / 4.0), lam * x


def oblimin(a: np.ndarray, *, eps: float = 1e-8, max_iter: int = 10000) -> tuple[np.ndarray, np.ndarray]:
    """Direct quartimin (oblimin, gamma = 0) by gradient projection, as ``GPArotation::GPFoblq``.

    Returns the pattern loadings and the factor correlation matrix.  The
    algorithm is Jennrich's (2002) with GPArotation's step-size rule; the
    default tolerance is tighter than GPArotation's ``1e-5``.
    """
    nc = a.shape[1]
    t = np.eye(nc)
    al = 1.0
    lam = a @ np.linalg.inv(t).T
    f, gq = _quartimin(lam)
    g = -(lam.T @ gq @ np.linalg.inv(t)).T
    for _ in range(max_iter + 1):
        gp = g - t @ np.diag((t * g).sum(axis=0))
        s = float(np.sqrt((gp**2).sum()))
        if s < eps:
            break
        al *= 2.0
        for _ in range(11):
            x = t - al * gp
            tt = x / np.sqrt((x**2).sum(axis=0))
            lam = a @ np.linalg.inv(tt).T
            ft, gqt = _quartimin(lam)
            if f - ft > 0.5 * s**2 * al:
                break
            al /= 2.0
        t = tt
        f = ft
        g = -(lam.T @ gqt @ np.linalg.inv(tt)).T
    return lam, t.T @ t


@dataclass(frozen=True)
class SchmidLeiman:
    general: np.ndarray  # loadings on the general factor (p,)
    group: np.ndarray  # residualised group-factor loadings (p, nf)
    h2: np.ndarray  # communalities of the oblique solution
    u2: np.ndarray  # uniquenesses 1 - h2
    pattern: np.ndarray  # oblimin pattern loadings (p, nf)
    phi: np.ndarray  # factor correlations (nf, nf)
    second_order: np.ndarray  # loadings of the group factors on g (nf,)


def schmid_leiman(r: np.ndarray, n_factors: int) -> SchmidLeiman:
    """Schmid-Leiman solution of correlation matrix ``r`` as ``psych::schmid`` (minres, oblimin)."""
    orth = varimax(minres(r, n_factors)) if n_factors > 1 else minres(r, 1)
    # psych's fa() reflects rotated factors to positive column sums before schmid() rotates them.
    signs = np.sign(orth.sum(axis=0))
    signs[signs == 0] = 1.0
    orth = orth * signs
    if n_factors == 1:
        pattern, phi, gload = orth, np.ones((1, 1)), np.ones(1)
    else:
        pattern, phi = oblimin(orth)
        if n_factors > 2:
            gload = minres(phi, 1)[:, 0]
        else:
            # psych's option = "equal": two group factors cannot identify g, split phi_12 evenly.
            root = np.sqrt(abs(phi[0, 1]))
            gload = np.array([root, np.sign(phi[0, 1]) * root])
    general = pattern @ gload
    h2 = (orth**2).sum(axis=1)
    u2 = np.diag(r) - h2
    uniq2 = pattern**2 * (1.0 - gload**2)[None, :]
    group = np.sign(pattern) * np.sqrt(np.maximum(uniq2, 0.0))
    return SchmidLeiman(general=general, group=group, h2=h2, u2=u2, pattern=pattern, phi=phi, second_order=gload)
