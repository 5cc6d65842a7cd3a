"""Category probabilities of every model in numpy (for information, expected scores, fit, PPC and LOO).

All models share one parameterisation, the same one the PyMC models sample:

* binary (1PL, 2PL, 3PL): ``P(x = 1) = c + (1 - c) * logistic(a . theta + d)`` (c = 0 except 3PL);
* graded response (Samejima, 1969): ``P(x >= k) = logistic(a . theta + d_k)``, ``k = 1..K-1``;
* generalised partial credit (Muraki, 1992): ``P(x = k) ∝ exp(sum_{v<=k} (a . theta + d_v))``.

This is mirt's slope-intercept form; the difficulties are ``b = -d / |a|`` (with one dimension the usual
``a (theta - b)``; with two, Reckase's (1985) multidimensional difficulty).
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit, log_softmax

__all__ = ["BINARY_MODELS", "POLYTOMOUS_MODELS", "category_probs"]

BINARY_MODELS = ("1pl", "2pl", "3pl")
POLYTOMOUS_MODELS = ("grm", "gpcm")


def category_probs(
    model: str, theta: np.ndarray, a: np.ndarray, d: np.ndarray, c: np.ndarray | None = None
) -> np.ndarray:
    """Probabilities of categories 0..K-1, broadcasting over leading dimensions.

    Parameters
    ----------
    theta, a
        ``(..., D)`` abilities and slopes (broadcastable against each other).
    d
        ``(..., K-1)`` intercepts (one for binary models).
    c
        ``(...)`` lower asymptotes (3PL) or None.

    Returns
    -------
    ``(..., K)`` probabilities.
    """
    eta = np.sum(theta * a, axis=-1)
    z = eta[..., None] + d  # (..., K-1)
    if model in BINARY_MODELS:
        p1 = expit(z[..., 0])
        if c is not None:
            p1 = c + (1 - c) * p1
        return np.stack([1 - p1, p1], axis=-1)
    if model == "grm":
        cum = expit(z)  # P(x >= k), k = 1..K-1
        upper = np.concatenate([np.ones(cum.shape[:-1] + (1,)), cum], axis=-1)
        lower = np.concatenate([cum, np.zeros(cum.shape[:-1] + (1,))], axis=-1)
        return np.clip(upper - lower, 1e-300, 1.0)
    if model == "gpcm":
        logits = np.concatenate([np.zeros(z.shape[:-1] + (1,)), np.cumsum(z, axis=-1)], axis=-1)
        return np.exp(log_softmax(logits, axis=-1))
    raise ValueError(f"unknown model {model!r}")
