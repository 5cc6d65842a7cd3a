"""Seeded simulators of LLM leaderboards used by the benchmark-design tests and benchmarks.

``simulate_leaderboard`` draws a models x items correctness matrix from a
two-dimensional compensatory 2PL with correlated abilities, heterogeneous
discriminations and a share of *mislabelled* items (answer key flipped: the
recorded correctness is ``1 - y``, so strong models fail and weak models pass).
``simulate_prompt_variants`` draws (model, template, item) correctness with
template effects per model, as in PromptEval's setting.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from psychoml._base import Result
from psychoml.irt._bench_io import CorrectnessMatrix

__all__ = ["SimulatedLeaderboard", "simulate_leaderboard", "simulate_prompt_variants"]


@dataclasses.dataclass(frozen=True, repr=False)
class SimulatedLeaderboard(Result):
    """A simulated leaderboard and its generating truth.

    Attributes
    ----------
    data
        The correctness matrix as a :class:`CorrectnessMatrix`.
    theta
        True abilities, models x 2 (columns ``theta1``, ``theta2``).
    items
        True item parameters: ``a1``, ``a2``, ``d`` and ``mislabelled`` (bool).
    """

    data: CorrectnessMatrix
    theta: pd.DataFrame
    items: pd.DataFrame
    seed: int

    def to_frame(self) -> pd.DataFrame:
        return self.data.matrix


def simulate_leaderboard(n_models: int = 400, n_items: int = 5000, *, seed: int = 0, mislabelled: float = 0.03,
                         rho: float = 0.6, second_dimension_share: float = 0.3,
                         n_benchmarks: int = 1) -> SimulatedLeaderboard:
    """Draw a leaderboard from a 2-D 2PL with mislabelled items.

    Model: ``logit P(y_ij = 1) = a1_i theta1_j + a2_i theta2_j + d_i`` with
    ``(theta1, theta2)`` standard normal, correlation ``rho``; ``a1 ~ LogNormal(0.1, 0.5)``
    (discriminations from about 0.4 to 3), ``a2 ~ LogNormal(-0.2, 0.4)`` on a
    ``second_dimension_share`` of the items (0 elsewhere), ``d ~ N(0.3, 1.6)``.
    A random ``mislabelled`` share of items records ``1 - y``.
    """
    rng = np.random.default_rng(seed)
    t1 = rng.standard_normal(n_models)
    t2 = rho * t1 + np.sqrt(1.0 - rho**2) * rng.standard_normal(n_models)
    a1 = rng.lognormal(0.1, 0.5, n_items)
    a2 = np.where(rng.random(n_items) < second_dimension_share, rng.lognormal(-0.2, 0.4, n_items), 0.0)
    d = rng.normal(0.3, 1.6, n_items)
    eta = np.outer(t1, a1) + np.outer(t2, a2) + d
    y = (rng.random((n_models, n_items)) < 1.0 / (1.0 + np.exp(-eta))).astype(np.float64)
    n_bad = round(mislabelled * n_items)
    bad = np.zeros(n_items, dtype=bool)
    bad[rng.choice(n_items, n_bad, replace=False)] = True
    y[:, bad] = 1.0 - y[:, bad]
    width = len(str(n_items))
    items = [f"item{j:0{width}d}" for j in range(n_items)]
    models = [f"model{i:03d}" for i in range(n_models)]
    bench = np.array([f"bench{k + 1}" for k in range(n_benchmarks)])[np.arange(n_items) % n_benchmarks]
    matrix = pd.DataFrame(y, index=pd.Index(models, name="model"), columns=items)
    data = CorrectnessMatrix(matrix=matrix, benchmarks=pd.Series(bench, index=items, name="benchmark"),
                             source=f"simulate_leaderboard(seed={seed})")
    theta = pd.DataFrame({"theta1": t1, "theta2": t2}, index=matrix.index)
    truth = pd.DataFrame({"a1": a1, "a2": a2, "d": d, "mislabelled": bad, "benchmark": bench}, index=items)
    return SimulatedLeaderboard(data=data, theta=theta, items=truth, seed=seed)


def simulate_prompt_variants(n_models: int = 20, n_templates: int = 12, n_items: int = 300, *, seed: int = 0,
                             template_sd: float = 0.6) -> pd.DataFrame:
    """Long table ``model, template, item, correct`` with per-model template effects.

    ``logit P = a_i (theta_m + tau_mt) + d_i`` with ``tau_mt ~ N(0, template_sd)``:
    a model's accuracy varies across prompt templates (PromptEval's setting).
    """
    rng = np.random.default_rng(seed)
    theta = rng.standard_normal(n_models)
    tau = rng.normal(0.0, template_sd, (n_models, n_templates))
    a = rng.lognormal(0.0, 0.3, n_items)
    d = rng.normal(0.0, 1.3, n_items)
    eta = a[None, None, :] * (theta[:, None, None] + tau[:, :, None]) + d[None, None, :]
    y = (rng.random(eta.shape) < 1.0 / (1.0 + np.exp(-eta))).astype(float)
    m, t, i = np.meshgrid(np.arange(n_models), np.arange(n_templates), np.arange(n_items), indexing="ij")
    return pd.DataFrame({"model": [f"model{k:02d}" for k in m.ravel()],
                         "template": [f"template{k:02d}" for k in t.ravel()],
                         "item": [f"item{k:03d}" for k in i.ravel()], "correct": y.ravel()})
