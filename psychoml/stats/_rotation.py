"""Factor rotations with the exact semantics psych::fa uses (private).

psych::fa rotates an unrotated loading matrix ``A`` (items x factors) with

* ``"varimax"``: ``stats::varimax(A)`` (Kaiser normalisation, ``eps = 1e-5``);
* ``"promax"``: ``psych::kaiser(A, rotate = "Promax")``: rows scaled to unit
  length, ``psych::Promax`` (``stats::varimax`` then the power-4 target fitted
  by least squares), rows scaled back;
* ``"oblimin"``: ``GPArotation::oblimin(A)`` = ``GPFoblq`` with the quartimin
  criterion (``gam = 0``), identity start, no normalisation, ``eps = 1e-5``;
* ``"geomin"``: ``GPArotation::geominQ(A)`` = ``GPFoblq`` with the geomin
  criterion, ``delta = 0.01``.

The gradient-projection algorithm is Bernaards & Jennrich (2005), "Gradient
projection algorithms and software for arbitrary rotation criteria in factor
analysis", *Educational and Psychological Measurement* 65, 676-696; the code
below follows GPArotation 2022.10-2 step for step (same start, step-size
rule and stopping rule) because rotation criteria such as geomin have local
optima and a different path can end at a different one.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["ROTATIONS", "rotate_loadings"]

ROTATIONS = ("oblimin", "varimax", "promax", "geomin", "quartimin", "none")

Criterion = Callable[[np.ndarray], tuple[float, np.ndarray]]


def _vgq_oblimin(L: np.ndarray, gam: float = 0.0) -> tuple[float, np.ndarray]:
    """GPArotation:::vgQ.oblimin: f = sum(L^2 * X)/4, X = L^2 (1 - I) (quartimin for gam = 0)."""
    k = L.shape[1]
    X = (L**2) @ (1.0 - np.eye(k))
    if gam != 0:
        p = L.shape[0]
        X = (np.eye(p) - gam / p) @ X
    return float(np.sum(L**2 * X) / 4.0), L * X


def _vgq_geomin(L: np.ndarray, delta: float = 0.01) -> tuple[float, np.ndarray]:
    """GPArotation:::vgQ.geomin: f = sum_i prod_j (l_ij^2 + delta)^(1/k)."""
    k = L.shape[1]
    L2 = L**2 + delta
    pro = np.exp(np.log(L2).sum(axis=1) / k)
    return float(pro.sum()), (2.0 / k) * (L / L2) * pro[:, None]


def gpf_oblique(
    A: np.ndarray, criterion: Criterion, *, eps: float = 1e-5, maxit: int = 1000
) -> tuple[np.ndarray, np.ndarray, bool]:
    """Oblique gradient projection (GPArotation::GPFoblq, identity start, no normalisation).

    Returns ``(loadings, Phi, converged)`` with ``loadings = A T^{-T}`` and ``Phi = T'T``.
    """
    k = A.shape[1]
    T = np.eye(k)
    al = 1.0
    L = A @ np.linalg.inv(T).T
    f, Gq = criterion(L)
    G = -(L.T @ Gq @ np.linalg.inv(T)).T
    s = np.inf
    Tt = T
    for _ in range(maxit + 1):
        Gp = G - T @ np.diag(np.sum(T * G, axis=0))
        s = float(np.sqrt(np.sum(Gp**2)))
        if s < eps:
            break
        al = 2.0 * al
        for _ in range(11):
            X = T - al * Gp
            v = 1.0 / np.sqrt(np.sum(X**2, axis=0))
            Tt = X * v
            L = A @ np.linalg.inv(Tt).T
            ft, Gqt = criterion(L)
            if f - ft > 0.5 * s**2 * al:
                break
            al = al / 2.0
        T = Tt
        f = ft
        G = -(L.T @ Gqt @ np.linalg.inv(Tt)).T
    L = A @ np.linalg.inv(T).T
    return L, T.T @ T, bool(s < eps)


def varimax(x: np.ndarray, *, normalize: bool = True, eps: float = 1e-5) -> tuple[np.ndarray, np.ndarray]:
    """stats::varimax (Kaiser 1958 criterion, R's SVD iteration and stopping rule).

    Returns ``(loadings, rotmat)`` with ``loadings = x @ rotmat``.
    """
    nc = x.shape[1]
    if nc < 2:
        return x.copy(), np.eye(nc)
    sc = np.sqrt(np.sum(x**2, axis=1)) if normalize else None
    z0 = x / sc[:, None] if sc is not None else x
    p = z0.shape[0]
    TT = np.eye(nc)
    d = 0.0
    for _ in range(1000):
        z = z0 @ TT
        B = z0.T @ (z**3 - z @ np.diag(np.sum(z**2, axis=0)) / p)
        u, sv, vt = np.linalg.svd(B)
        TT = u @ vt
        dpast = d
        d = float(np.sum(sv))
        if d < dpast * (1 + eps):
            break
    z = z0 @ TT
    if sc is not None:
        z = z * sc[:, None]
    return z, TT


def promax_psych(x: np.ndarray, *, m: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """psych::Promax: varimax, then the target ``x |x|^(m-1)`` fitted by least squares.

    Hendrickson & White (1964), "Promax: a quick method for rotation to oblique
    simple structure", *British Journal of Statistical Psychology* 17, 65-70.
    Returns ``(loadings, Phi)``.
    """
    xv, rot = varimax(x)
    Q = xv * np.abs(xv) ** (m - 1)
    U = np.linalg.lstsq(xv, Q, rcond=None)[0]
    d = np.diag(np.linalg.inv(U.T @ U))
    U = U @ np.diag(np.sqrt(d))
    z = xv @ U
    U = rot @ U
    ui = np.linalg.inv(U)
    return z, ui @ ui.T


def rotate_loadings(A: np.ndarray, rotation: str) -> tuple[np.ndarray, np.ndarray, bool]:
    """Rotate ``A`` as psych::fa does; return ``(loadings, Phi, converged)``.

    ``Phi`` is the identity for orthogonal rotations and for ``"none"``.
    """
    k = A.shape[1]
    if rotation == "none" or k < 2:
        return A.copy(), np.eye(k), True
    if rotation == "varimax":
        L, _ = varimax(A)
        return L, np.eye(k), True
    if rotation == "promax":
        # psych::kaiser: Kaiser row normalisation around psych::Promax.
        h = np.sqrt(np.sum(A**2, axis=1))
        L, Phi = promax_psych(A / h[:, None])
        return L * h[:, None], Phi, True
    if rotation in ("oblimin", "quartimin"):
        return gpf_oblique(A, _vgq_oblimin)
    if rotation == "geomin":
        return gpf_oblique(A, _vgq_geomin)
    raise ValueError(f"unknown rotation {rotation!r}")  # pragma: no cover - validated by the caller
