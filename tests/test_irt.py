"""psychoml.irt.fit: input handling, result methods, CLI; slow tests: NUTS recovery and LSAT7 vs mirt."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from psychoml.errors import ConfigurationError, DataError
from psychoml.irt import IrtResult, fit, item_information, load_result
from psychoml.irt._data import IrtData, prepare_data

REF = Path(__file__).parent / "reference" / "irt"


# --- helpers ---------------------------------------------------------------------------------------------------------
def simulate_2pl(n: int, j: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    # a common simulation design (slopes U(0.5, 2.5)); with U(0.8, 2.5) even the ML estimates correlate only
    # ~0.95 with the true slopes on 40 items, which leaves no room for Monte Carlo error
    a = rng.uniform(0.5, 2.5, j)
    b = np.clip(rng.normal(0, 1, j), -2.5, 2.5)
    theta = rng.normal(size=n)
    X = (rng.random((n, j)) < 1 / (1 + np.exp(-a * (theta[:, None] - b)))).astype(float)
    return X, a, b, theta


def simulate_grm(n: int, j: int, seed: int, k: int = 5):
    rng = np.random.default_rng(seed)
    a = rng.uniform(0.8, 2.5, j)
    b = np.clip(rng.normal(0, 1, j), -2.0, 2.0)
    thr = b[:, None] + np.linspace(-1.2, 1.2, k - 1)
    theta = rng.normal(size=n)
    P = 1 / (1 + np.exp(-(a[None, :, None] * (theta[:, None, None] - thr[None]))))
    X = (rng.random((n, j))[:, :, None] < P).sum(-1).astype(float) + 1  # categories 1..k
    return X, a, b, thr, theta


def lsat7_frame() -> pd.DataFrame:
    table = pd.read_csv(REF / "lsat7_patterns.csv")
    return table.loc[table.index.repeat(table["freq"]), [c for c in table.columns if c != "freq"]].reset_index(
        drop=True)


def result_from_params(model: str, X: np.ndarray, a: np.ndarray, d: np.ndarray, theta: np.ndarray,
                       c: np.ndarray | None = None) -> IrtResult:
    """An IrtResult holding fixed parameters (one 'draw'), to test the result methods without sampling."""
    import arviz as az

    from psychoml.irt.fit import _make_result

    data = prepare_data(X, binary=model in ("1pl", "2pl", "3pl"))
    if model in ("1pl", "2pl", "3pl"):
        data = IrtData(data.matrix, data.persons, data.items, 2, data.offset)
    a = np.asarray(a, float).reshape(len(a), -1)
    d = np.asarray(d, float).reshape(len(d), -1)
    post = {"a": a[None, None], "d": d[None, None], "b": (-d / np.linalg.norm(a, axis=1, keepdims=True))[None, None],
            "theta": np.asarray(theta, float).reshape(len(theta), -1)[None, None]}
    if c is not None:
        post["c"] = np.asarray(c, float)[None, None]
    idata = az.from_dict(posterior=post)
    return _make_result(data, model, "mml", a.shape[1], idata, warn=False)


# --- input -----------------------------------------------------------------------------------------------------------
def test_non_binary_data_for_binary_model():
    X = np.array([[0, 1, 2], [1, 0, 1], [0, 1, 1]], dtype=float)
    with pytest.raises(DataError, match=r"binary model needs 0/1.*'item3'.*grm"):
        fit(X, "2pl", "mml")


def test_item_without_variance():
    X, *_ = simulate_2pl(50, 4, seed=1)
    X[:, 2] = 1.0
    with pytest.raises(DataError, match=r"'item3'.*no variance"):
        fit(X, "2pl", "mml")


def test_categories_skipping_values():
    X, *_ = simulate_grm(200, 4, seed=1)
    X[X == 3] = 4  # nobody uses category 3 of 1..5
    with pytest.raises(DataError, match=r"skip value\(s\) \[3\.0\]"):
        fit(X, "grm", "map")


def test_item_skipping_a_category_between_observed_values():
    X = np.array([[1, 1], [2, 2], [4, 3], [1, 4], [2, 2]], dtype=float)
    with pytest.raises(DataError, match=r"item 'item1' skips category \[3\.0\]"):
        prepare_data(X, binary=False)


def test_non_integer_and_non_numeric():
    with pytest.raises(DataError, match="whole-number"):
        prepare_data(np.array([[0.5, 1], [1, 0], [0, 1]]), binary=False)
    with pytest.raises(DataError, match="non-numeric column"):
        prepare_data(pd.DataFrame({"q1": ["a", "b"], "q2": [0, 1]}), binary=True)


def test_person_without_responses_is_dropped_with_warning():
    X, *_ = simulate_2pl(200, 6, seed=2)
    frame = pd.DataFrame(X, index=[f"p{i}" for i in range(200)], columns=[f"q{j}" for j in range(6)])
    frame.iloc[5] = np.nan
    with pytest.warns(UserWarning, match=r"dropped 1 person\(s\) with no responses \('p5'\)"):
        res = fit(frame, "2pl", "mml")
    assert "p5" not in res.persons.index and len(res.persons) == 199


def test_unknown_model_method_dims():
    X, *_ = simulate_2pl(30, 4, seed=3)
    with pytest.raises(DataError, match="unknown IRT model '4pl'"):
        fit(X, "4pl")
    with pytest.raises(DataError, match="unknown method 'gibbs'"):
        fit(X, "2pl", "gibbs")
    with pytest.raises(DataError, match="n_dims"):
        fit(X, "3pl", n_dims=2)
    with pytest.raises(DataError, match="method='mml' fits the one-dimensional 2PL"):
        fit(X, "1pl", "mml")


def test_long_table_csv_and_parquet_agree(tmp_path):
    X, *_ = simulate_2pl(120, 5, seed=4)
    wide = pd.DataFrame(X, columns=[f"q{j}" for j in range(5)])
    wide.index = pd.Index([f"r{i:03d}" for i in range(120)], name="respondent")
    long = wide.reset_index().melt(id_vars="respondent", var_name="item", value_name="value")
    long = long.sample(frac=1.0, random_state=0)  # order must not matter
    ref = fit(wide, "2pl", "mml").items
    np.testing.assert_allclose(fit(long, "2pl", "mml").items["a"].to_numpy(), ref["a"].to_numpy(), atol=1e-8)
    wide.to_csv(tmp_path / "w.csv", index=False)
    wide.to_parquet(tmp_path / "w.parquet", index=False)
    for path in (tmp_path / "w.csv", tmp_path / "w.parquet"):
        np.testing.assert_allclose(fit(path, "2pl", "mml").items["a"].to_numpy(), ref["a"].to_numpy(), atol=1e-8)


def test_store_style_long_table_with_refusals():
    rows = []
    rng = np.random.default_rng(5)
    for m in ("gpt", "claude"):
        for s in range(30):
            for item in ("q1", "q2", "q3"):
                status = "REFUSED" if (s == 0 and item == "q1") else "OK"
                rows.append({"model": m, "persona": "none", "variant": "v1", "sample": s, "item": item,
                             "value": float(rng.integers(0, 2)) if status == "OK" else np.nan, "status": status})
    data = prepare_data(pd.DataFrame(rows), binary=True)
    assert data.matrix.shape == (60, 3)
    assert "gpt|none|v1|0" in data.persons
    assert np.isnan(data.matrix[list(data.persons).index("gpt|none|v1|0"), 0])  # refusal = missing


def test_missing_file():
    with pytest.raises(DataError, match="not found"):
        fit("/nonexistent/responses.csv", "2pl", "mml")


# --- MML through fit ------------------------------------------------------------------------------------------------
def test_fit_mml_lsat7_matches_mirt():
    ref = json.loads((REF / "lsat7_mirt_2pl.json").read_text())
    res = fit(lsat7_frame(), "2pl", "mml")
    # same tolerance and justification as tests/test_irt_mml.py (mirt's converged values, 4 decimals)
    np.testing.assert_allclose(res.items["a"], ref["a_converged"], atol=1e-3)
    np.testing.assert_allclose(res.items["d"], ref["d_converged"], atol=1e-3)
    assert res.loglik == pytest.approx(ref["logLik"], abs=1e-3)
    assert list(res.items.index) == [f"Item.{i}" for i in range(1, 6)]
    assert "IrtResult(model='2pl', method='mml'" in repr(res)
    assert res.to_frame() is res.items


def test_save_and_reload(tmp_path):
    res = fit(lsat7_frame(), "2pl", "mml")
    res.idata.to_netcdf(str(tmp_path / "fit.nc"))
    back = load_result(tmp_path / "fit.nc")
    np.testing.assert_allclose(back.items["a"], res.items["a"])
    assert (back.model, back.method) == ("2pl", "mml")
    with pytest.raises(DataError, match="not found"):
        load_result(tmp_path / "missing.nc")


# --- result methods on fixed parameters -------------------------------------------------------------------------------
def test_information_2pl_and_3pl_match_closed_forms():
    X, a, b, theta = simulate_2pl(100, 4, seed=6)
    d = -a * b
    grid = np.array([-2.0, 0.0, 1.5])
    res = result_from_params("2pl", X, a, d, theta)
    info = res.information(grid)
    # numerical derivative (h = 1e-5) vs Birnbaum's a^2 P Q: agreement to ~1e-8
    np.testing.assert_allclose(info[list(res.items.index)].to_numpy(), item_information(grid, a, b), atol=1e-7)
    np.testing.assert_allclose(info["se"], 1 / np.sqrt(item_information(grid, a, b).sum(axis=1)), atol=1e-7)
    c = np.array([0.2, 0.1, 0.0, 0.25])
    res3 = result_from_params("3pl", X, a, d, theta, c=c)
    P = c + (1 - c) / (1 + np.exp(-(a * grid[:, None] + d)))
    birnbaum = a**2 * ((1 - P) / P) * ((P - c) / (1 - c)) ** 2  # Birnbaum (1968) 3PL information
    np.testing.assert_allclose(res3.information(grid)[list(res3.items.index)].to_numpy(), birnbaum, atol=1e-7)


def test_information_grm_matches_samejima():
    X, a, _b, thr, theta = simulate_grm(150, 3, seed=7)
    d = -a[:, None] * thr
    res = result_from_params("grm", X, a, d, theta)
    grid = np.array([-1.0, 0.3])
    Ps = 1 / (1 + np.exp(-(a * grid[:, None])[:, :, None] - d[None]))  # P(x >= k)
    Ps = np.concatenate([np.ones(Ps.shape[:2] + (1,)), Ps, np.zeros(Ps.shape[:2] + (1,))], axis=2)
    W = Ps * (1 - Ps)
    Pk = Ps[..., :-1] - Ps[..., 1:]
    samejima = a**2 * np.sum((W[..., :-1] - W[..., 1:]) ** 2 / Pk, axis=2)  # Samejima (1969)
    np.testing.assert_allclose(res.information(grid)[list(res.items.index)].to_numpy(), samejima, atol=1e-6)


def test_expected_score_is_on_raw_scale_and_monotone():
    X, a, _b, thr, theta = simulate_grm(150, 3, seed=8)
    res = result_from_params("grm", X, a, -a[:, None] * thr, theta)
    es = res.expected_score(np.linspace(-6, 6, 25))
    assert es["total"].is_monotonic_increasing
    assert es["total"].iloc[0] == pytest.approx(3 * 1.0, abs=0.05)  # categories 1..5
    assert es["total"].iloc[-1] == pytest.approx(3 * 5.0, abs=0.05)


def test_item_fit_and_ppc_near_nominal_under_true_model():
    X, a, b, theta = simulate_2pl(2000, 5, seed=9)
    res = result_from_params("2pl", X, a, -a * b, theta)
    fitstats = res.item_fit()
    # with true parameters the mean squares are 1 up to sampling error (sd ~ sqrt(2/n) ~ 0.03 for infit)
    np.testing.assert_allclose(fitstats["infit"], 1.0, atol=0.1)
    np.testing.assert_allclose(fitstats["outfit"], 1.0, atol=0.2)
    ppc = res.ppc(n_draws=1, seed=0)
    assert list(ppc.columns) == ["mean", "mean_rep", "ppp_mean", "item_total_r", "item_total_r_rep",
                                 "ppp_item_total_r"]
    np.testing.assert_allclose(ppc["mean"], np.nanmean(X, axis=0))


def test_item_fit_flags_a_misfitting_item():
    X, a, b, theta = simulate_2pl(2000, 5, seed=10)
    rng = np.random.default_rng(0)
    X[:, 0] = (rng.random(2000) < 0.5).astype(float)  # item 1 is pure noise
    res = result_from_params("2pl", X, a, -a * b, theta)
    assert res.item_fit()["outfit"].iloc[0] > 1.3


def test_compare_needs_posterior_draws():
    res = fit(lsat7_frame(), "2pl", "mml")
    with pytest.raises(DataError, match="point estimate"):
        res.compare(res)


# --- diagnostics -----------------------------------------------------------------------------------------------------
def _fake_idata(shift: float, divergences: int, n_draws: int = 500):
    import arviz as az

    rng = np.random.default_rng(16)
    theta = rng.normal(size=(2, n_draws, 3, 1))
    theta[1] += shift  # the second chain sits elsewhere: R-hat >> 1.01
    a = rng.normal(1.0, 0.1, size=(2, n_draws, 3, 1))
    diverging = np.zeros((2, n_draws), dtype=bool)
    diverging[0, :divergences] = True
    return az.from_dict(posterior={"theta": theta, "a": a}, sample_stats={"diverging": diverging})


def test_diagnostics_warn_with_concrete_advice():
    from psychoml.irt.fit import IrtConvergenceWarning, _diagnose

    with pytest.warns(IrtConvergenceWarning) as record:
        diag = _diagnose(_fake_idata(shift=3.0, divergences=7), warn=True)
    messages = " | ".join(str(w.message) for w in record)
    assert "R-hat" in messages and "'theta'" in messages and "tune=" in messages
    assert "effective sample size" in messages and "Increase draws" in messages
    assert "7 divergent transition(s)" in messages and "hierarchical=True" in messages
    assert diag["max_rhat"] > 1.5 and diag["divergences"] == 7


def test_diagnostics_silent_when_chains_agree():
    from psychoml.irt.fit import _diagnose

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning fails the test
        diag = _diagnose(_fake_idata(shift=0.0, divergences=0, n_draws=1000), warn=True)
    assert diag["max_rhat"] <= 1.01 and diag["min_ess_bulk"] >= 400 and diag["divergences"] == 0


# --- CLI ---------------------------------------------------------------------------------------------------------------
def test_cli_fit_mml(tmp_path, capsys):
    from psychoml.cli import main

    lsat7_frame().to_csv(tmp_path / "lsat7.csv", index=False)
    code = main(["irt", "fit", str(tmp_path / "lsat7.csv"), "--model", "2pl", "--method", "mml",
                 "-o", str(tmp_path / "fit.nc"), "--items-out", str(tmp_path / "items.csv")])
    assert code == 0
    out = capsys.readouterr().out
    assert "Item.3" in out and "log-likelihood -2658.805" in out
    items = pd.read_csv(tmp_path / "items.csv", index_col=0)
    assert items.loc["Item.3", "a"] == pytest.approx(1.7075, abs=1e-3)
    assert load_result(tmp_path / "fit.nc").model == "2pl"


def test_cli_errors_are_one_line(tmp_path, capsys):
    from psychoml.cli import main

    pd.DataFrame({"q1": [0, 1, 2], "q2": [1, 0, 1]}).to_csv(tmp_path / "bad.csv", index=False)
    assert main(["irt", "fit", str(tmp_path / "bad.csv"), "--method", "mml"]) == 1
    assert "binary model needs 0/1" in capsys.readouterr().err
    fit(lsat7_frame(), "2pl", "mml").idata.to_netcdf(str(tmp_path / "a.nc"))
    assert main(["irt", "compare", str(tmp_path / "a.nc"), str(tmp_path / "a.nc")]) == 1
    assert "point estimate" in capsys.readouterr().err


# --- slow: Bayesian fits -------------------------------------------------------------------------------------------
def _coverage(frame: pd.DataFrame, name: str, truth: np.ndarray) -> np.ndarray:
    return ((frame[f"{name}_hdi_low"] <= truth) & (truth <= frame[f"{name}_hdi_high"])).to_numpy()


@pytest.mark.slow
def test_recovery_2pl_nuts(monkeypatch):
    import psychoml.irt._pymc

    def no_pymc(*args, **kwargs):
        raise AssertionError("the 1-D 2PL must be sampled through the hand-written density, not PyMC's graph")

    monkeypatch.setattr(psychoml.irt._pymc, "build_model", no_pymc)
    X, a, b, theta = simulate_2pl(1000, 40, seed=2024)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # short chains: ESS warnings expected; checked below
        res = fit(X, "2pl", "nuts", draws=200, tune=200, chains=2, seed=3)
    items, persons = res.items, res.persons
    assert np.corrcoef(items["a"], a)[0, 1] >= 0.95
    assert np.corrcoef(items["b"], b)[0, 1] >= 0.95
    assert np.corrcoef(persons["theta"], theta)[0, 1] >= 0.95
    cover = np.concatenate([_coverage(items, "a", a), _coverage(items, "b", b), _coverage(persons, "theta", theta)])
    # 90% HDIs over 1,080 parameters: binomial sd ~1 point, so 85-95% is a 5-sd band
    assert 0.85 <= cover.mean() <= 0.95
    assert res.diagnostics["divergences"] == 0
    # the largest of 1,080 rank-normalised R-hats from 2 x 200 draws scatters around 1.03-1.06 even for a
    # converged sampler; 1.1 (Gelman & Rubin's classic bound) catches chains that disagree.  R-hat <= 1.01 at
    # the default 4 x 1,000 draws is what benchmarks/irt.py shows.
    assert res.diagnostics["max_rhat"] < 1.1


@pytest.mark.slow
def test_recovery_grm_nuts():
    X, a, b, thr, theta = simulate_grm(1000, 40, seed=2025)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = fit(X, "grm", "nuts", draws=200, tune=200, chains=2, seed=4)
    items, persons = res.items, res.persons
    assert np.corrcoef(items["a"], a)[0, 1] >= 0.95
    assert np.corrcoef(items["b"], b)[0, 1] >= 0.95
    assert np.corrcoef(persons["theta"], theta)[0, 1] >= 0.95
    parts = [_coverage(items, "a", a), _coverage(persons, "theta", theta)]
    parts += [_coverage(items, f"b{k + 1}", thr[:, k]) for k in range(thr.shape[1])]
    cover = np.concatenate(parts)
    assert 0.85 <= cover.mean() <= 0.95  # 1,200 parameters: same 5-sd band as the 2PL
    assert res.diagnostics["divergences"] == 0


def simulate_gpcm(n: int, j: int, seed: int, k: int = 4):
    """Muraki's (1992) GPCM written out: P(X = m) proportional to exp(sum_{v <= m} a (theta - b_v)), m = 0..k-1."""
    rng = np.random.default_rng(seed)
    a = rng.uniform(0.8, 2.0, j)
    loc = np.clip(rng.normal(0, 0.8, j), -1.5, 1.5)
    steps = loc[:, None] + np.linspace(-1.0, 1.0, k - 1) + rng.normal(0, 0.3, (j, k - 1))  # need not be ordered
    theta = rng.normal(size=n)
    numer = np.zeros((n, j, k))
    for m in range(1, k):
        numer[:, :, m] = numer[:, :, m - 1] + a * (theta[:, None] - steps[:, m - 1])
    prob = np.exp(numer - numer.max(-1, keepdims=True))
    prob /= prob.sum(-1, keepdims=True)
    X = (rng.random((n, j))[:, :, None] > np.cumsum(prob, -1)).sum(-1).astype(float) + 1  # categories 1..k
    return X, a, steps, theta


@pytest.mark.slow
def test_recovery_gpcm_nuts():
    X, a, steps, theta = simulate_gpcm(800, 25, seed=2026)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = fit(X, "gpcm", "nuts", draws=200, tune=200, chains=2, seed=5)
    items, persons = res.items, res.persons
    assert np.corrcoef(items["a"], a)[0, 1] >= 0.9
    # the step parameters b_v of Muraki's form are psychoml's b1..b{K-1} (= -d_v / a)
    for v in range(steps.shape[1]):
        assert np.corrcoef(items[f"b{v + 1}"], steps[:, v])[0, 1] >= 0.9
    assert np.corrcoef(persons["theta"], theta)[0, 1] >= 0.95
    parts = [_coverage(items, "a", a), _coverage(persons, "theta", theta)]
    parts += [_coverage(items, f"b{v + 1}", steps[:, v]) for v in range(steps.shape[1])]
    cover = np.concatenate(parts)
    assert 0.85 <= cover.mean() <= 0.95  # 90% HDIs over 900 parameters: binomial sd 1 point
    assert res.diagnostics["divergences"] == 0


@pytest.mark.slow
def test_lsat7_bayesian_2pl_within_two_sd_of_mirt():
    ref = json.loads((REF / "lsat7_mirt_2pl.json").read_text())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = fit(lsat7_frame(), "2pl", "nuts", hierarchical=False, draws=500, tune=500, chains=2, seed=7)
    items = res.items
    za = np.abs(items["a"] - ref["a"]) / items["a_sd"]
    zd = np.abs(items["d"] - ref["d"]) / items["d_sd"]
    assert (za < 2).all() and (zd < 2).all()
    # 2 x 500 draws keep the test short; R-hat <= 1.01 at the default 4 x 1,000 is what benchmarks/irt.py shows
    assert res.diagnostics["max_rhat"] < 1.05


@pytest.mark.slow
def test_compare_1pl_2pl_and_cli(tmp_path, capsys):
    from psychoml.cli import main

    X, *_ = simulate_2pl(300, 8, seed=11)
    path = tmp_path / "x.csv"
    pd.DataFrame(X, columns=[f"q{j}" for j in range(8)]).to_csv(path, index=False)
    for model in ("1pl", "2pl"):
        assert main(["irt", "fit", str(path), "--model", model, "--draws", "150", "--tune", "150", "--chains",
                     "2", "--seed", "1", "-o", str(tmp_path / f"{model}.nc")]) == 0
    capsys.readouterr()
    assert main(["irt", "compare", str(tmp_path / "1pl.nc"), str(tmp_path / "2pl.nc"), "-o",
                 str(tmp_path / "cmp.csv")]) == 0
    assert "LOO comparison" in capsys.readouterr().out
    cmp = pd.read_csv(tmp_path / "cmp.csv", index_col=0)
    assert set(cmp.index) == {"2pl/nuts (2pl.nc)", "1pl/nuts (1pl.nc)"}
    table = load_result(tmp_path / "2pl.nc").compare(load_result(tmp_path / "1pl.nc"))
    # slopes in U(0.8, 2.5) differ: the 2PL must win
    assert table.index[0] == "2pl/nuts"


def test_optional_samplers_name_their_install(monkeypatch):
    import sys

    X, *_ = simulate_2pl(40, 4, seed=12)
    monkeypatch.setitem(sys.modules, "numpyro", None)  # import numpyro -> ImportError
    monkeypatch.setitem(sys.modules, "pymc_extras", None)
    with pytest.raises(ConfigurationError, match="pip install numpyro jax"):
        fit(X, "2pl", "numpyro")
    with pytest.raises(ConfigurationError, match="pip install pymc-extras"):
        fit(X, "2pl", "pathfinder")


@pytest.mark.slow
def test_numpyro_samples_the_same_posterior_as_nutpie():
    """Two NUTS implementations of one posterior (nutpie on the numba density, numpyro on PyMC's graph) agree."""
    from psychoml.irt.fit import IrtConvergenceWarning

    X, a, b, _theta = simulate_2pl(300, 8, seed=14)
    kw = {"draws": 600, "tune": 600, "chains": 2, "seed": 3, "progress": False}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IrtConvergenceWarning)  # 2 short chains: R-hat ~1.02 on some theta is expected
        ref = fit(X, "2pl", "nuts", **kw)
        res = fit(X, "2pl", "numpyro", **kw)
    assert res.method == "numpyro"
    assert set(res.diagnostics) == {"max_rhat", "min_ess_bulk", "min_ess_tail", "divergences"}
    assert res.diagnostics["max_rhat"] < 1.05
    # Monte Carlo error of each mean is ~sd/sqrt(ESS) <= 0.07 sd at ESS >= 200, so two independent runs differ
    # by more than 0.35 sd with probability < 1e-3 per parameter; a different posterior moves them far more
    for col in ("a", "b"):
        diff = (res.items[col] - ref.items[col]).abs() / ref.items[f"{col}_sd"]
        assert diff.max() < 0.35, (col, diff.round(2).to_dict())
    assert np.corrcoef(res.persons["theta"], ref.persons["theta"])[0, 1] > 0.99
    assert np.corrcoef(res.items["b"], b)[0, 1] > 0.95 and np.corrcoef(res.items["a"], a)[0, 1] > 0.5


@pytest.mark.slow
def test_pathfinder_reports_its_pareto_k_and_warns_when_it_is_unreliable():
    from psychoml.irt.fit import IrtConvergenceWarning

    X, _a, b, _theta = simulate_2pl(100, 5, seed=14)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = fit(X, "2pl", "pathfinder", draws=300, seed=1, progress=False)
    k = res.diagnostics["pareto_k"]
    assert res.method == "pathfinder" and np.isfinite(k)
    warned = [w for w in caught if issubclass(w.category, IrtConvergenceWarning)]
    assert bool(warned) == (k > 0.7)
    if warned:
        assert "Pareto k" in str(warned[0].message) and "method='nuts'" in str(warned[0].message)
    assert res.idata.posterior.sizes["draw"] == 300
    assert np.corrcoef(res.items["b"], b)[0, 1] > 0.9  # the locations, at least, are right


def test_pathfinder_pareto_k_threshold():
    """The warning follows the PSIS rule k > 0.7 (Vehtari et al. 2024), read from the fit's sample_stats."""
    import arviz as az

    from psychoml.irt.fit import IrtConvergenceWarning, _diagnose_pathfinder

    def idata(k: float) -> az.InferenceData:
        return az.from_dict(posterior={"x": np.zeros((1, 5))}, sample_stats={"pareto_k": np.array(k)})

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _diagnose_pathfinder(idata(0.5), warn=True) == {"pareto_k": 0.5}
        assert _diagnose_pathfinder(idata(3.1), warn=False) == {"pareto_k": 3.1}
    with pytest.warns(IrtConvergenceWarning, match=r"Pareto k is 3.10 \(> 0.7\)"):
        _diagnose_pathfinder(idata(3.1), warn=True)
    assert np.isnan(_diagnose_pathfinder(az.from_dict(posterior={"x": np.zeros((1, 5))}), warn=True)["pareto_k"])


@pytest.mark.slow
def test_two_dimensional_2pl_recovers_structure():
    rng = np.random.default_rng(13)
    n, j = 600, 12
    theta = rng.normal(size=(n, 2))
    A = np.zeros((j, 2))
    A[:6, 0] = rng.uniform(1.2, 2.2, 6)  # items 1-6 measure dimension 1 (item 1 fixes the rotation)
    A[6:, 1] = rng.uniform(1.2, 2.2, 6)  # items 7-12 dimension 2
    A[1, 1] = 0.8  # item 2 has a positive second slope (fixes the reflection)
    A[6:, 0] = 0.2  # a small first slope: the model's first slopes are positive
    d = rng.normal(0, 1, j)
    X = (rng.random((n, j)) < 1 / (1 + np.exp(-(theta @ A.T + d)))).astype(float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = fit(X, "2pl", "nuts", n_dims=2, draws=200, tune=300, chains=2, seed=5)
    assert {"a1", "a2", "b", "d", "a1_hdi_low"}.issubset(res.items.columns)
    assert {"theta1", "theta2"}.issubset(res.persons.columns)
    # each ability is recovered by its own block of items (10 items -> reliability ~0.8)
    assert np.corrcoef(res.persons["theta1"], theta[:, 0])[0, 1] > 0.75
    assert np.corrcoef(res.persons["theta2"], theta[:, 1])[0, 1] > 0.75
    assert np.corrcoef(res.items["d"], d)[0, 1] > 0.9
    info = res.information(np.array([[0.0, 0.0], [1.0, -1.0]]))
    assert info.shape == (2, j + 2) and (info["test"] > 0).all()


@pytest.mark.slow
def test_advi_gives_draws_and_sensible_estimates():
    X, _a, b, theta = simulate_2pl(300, 8, seed=14)
    res = fit(X, "2pl", "advi", advi_iterations=8000, draws=300, seed=1)
    assert res.method == "advi" and res.diagnostics == {}
    assert (res.items["b_sd"] > 0).all() and "b_hdi_low" in res.items.columns
    assert np.corrcoef(res.items["b"], b)[0, 1] > 0.9
    assert np.corrcoef(res.persons["theta"], theta)[0, 1] > 0.8


def test_map_2pl_is_marginal_mode_close_to_ml_on_lsat7():
    ml = fit(lsat7_frame(), "2pl", "mml")
    mp = fit(lsat7_frame(), "2pl", "map")
    assert mp.method == "map"
    # a log-normal(0, 0.5) prior moves the slopes by under half their standard errors: the largest shift is item
    # 3's (1.71 -> 1.57), whose SE is ~0.31 (mirt's SEM interval 1.09-2.33)
    np.testing.assert_allclose(mp.items["a"], ml.items["a"], atol=0.15)
    assert not np.allclose(mp.items["a"], ml.items["a"], atol=1e-6)


@pytest.mark.parametrize(("model", "n_dims"), [("2pl", 1), ("1pl", 1), ("3pl", 1), ("grm", 1), ("gpcm", 1),
                                               ("2pl", 2), ("grm", 2)])
def test_pymc_likelihood_equals_numpy_reference_with_missing_cells(model, n_dims):
    """The sampled model's log-likelihood is the sum of log P(observed category) over observed cells only."""
    from psychoml.irt._probs import category_probs
    from psychoml.irt._pymc import build_model

    binary = model in ("1pl", "2pl", "3pl")
    if binary:
        X, *_ = simulate_2pl(40, 5, seed=15)
    else:
        X, *_ = simulate_grm(40, 5, seed=15)
    X[0, 0] = X[3, 2] = np.nan
    data = prepare_data(X, binary=binary)
    m = build_model(data, model, n_dims=n_dims)
    rng = np.random.default_rng(0)
    point = {k: v + rng.normal(0, 0.3, np.shape(v)) for k, v in m.initial_point().items()}
    outs = [m["theta"], m["a"], m["d"], m.potentials[0]] + ([m["c"]] if model == "3pl" else [])
    vals = m.compile_fn(outs, inputs=m.value_vars, on_unused_input="ignore")(point)
    theta, a, d, ll = vals[:4]
    c = vals[4][None] if model == "3pl" else None
    p = category_probs(model, theta[:, None, :], a[None], d[None], c)
    pi, ii = np.nonzero(~np.isnan(data.matrix))
    expected = np.log(p[pi, ii, data.matrix[pi, ii].astype(int)]).sum()
    # The numpy reference takes GRM category probabilities as differences of cumulative logistics, which loses
    # digits when two thresholds are close (cancellation, ~1e-7 relative on a random point), and the 3PL's
    # P(0) as 1 - c - (1 - c) expit(z), which cancels where P(1) is near 1 (seen 2e-10 relative, depending on
    # how PyTensor compiled its side); the model itself works on the log scale. A wrong category or a missing
    # cell would be off by more than 1e-3 relative, far beyond these tolerances.
    rel = {"grm": 1e-6, "3pl": 1e-8}.get(model, 1e-10)
    assert float(ll) == pytest.approx(expected, rel=rel)


# --- the hand-written 1PL/2PL density (psychoml/irt/_fast2pl.py) -------------------------------------------------------
@pytest.mark.parametrize(("model", "hierarchical"), [("2pl", True), ("2pl", False), ("1pl", True), ("1pl", False)])
def test_fast_density_and_gradient_equal_pymc(model, hierarchical):
    """Same posterior as build_model: logp and gradient on the unconstrained space, missing cells included."""
    from psychoml.irt._fast2pl import FastModel
    from psychoml.irt._pymc import build_model

    X, *_ = simulate_2pl(60, 7, seed=17)
    X[0, 0] = X[3, 2] = X[10, 6] = np.nan
    data = prepare_data(X, binary=True)
    m = build_model(data, model, hierarchical=hierarchical)
    fm = FastModel(data.matrix, model, hierarchical)
    assert list(fm.layout) == [v.name for v in m.value_vars]  # same unconstrained vector, same order
    logp, dlogp = m.compile_logp(), m.compile_dlogp()
    rng = np.random.default_rng(1)
    for scale in (0.3, 1.0, 2.5):  # 2.5: large logits, both tails of the sigmoid
        point = {k: v + rng.normal(0, scale, np.shape(v)) for k, v in m.initial_point().items()}
        x = np.concatenate([np.ravel(point[v.name]) for v in m.value_vars])
        lp, grad = fm.logp_grad(x)
        # relative 1e-8: PyMC keeps some prior constants in single precision (e.g. the Gamma's 1/beta = 0.2, off by
        # 1.5e-8 relative), which moves its logp by ~1e-7 absolute (1e-9 relative) and one gradient entry by ~3e-8;
        # any error in the formulas (a missing term, a wrong sign, a masked cell counted) is >= 1e-3
        assert lp == pytest.approx(float(logp(point)), rel=1e-8)
        np.testing.assert_allclose(grad, dlogp(point), rtol=1e-8, atol=1e-8)


@pytest.mark.slow
def test_fast_path_posterior_equals_pymc_path(monkeypatch):
    """fit(..., "2pl", "nuts") through the hand-written density and through PyMC's graph: same posterior means."""
    import importlib

    import arviz as az

    fit_module = importlib.import_module("psychoml.irt.fit")  # the module; psychoml.irt.fit is the function

    X, *_ = simulate_2pl(120, 6, seed=18)
    X[5, 1] = X[17, 4] = np.nan
    settings = {"draws": 1000, "tune": 500, "chains": 2}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # a first fit on other responses of the same shape: the second reuses the compiled model with new data
        fit(1.0 - X, "2pl", "nuts", seed=1, **settings)
        fast = fit(X, "2pl", "nuts", seed=2, **settings)
        monkeypatch.setattr(fit_module, "_FAST_NUTS", False)
        ref = fit(X, "2pl", "nuts", seed=3, **settings)
    names = ["a", "d", "theta", "mu_log_a", "sigma_log_a", "mu_d", "sigma_d"]
    assert set(names) <= set(fast.idata.posterior.data_vars)
    for name in names:
        m1 = fast.idata.posterior[name].mean(("chain", "draw")).values
        m2 = ref.idata.posterior[name].mean(("chain", "draw")).values
        se1 = az.mcse(fast.idata, var_names=[name])[name].values
        se2 = az.mcse(ref.idata, var_names=[name])[name].values
        # two independent Monte Carlo estimates of one posterior mean: their difference has sd sqrt(se1^2 + se2^2);
        # 4.5 sd over ~140 quantities leaves a 1e-3 chance of a false alarm
        z = np.abs(m1 - m2) / np.sqrt(se1**2 + se2**2)
        assert z.max() < 4.5, (name, z.max())
    np.testing.assert_allclose(fast.items["a"], ref.items["a"], atol=0.1)
