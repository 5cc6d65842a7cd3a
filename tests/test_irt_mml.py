"""Marginal-ML 2PL (psychoml.irt._mml) against mirt's LSAT7 values and simulated truth."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from psychoml.irt._mml import eap_theta, fit_2pl_mml, item_information, marginal_loglik_2pl

REF = Path(__file__).parent / "reference" / "irt"


@pytest.fixture(scope="module")
def lsat7() -> tuple[np.ndarray, np.ndarray, dict]:
    table = pd.read_csv(REF / "lsat7_patterns.csv")
    ref = json.loads((REF / "lsat7_mirt_2pl.json").read_text())
    return table.iloc[:, :5].to_numpy(float), table["freq"].to_numpy(float), ref


def test_lsat7_matches_mirt_converged_to_1e3(lsat7):
    X, w, ref = lsat7
    fit = fit_2pl_mml(X, weights=w)
    assert fit.converged
    # mirt's tightly converged (SE.type = "SEM") estimates are printed to 4 decimals: 1e-3 is the bar
    np.testing.assert_allclose(fit.a, ref["a_converged"], atol=1e-3)
    np.testing.assert_allclose(fit.d, ref["d_converged"], atol=1e-3)
    np.testing.assert_allclose(fit.b, -np.array(ref["d_converged"]) / ref["a_converged"], atol=2e-3)
    # mirt prints the log-likelihood to 3 decimals
    assert fit.loglik == pytest.approx(ref["logLik"], abs=1e-3)


def test_lsat7_matches_mirt_default_stop(lsat7):
    X, w, ref = lsat7
    fit = fit_2pl_mml(X, weights=w)
    # mirt's default EM stops once no parameter moves more than 1e-4 per cycle, which leaves item 3 about
    # 1.5e-3 short of the maximum (1.706 vs 1.7075): 2e-3 covers that early stop and nothing more
    np.testing.assert_allclose(fit.a, ref["a"], atol=2e-3)
    np.testing.assert_allclose(fit.d, ref["d"], atol=2e-3)


def test_lsat7_expanded_rows_equal_weighted_patterns(lsat7):
    X, w, _ = lsat7
    expanded = np.repeat(X, w.astype(int), axis=0)
    a = fit_2pl_mml(expanded)
    b = fit_2pl_mml(X, weights=w)
    np.testing.assert_allclose(a.a, b.a, atol=1e-6)
    assert a.loglik == pytest.approx(b.loglik, abs=1e-6)


def test_lsat7_eap_matches_mirt(lsat7):
    X, w, ref = lsat7
    fit = fit_2pl_mml(X, weights=w)
    theta, se = eap_theta(X, fit.a, fit.d)
    # mirt's fscores() EAPs integrate on mirt's own grid and its test checks them to 1e-2; 5e-3 covers the
    # grid difference (3e-3 on the all-wrong pattern).  mirt's EAPsum for score 0, the same posterior, is
    # printed to 5 decimals and agrees to 1e-4.
    np.testing.assert_allclose(theta[:6], ref["eap_first6"], atol=5e-3)
    assert theta[0] == pytest.approx(ref["eapsum_score0"], abs=1e-4)
    assert np.all(se > 0) and np.all(se < 1)


def test_loglik_function_agrees_with_fit(lsat7):
    X, w, _ = lsat7
    fit = fit_2pl_mml(X, weights=w)
    assert marginal_loglik_2pl(X, fit.a, fit.d, weights=w, n_quad=61) == pytest.approx(fit.loglik, abs=1e-8)
    # the maximum: moving any parameter lowers the likelihood
    a2 = fit.a.copy()
    a2[2] += 0.05
    assert marginal_loglik_2pl(X, a2, fit.d, weights=w) < fit.loglik


def _simulate(n: int, j: int, seed: int, missing: float = 0.0):
    rng = np.random.default_rng(seed)
    a = rng.lognormal(0, 0.3, j)
    b = rng.normal(0, 1, j)
    theta = rng.normal(size=n)
    X = (rng.random((n, j)) < 1 / (1 + np.exp(-a * (theta[:, None] - b)))).astype(float)
    X[rng.random((n, j)) < missing] = np.nan
    return X, a, b, theta


def test_recovery_with_missing_cells():
    X, a, b, theta = _simulate(1000, 20, seed=3, missing=0.1)
    fit = fit_2pl_mml(X)
    assert fit.converged
    assert np.corrcoef(fit.a, a)[0, 1] > 0.9
    assert np.corrcoef(fit.b, b)[0, 1] > 0.98
    est, _se = eap_theta(X, fit.a, fit.d)
    # 20 items with 10% missing: test reliability ~0.8, so corr(EAP, theta) ~ sqrt(0.8)
    assert np.corrcoef(est, theta)[0, 1] > 0.85


def test_missing_cells_are_masked_not_imputed():
    X, *_ = _simulate(300, 8, seed=4)
    Xm = X.copy()
    Xm[0, :] = np.nan  # a person with no responses carries no information about items
    fit_all = fit_2pl_mml(np.delete(X, 0, axis=0))
    fit_masked = fit_2pl_mml(Xm)
    np.testing.assert_allclose(fit_masked.a, fit_all.a, atol=1e-5)
    theta, se = eap_theta(Xm[:1], fit_masked.a, fit_masked.d)
    # no responses: the EAP is the prior
    assert theta[0] == pytest.approx(0.0, abs=1e-8) and se[0] == pytest.approx(1.0, abs=1e-3)


def test_prior_on_slopes_shrinks():
    X, *_ = _simulate(60, 10, seed=5)
    ml = fit_2pl_mml(X)
    mapf = fit_2pl_mml(X, prior_a=(0.0, 0.25))
    # a tight log-normal prior at log a = 0 pulls slopes toward 1
    assert np.mean(np.abs(np.log(mapf.a))) < np.mean(np.abs(np.log(np.abs(ml.a))))


def test_item_information_formula():
    theta = np.array([-1.0, 0.0, 2.0])
    info = item_information(theta, np.array([1.5, 0.5]), np.array([0.0, 1.0]))
    p = 1 / (1 + np.exp(-1.5 * theta))
    np.testing.assert_allclose(info[:, 0], 1.5**2 * p * (1 - p))
    # information peaks at theta = b with a^2 / 4
    assert info[1, 0] == pytest.approx(1.5**2 / 4)


def test_rejects_non_binary():
    with pytest.raises(ValueError, match="0/1"):
        fit_2pl_mml(np.array([[0, 1, 2], [1, 0, 1]], dtype=float))


# ------------------------------------------------------------------------------------------------- multidimensional
def _simulate_m2pl(n: int = 1000, j: int = 30, seed: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Simple structure: the first half of the items measure dimension 1, the second half mostly dimension 2."""
    rng = np.random.default_rng(seed)
    A = np.zeros((j, 2))
    A[: j // 2, 0] = rng.uniform(0.8, 2.0, j // 2)
    A[j // 2:, 0] = rng.uniform(0.0, 0.5, j - j // 2)
    A[j // 2:, 1] = rng.uniform(0.8, 2.0, j - j // 2)
    d = rng.normal(0, 1, j)
    theta = rng.standard_normal((n, 2))
    X = (rng.random((n, j)) < 1 / (1 + np.exp(-(theta @ A.T + d)))).astype(float)
    X[rng.random(X.shape) < 0.1] = np.nan
    return X, A, d


def test_product_quadrature_integrates_the_standard_normal():
    from psychoml.irt._mml import product_quadrature

    nodes, w = product_quadrature(11, 2)
    assert nodes.shape == (121, 2) and w.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(w @ nodes, 0.0, atol=1e-12)
    np.testing.assert_allclose((nodes * w[:, None]).T @ nodes, np.eye(2), atol=1e-12)  # exact for degree <= 21
    assert w @ (nodes[:, 0] ** 2 * nodes[:, 1] ** 2) == pytest.approx(1.0)


def test_m2pl_in_one_dimension_is_the_2pl():
    """The multidimensional EM with one dimension is the 2PL EM (same E-step, same Fisher step)."""
    from psychoml.irt._mml import fit_m2pl_mml

    X, _, _ = _simulate_m2pl()
    one = fit_2pl_mml(X)
    gen = fit_m2pl_mml(X, n_dims=1, n_quad=61, tol=1e-6, max_iter=500)
    np.testing.assert_allclose(gen.A[:, 0], one.a, atol=1e-5)
    np.testing.assert_allclose(gen.d, one.d, atol=1e-5)
    assert gen.loglik == pytest.approx(one.loglik, abs=1e-6)


def test_m2pl_recovers_two_dimensional_slopes_up_to_rotation():
    from scipy.linalg import orthogonal_procrustes

    from psychoml.irt._mml import fit_m2pl_mml

    X, A, d = _simulate_m2pl()
    res = fit_m2pl_mml(X, n_dims=2)
    assert res.converged and res.A[0, 1] == 0.0  # mirt's exploratory constraint fixes the rotation
    R, _ = orthogonal_procrustes(res.A, A)  # theta ~ N(0, I): slopes are identified up to a rotation
    assert np.corrcoef((res.A @ R).ravel(), A.ravel())[0, 1] > 0.97
    assert np.corrcoef(res.d, d)[0, 1] > 0.98
    # the second dimension is real here: two dimensions fit far better than one (1,093 log-likelihood units)
    assert res.loglik > fit_2pl_mml(X).loglik + 500
    assert res.info.shape == (30, 3, 3) and np.all(np.linalg.eigvalsh(res.info[1:]) > 0)
