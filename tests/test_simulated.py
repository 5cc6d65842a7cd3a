"""The simulated respondent (``simulated:SPEC``): determinism, option mapping, response styles, generate mode,
parameter recovery within sampling error, and spec errors."""

from __future__ import annotations

import asyncio
import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import optimize, stats
from threadpoolctl import threadpool_limits

from psychoml.backends import _registry
from psychoml.backends._parse import parse_generated
from psychoml.backends.simulated import (
    SimulatedBackend,
    from_spec,
    parameters_from_spec,
    parse_simulated_spec,
    simulate_responses,
)
from psychoml.errors import BackendError, ModelSpecError
from psychoml.instruments import load
from psychoml.prompts import Variant, render
from psychoml.records import Request, ResponseStatus

SPEC = "simulated:grm?seed=1"


def make_request(
    spec: str,
    instrument: str,
    items: list[str],
    *,
    sample: int = 0,
    mode: str = "logprobs",
    params: dict | None = None,
    **facets: object,
) -> Request:
    """A request exactly as the runner builds it: rendered by psychoml.prompts for one variant."""
    variant = Variant(facets)
    rp = render(instrument, variant, items)
    return Request(
        model=spec,
        instrument=instrument,
        item_ids=tuple(items),
        variant_id=variant.id,
        sample=sample,
        messages=rp.messages,
        options=rp.options,
        mode=mode,
        params=params or {},
        persona=rp.persona,
    )


def by_value(answer, request, item):
    """The answer's distribution keyed by option value instead of label."""
    values = {o.label: o.value for o in request.options}
    return {values[label]: p for label, p in answer.distributions[item].items()}


# ---------------------------------------------------------------------------------------------------------------
# spec parsing and the registry


def test_spec_defaults_and_options():
    s = parse_simulated_spec("simulated:grm")
    assert (s.model, s.seed, s.styles.acquiescence, s.n_factors, s.params) == ("grm", 0, 0.0, None, None)
    s = parse_simulated_spec(
        "simulated:factor?seed=7&acquiescence=0.3&extreme=0.2&position=0.1&random=0.05&n_factors=2"
    )
    assert (s.model, s.seed, s.n_factors) == ("factor", 7, 2)
    assert s.styles.as_dict() == {"acquiescence": 0.3, "extreme": 0.2, "position": 0.1, "random": 0.05}
    # keyword options (get_backend(spec, seed=3)) override the spec's
    assert parse_simulated_spec("simulated:grm?seed=1", seed=3).seed == 3


@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        ("simulated:grm?sede=1", "'sede'"),  # unknown option named
        ("simulated:rasch", "'rasch'"),  # unknown model named, known ones listed
        ("simulated:grm?position=1.5", "'position'"),
        ("simulated:grm?seed=abc", "'seed'"),
        ("simulated:grm?n_factors=0", "'n_factors'"),
        ("simulated:grm?seed=1&seed=2", "given twice"),
        ("simulated:grm?seed", "needs a value"),
        ("simulated:grm?random=-0.1", "'random'"),
        ("simulated:grm?params=/nonexistent/params.yaml", "params.yaml"),
    ],
)
def test_spec_errors_name_the_problem(spec, needle):
    with pytest.raises(ModelSpecError, match=needle.replace("(", r"\(").replace("?", r"\?")):
        from_spec(spec)


def test_unknown_keyword_option_is_named():
    with pytest.raises(ModelSpecError, match="'temprature'"):
        from_spec(SPEC, temprature=0.5)


def test_registry_and_parameters_label_it_simulated():
    backend = _registry.get_backend("simulated:grm?seed=2&acquiescence=0.3")
    assert isinstance(backend, SimulatedBackend)
    assert backend.capabilities == frozenset({"logprobs", "generate"})
    params = _registry.backend_parameters("simulated:grm?seed=2&acquiescence=0.3")
    assert params["simulated"] is True and params["backend"] == "simulated"
    assert params["seed"] == 2 and params["acquiescence"] == 0.3
    assert parameters_from_spec("simulated:factor")["model"] == "factor"


# ---------------------------------------------------------------------------------------------------------------
# answers


def test_logprobs_answer_fields_and_option_order():
    backend = from_spec(SPEC)
    req = make_request(SPEC, "svs56", ["svs01"], sample=3)
    ans = backend.answer_now(req)
    assert ans.status is ResponseStatus.OK and ans.request_key == req.key()
    dist = ans.distributions["svs01"]
    assert list(dist) == [o.label for o in req.options]  # in presented order
    assert math.isclose(sum(dist.values()), 1.0, abs_tol=1e-12)
    assert all(p > 0 for p in dist.values())
    values = {o.label: o.value for o in req.options}
    assert ans.values["svs01"] == pytest.approx(sum(p * values[k] for k, p in dist.items()), abs=1e-12)
    assert ans.argmax["svs01"] == values[max(dist, key=dist.get)]
    assert ans.mass_outside["svs01"] == 0.0
    assert ans.backend["simulated"] is True and ans.backend["mode"] == "logprobs"
    # the async protocol gives the same answer
    again = asyncio.run(backend.answer(req))
    assert dict(again.distributions["svs01"]) == dict(dist)
    asyncio.run(backend.aclose())


def test_deterministic_and_seeded():
    req = make_request(SPEC, "mfq30", ["emotionally"], sample=5)
    a1 = from_spec(SPEC).answer_now(req).distributions["emotionally"]
    a2 = from_spec(SPEC).answer_now(req).distributions["emotionally"]  # a fresh backend: the same person
    assert dict(a1) == dict(a2)
    other = "simulated:grm?seed=2"
    a3 = from_spec(other).answer_now(make_request(other, "mfq30", ["emotionally"], sample=5))
    assert dict(a3.distributions["emotionally"]) != dict(a1)
    # another sample is another person
    a4 = from_spec(SPEC).answer_now(make_request(SPEC, "mfq30", ["emotionally"], sample=6))
    assert dict(a4.distributions["emotionally"]) != dict(a1)


def test_instruction_and_layout_do_not_change_the_person():
    backend = from_spec(SPEC)
    items = ["mfq2_01", "mfq2_07", "mfq2_13"]
    base = {i: backend.answer_now(make_request(SPEC, "mfq2", [i], sample=4)).values[i] for i in items}
    scale = backend.answer_now(make_request(SPEC, "mfq2", items, sample=4, layout="scale", instruction="plain"))
    assert set(scale.values) == set(items)  # a whole-scale request answers every item
    for i in items:
        assert scale.values[i] == pytest.approx(base[i], abs=1e-12)
    labels = backend.answer_now(
        make_request(SPEC, "mfq2", ["mfq2_01"], sample=4, label_format="words", scale_direction="descending")
    )
    assert labels.values["mfq2_01"] == pytest.approx(base["mfq2_01"], abs=1e-12)


def test_reversed_order_maps_values():
    backend = from_spec(SPEC)
    pub = make_request(SPEC, "mfq30", ["treated"], sample=2)
    rev = make_request(SPEC, "mfq30", ["treated"], sample=2, option_order="reversed")
    assert [o.value for o in rev.options] == [o.value for o in pub.options][::-1]
    a_pub, a_rev = backend.answer_now(pub), backend.answer_now(rev)
    assert list(a_rev.distributions["treated"]) == [o.label for o in rev.options]
    dp, dr = by_value(a_pub, pub, "treated"), by_value(a_rev, rev, "treated")
    assert dp == pytest.approx(dr, abs=1e-12)  # without position bias the order is irrelevant
    assert a_pub.values["treated"] == pytest.approx(a_rev.values["treated"], abs=1e-12)
    assert a_pub.argmax["treated"] == a_rev.argmax["treated"]


def test_unknown_item_or_instrument_is_a_backend_error():
    backend = from_spec(SPEC)
    req = make_request(SPEC, "mfq2", ["mfq2_01"])
    bad = Request(
        model=SPEC,
        instrument="mfq2",
        item_ids=("nope",),
        variant_id="v",
        sample=0,
        messages=req.messages,
        options=req.options,
    )
    with pytest.raises(BackendError, match="nope"):
        backend.answer_now(bad)
    bad = Request(
        model=SPEC,
        instrument="no_such_instrument",
        item_ids=("x",),
        variant_id="v",
        sample=0,
        messages=req.messages,
        options=req.options,
    )
    with pytest.raises(BackendError, match="no_such_instrument"):
        backend.answer_now(bad)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    sample=st.integers(0, 10**6),
    extreme=st.floats(0, 0.9),
    random=st.floats(0, 0.9),
    acquiescence=st.floats(-2, 2),
    order=st.permutations(range(9)),
)
def test_distribution_is_a_probability_vector_under_any_option_order(
    seed, sample, extreme, random, acquiescence, order
):
    spec = f"simulated:grm?seed={seed}&extreme={extreme}&random={random}&acquiescence={acquiescence}"
    backend = from_spec(spec)
    req = make_request(spec, "svs56", ["svs07"], sample=sample)
    shuffled = Request(
        model=spec,
        instrument="svs56",
        item_ids=("svs07",),
        variant_id="shuffled",
        sample=sample,
        messages=req.messages,
        options=tuple(req.options[i] for i in order),
    )
    a, b = backend.answer_now(req), backend.answer_now(shuffled)
    for ans in (a, b):
        dist = np.array(list(ans.distributions["svs07"].values()))
        assert (dist >= 0).all() and math.isclose(dist.sum(), 1.0, abs_tol=1e-12)
    # without position bias the presented order never changes the answer
    assert by_value(a, req, "svs07") == pytest.approx(by_value(b, shuffled, "svs07"), abs=1e-12)
    assert a.values["svs07"] == pytest.approx(b.values["svs07"], abs=1e-9)


# ---------------------------------------------------------------------------------------------------------------
# generate mode


def test_generate_text_parses_to_the_sampled_value():
    backend = from_spec(SPEC)
    for fmt in ("numbers", "words", "letters"):
        req = make_request(SPEC, "mfq2", ["mfq2_05"], sample=1, mode="generate", label_format=fmt)
        ans = backend.answer_now(req)
        parsed = parse_generated(ans.raw, req)
        assert parsed.status is ResponseStatus.OK and parsed.values["mfq2_05"] == ans.values["mfq2_05"]
        assert ans.raw in {o.label for o in req.options}
        assert backend.answer_now(req).raw == ans.raw  # seeded by the request key
    items = ["mfq2_01", "mfq2_07", "mfq2_13", "mfq2_19"]
    req = make_request(SPEC, "mfq2", items, sample=1, mode="generate", layout="scale")
    ans = backend.answer_now(req)
    parsed = parse_generated(ans.raw, req)
    assert parsed.status is ResponseStatus.OK
    assert parsed.values == {i: ans.values[i] for i in items}


def test_generate_temperature_zero_takes_the_argmax():
    backend = from_spec(SPEC)
    req = make_request(SPEC, "svs56", ["svs05"], sample=8, mode="generate", params={"temperature": 0})
    ans = backend.answer_now(req)
    assert ans.values["svs05"] == ans.argmax["svs05"]
    assert ans.backend["temperature"] == 0


def test_generate_draws_follow_the_distribution():
    """Over 600 requests (one person, different request keys) the draws match the logprobs distribution."""
    backend = from_spec(SPEC)
    logp = backend.answer_now(make_request(SPEC, "mfq2", ["mfq2_02"], sample=9))
    probs = np.array(list(logp.distributions["mfq2_02"].values()))
    counts = np.zeros(len(probs))
    labels = list(logp.distributions["mfq2_02"])
    for k in range(600):
        req = make_request(SPEC, "mfq2", ["mfq2_02"], sample=9, mode="generate", params={"temperature": 1.0, "k": k})
        counts[labels.index(backend.answer_now(req).raw)] += 1
    # chi-square goodness of fit; at alpha = 0.001 a correct sampler fails once in a thousand seeds
    assert stats.chisquare(counts, probs * counts.sum()).pvalue > 1e-3


# ---------------------------------------------------------------------------------------------------------------
# response styles


def test_acquiescence_raises_means_of_both_keyings():
    base = from_spec("simulated:grm?seed=1").truth("wvs7").item_means
    acq = from_spec("simulated:grm?seed=1&acquiescence=0.5").truth("wvs7").item_means
    keying = pd.Series({it.id: it.keying for it in load("wvs7").items})
    assert (keying == -1).any() and (keying == 1).any()
    assert (acq > base).all()  # acquiescence shifts toward "agree" (high values) whatever the keying
    # and the simulated respondents show it (sampling check, not only the analytic truth)
    d0, _ = simulate_responses("mfq2", 500, seed=1)
    d1, _ = simulate_responses("mfq2", 500, seed=1, acquiescence=0.5)
    assert d1.to_numpy().mean() > d0.to_numpy().mean() + 0.2


def test_position_bias_differs_between_published_and_reversed_order():
    spec = "simulated:grm?seed=1&position=0.3"
    backend = from_spec(spec)
    pub, rev = [], []
    for s in range(40):
        pub.append(backend.answer_now(make_request(spec, "mfq2", ["mfq2_03"], sample=s)).values["mfq2_03"])
        rev.append(
            backend.answer_now(make_request(spec, "mfq2", ["mfq2_03"], sample=s, option_order="reversed")).values[
                "mfq2_03"
            ]
        )
    diff = np.array(rev) - np.array(pub)
    # the published first option is 1, the reversed first option 5: the same people score higher reversed
    assert (diff > 0).all()
    # exactly: the gap is position * (5 - 1) for every person
    assert diff == pytest.approx(np.full(40, 0.3 * 4), abs=1e-9)
    plain = from_spec(SPEC)
    same = [
        plain.answer_now(make_request(SPEC, "mfq2", ["mfq2_03"], sample=s, option_order=o)).values["mfq2_03"]
        for s in range(3)
        for o in ("published", "reversed")
    ]
    assert same[0::2] == pytest.approx(same[1::2], abs=1e-12)


def test_extreme_and_random_responding():
    req = make_request("x", "svs56", ["svs10"], sample=2)
    plain = by_value(from_spec("simulated:grm?seed=1").answer_now(req), req, "svs10")
    extreme = by_value(from_spec("simulated:grm?seed=1&extreme=0.4").answer_now(req), req, "svs10")
    rand = by_value(from_spec("simulated:grm?seed=1&random=0.5").answer_now(req), req, "svs10")
    ends = (-1.0, 7.0)
    assert sum(extreme[v] for v in ends) > sum(plain[v] for v in ends) + 0.35
    uniform = 1 / 9
    assert max(abs(p - uniform) for p in rand.values()) < max(abs(p - uniform) for p in plain.values()) / 1.9


# ---------------------------------------------------------------------------------------------------------------
# the generative model: truth, personas, parameter files


def test_truth_structure():
    backend = from_spec(SPEC)
    truth = backend.truth("svs56")
    assert truth.to_frame().loc["svs01", "factor"] == "universalism"
    corr = truth.latent_correlation
    # circumplex: neighbours on Schwartz's circle correlate positively, opposite values negatively
    assert corr.loc["universalism", "benevolence"] > 0.3
    assert corr.loc["power", "universalism"] < -0.3
    wvs = backend.truth("wvs7").items
    assert (np.sign(wvs["a"]) == wvs["keying"]).all()  # reverse-keyed items load negatively
    # a persona shifts the latent means deterministically; no persona, no shift
    assert (truth.latent_means == 0).all()
    shifted = backend.truth("svs56", persona="a retired farmer").latent_means
    assert (shifted != 0).all()
    assert shifted.equals(from_spec(SPEC).truth("svs56", persona="a retired farmer").latent_means)


def test_persona_and_sample_identify_the_respondent():
    backend = from_spec(SPEC)
    a = backend.latent("mfq2", persona="a nurse", sample=3)
    assert a.equals(from_spec(SPEC).latent("mfq2", persona="a nurse", sample=3))
    assert not a.equals(backend.latent("mfq2", persona=None, sample=3))
    req = make_request(SPEC, "mfq2", ["mfq2_01"], sample=3, persona="a nurse")
    assert req.persona == "a nurse"
    ans = backend.answer_now(req)
    plain = backend.answer_now(make_request(SPEC, "mfq2", ["mfq2_01"], sample=3))
    assert ans.values["mfq2_01"] != plain.values["mfq2_01"]


def test_parameter_file_overrides(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(
        "model: grm\n"
        "items:\n"
        "  mfq2_01: {a: 2.5, b: [-1.5, -0.5, 0.5, 1.5]}\n"
        "latent:\n"
        "  means: {care: 1.0}\n"
        "  correlation: {care: {equality: 0.4}}\n"
    )
    spec = f"simulated:grm?params={path}"
    backend = from_spec(spec)
    truth = backend.truth("mfq2")
    assert truth.items.loc["mfq2_01", "a"] == 2.5
    assert truth.thresholds["mfq2_01"] == (-1.5, -0.5, 0.5, 1.5)
    assert truth.intercepts["mfq2_01"] == pytest.approx((3.75, 1.25, -1.25, -3.75))
    assert truth.latent_means["care"] == 1.0 and truth.latent_correlation.loc["care", "equality"] == 0.4
    assert parameters_from_spec(spec)["params_sha256"]
    # the same parameters through the direct API (a JSON file) give the same truth
    jpath = tmp_path / "p.json"
    jpath.write_text(
        json.dumps(
            {
                "items": {"mfq2_01": {"a": 2.5, "b": [-1.5, -0.5, 0.5, 1.5]}},
                "latent": {"means": {"care": 1.0}, "correlation": {"care": {"equality": 0.4}}},
            }
        )
    )
    _, t2 = simulate_responses("mfq2", 10, params=jpath)
    assert t2.item_means.to_numpy() == pytest.approx(truth.item_means.to_numpy(), abs=1e-12)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("items:\n  nope: {a: 1}\n", "'nope'"),
        ("items:\n  mfq2_01: {a: 1, b: [1, 0, 2, 3]}\n", "increasing"),
        ("items:\n  mfq2_01: {a: 1, b: [1, 2]}\n", "4 finite numbers"),
        ("items:\n  mfq2_01: {slope: 1}\n", "slope"),
        ("latent:\n  means: {nope: 1}\n", "'nope'"),
        ("model: factor\n", "'factor'"),
        ("colour: red\n", "colour"),
    ],
)
def test_parameter_file_errors(tmp_path, text, needle):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ModelSpecError, match=needle):
        from_spec(f"simulated:grm?params={path}").truth("mfq2")


# ---------------------------------------------------------------------------------------------------------------
# backend and direct API agree; recovery of the generating parameters


def test_backend_and_simulate_responses_agree():
    """Same people, same generating model: responses of simulate_responses are draws from the backend's
    distributions (z test of the summed deviations from the backend's expected values)."""
    spec = "simulated:factor?seed=4&extreme=0.1&random=0.05"
    backend = from_spec(spec)
    n = 300
    data, truth = simulate_responses("mfq30", n, model="factor", seed=4, extreme=0.1, random=0.05)
    for s in (0, 17, 299):
        assert backend.latent("mfq30", sample=s).to_numpy() == pytest.approx(truth.thetas.loc[s].to_numpy())
    for item in ("emotionally", "loyalty"):
        means, variances = [], []
        for s in range(n):
            req = make_request(spec, "mfq30", [item], sample=s)
            ans = backend.answer_now(req)
            dist = by_value(ans, req, item)
            m = sum(v * p for v, p in dist.items())
            means.append(m)
            variances.append(sum(p * (v - m) ** 2 for v, p in dist.items()))
        z = (data[item].to_numpy() - np.array(means)).sum() / math.sqrt(sum(variances))
        assert abs(z) < 4  # two-sided p = 6e-5 for a correct implementation


def _bonferroni_z(m: int, alpha: float = 0.01) -> float:
    """Critical |z| of simultaneous (Bonferroni) 1-alpha intervals for m estimates."""
    return float(stats.norm.ppf(1 - alpha / (2 * m)))


@pytest.mark.parametrize(
    ("instrument", "model", "styles"),
    [
        ("svs56", "grm", {}),
        ("mfq2", "factor", {}),
        # the truth accounts for response styles too (acquiescence integrated as a second normal shift)
        ("pvq_rr", "factor", {"acquiescence": -0.3, "extreme": 0.2, "position": 0.1, "random": 0.1}),
    ],
)
def test_recovers_scale_means_within_sampling_error(instrument, model, styles):
    n = 2000
    data, truth = simulate_responses(instrument, n, model=model, seed=11, **styles)
    ins = load(instrument)
    scores = ins.score(data, exclude=False)[truth.scale_means.index]
    est = scores.mean()
    se = scores.std(ddof=1) / math.sqrt(n)  # analytic SE of a mean of n independent respondents
    z = (est - truth.scale_means) / se
    assert (z.abs() < _bonferroni_z(len(z))).all(), z[z.abs() >= _bonferroni_z(len(z))]


def _one_factor_ml(corr: np.ndarray) -> np.ndarray:
    """One-factor maximum-likelihood loadings of a correlation matrix, as R's ``factanal`` computes them
    (Joreskog, 1967): minimise over the uniquenesses psi the concentrated discrepancy
    F(psi) = sum_{k>1} (g_k - log g_k - 1), g the eigenvalues of psi^-1/2 R psi^-1/2, with factanal's gradient
    diag(L L' + Psi - R) / psi^2 (``stats:::factanal.fit.mle``)."""

    def loadings(psi):
        s = 1 / np.sqrt(psi)
        g, v = np.linalg.eigh(corr * np.outer(s, s))
        g, v = g[::-1], v[:, ::-1]
        return g, np.sqrt(psi) * v[:, 0] * math.sqrt(max(g[0] - 1, 0))

    def objective(psi):
        g, lam = loadings(psi)
        grad = (lam**2 + psi - np.diag(corr)) / psi**2
        return float(np.sum(g[1:] - np.log(g[1:]) - 1)), grad

    p = corr.shape[0]
    start = 1 - 0.5 / np.diag(np.linalg.inv(corr))  # factanal's default start
    res = optimize.minimize(
        objective, start, jac=True, method="L-BFGS-B", bounds=[(0.005, 1.0)] * p, options={"ftol": 1e-14, "gtol": 1e-10}
    )
    lam = loadings(res.x)[1]
    return lam * np.sign(lam.sum())


@pytest.mark.filterwarnings("ignore:'force_all_finite' was renamed:FutureWarning")  # factor_analyzer vs sklearn 1.6+
def test_one_factor_ml_helper_matches_factor_analyzer():
    """The test's own ML fitter agrees with factor_analyzer's on a small matrix (so the recovery test's
    estimator is itself checked)."""
    from factor_analyzer import FactorAnalyzer

    data, _ = simulate_responses("mfq2", 600, model="factor", seed=2, n_factors=1)
    sub = data.iloc[:, :8].to_numpy()
    fa = FactorAnalyzer(n_factors=1, method="ml", rotation=None).fit(sub)
    ref = fa.loadings_[:, 0] * np.sign(fa.loadings_[:, 0].sum())
    # both optimise the same likelihood; 2e-3 allows for the two optimisers' stopping rules
    with threadpool_limits(1):
        ours = _one_factor_ml(np.corrcoef(sub.T))
    assert ours == pytest.approx(ref, abs=2e-3)


@pytest.mark.parametrize("model", ["factor", "grm"])
def test_recovers_loadings_within_sampling_error(model):
    """One-factor ML loadings of n=2000 simulated respondents match the generating model.

    The target is the population value of the estimator: the ML loadings of the model-implied correlation
    matrix of the (discrete) item scores, which :meth:`SimulationTruth.observed_correlation` computes by
    quadrature.  Its sampling SE is simulated from R = 16 further independent samples of n = 2000.  The
    latent-response loadings (the generating parameters) must correlate > 0.9 with the estimates.
    """
    n, R = 2000, 16
    data, truth = simulate_responses("mfq2", n * (R + 1), model=model, seed=5, n_factors=1)
    with threadpool_limits(1):
        population = _one_factor_ml(truth.observed_correlation().to_numpy())
    x = data.to_numpy()
    with threadpool_limits(1):  # small eigenproblems: BLAS threads only contend on a shared machine
        estimates = np.array([_one_factor_ml(np.corrcoef(x[r * n : (r + 1) * n].T)) for r in range(R + 1)])
    first, replicates = estimates[0], estimates[1:]
    se = replicates.std(axis=0, ddof=1)
    crit = float(stats.t.ppf(1 - 0.01 / (2 * len(first)), df=R - 1))  # simultaneous 99% intervals
    assert (np.abs(first - population) < crit * se).all()
    # the mean of the R replicates (n = 32000) is within its own, 4x narrower, interval
    assert (np.abs(replicates.mean(axis=0) - population) < crit * se / math.sqrt(R)).all()
    assert np.corrcoef(first, truth.loadings.to_numpy())[0, 1] > 0.9
