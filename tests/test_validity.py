"""Validity statistics: golden numbers against semTools/cmdscale, simulation checks and hand computations."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from psychoml.errors import DataError
from psychoml.stats.validity import (
    SCHWARTZ_ORDER,
    circumplex,
    classical_mds,
    convergent_validity,
    criterion_validity,
    htmt,
    known_groups,
    mtmm,
    position_bias,
    response_styles,
    value_action_gap,
)

REF = Path(__file__).parent / "reference" / "validity"
HS = pd.read_csv(REF / "hs.csv")
R = json.loads((REF / "reference.json").read_text())


def test_htmt_matches_semtools():
    res = htmt(HS, constructs={"visual": ["x1", "x2", "x3"], "textual": ["x4", "x5", "x6"], "speed": ["x7", "x8", "x9"]})
    ref = np.array(R["htmt"])
    got = res.matrix.loc[R["htmt_names"], R["htmt_names"]].to_numpy()
    off = ~np.eye(3, dtype=bool)
    # same arithmetic on the same correlations: agreement to floating-point precision
    np.testing.assert_allclose(got[off], ref[off], atol=1e-10)
    assert res.max_htmt == pytest.approx(ref[off].max())


def test_classical_mds_matches_cmdscale_up_to_axis_sign():
    d = np.sqrt(2 * (1 - HS.corr().to_numpy()))
    pts, eig = classical_mds(d, 2)
    ref = np.array(R["cmdscale_points"])
    for k in range(2):
        sign = np.sign(pts[:, k] @ ref[:, k])
        np.testing.assert_allclose(sign * pts[:, k], ref[:, k], atol=1e-10)
    np.testing.assert_allclose(eig[:5], R["cmdscale_eig"], atol=1e-10)


def simulate_circumplex(n: int, seed: int, circular: bool = True) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    k = len(SCHWARTZ_ORDER)
    if circular:
        theta = 2 * np.pi * np.arange(k) / k
        corr = 0.1 + 0.6 * np.cos(theta[:, None] - theta[None, :])
        np.fill_diagonal(corr, 1.0)
    else:
        corr = np.eye(k)
    x = rng.multivariate_normal(np.zeros(k), corr, size=n)
    return pd.DataFrame(x, columns=list(SCHWARTZ_ORDER))


def test_circumplex_recovers_theoretical_order():
    res = circumplex(simulate_circumplex(600, 1), n_permutations=500)
    assert res.recovered_order == SCHWARTZ_ORDER
    assert res.order_agreement == 1.0
    assert res.correspondence_index > 0.8 and res.p_value < 0.01 and res.fits
    assert set(res.to_frame().columns) == {"dim1", "dim2", "angle"}


def test_circumplex_reports_misfit_without_structure():
    res = circumplex(simulate_circumplex(600, 2, circular=False), n_permutations=500)
    assert not res.fits
    assert abs(res.correspondence_index) < 0.2 and res.p_value > 0.05
    # a circumplex in another (shuffled) order is a misfit for the theoretical order: the same data fit
    # perfectly under their own order (CI ~ 1) but not under Schwartz's (CI near 0, RTHOR not significant)
    shuffled = simulate_circumplex(600, 3)
    assert circumplex(shuffled, n_permutations=100).correspondence_index > 0.95
    rng = np.random.default_rng(0)
    shuffled.columns = list(rng.permutation(list(SCHWARTZ_ORDER)))
    res2 = circumplex(shuffled, n_permutations=500)
    assert not res2.fits and res2.correspondence_index < 0.3 and res2.p_value > 0.05
    assert res2.order_agreement < 1.0 and res2.recovered_order != SCHWARTZ_ORDER


def test_circumplex_bad_input():
    with pytest.raises(DataError, match="missing column"):
        circumplex(HS)
    with pytest.raises(DataError, match="at least four"):
        circumplex(HS, order=["x1", "x2", "x3"])


def simulate_mtmm(n: int, method_weight: float, seed: int = 0) -> tuple[pd.DataFrame, dict, dict]:
    rng = np.random.default_rng(seed)
    traits = rng.normal(size=(n, 3))
    methods = rng.normal(size=(n, 2))
    cols, tr, me = {}, {}, {}
    for t in range(3):
        for m in range(2):
            name = f"T{t}_M{m}"
            cols[name] = traits[:, t] + method_weight * methods[:, m] + 0.5 * rng.normal(size=n)
            tr[name], me[name] = f"T{t}", f"M{m}"
    return pd.DataFrame(cols), tr, me


def test_mtmm_campbell_fiske_trait_dominated():
    data, tr, me = simulate_mtmm(500, 0.3)
    res = mtmm(data, traits=tr, methods=me)
    crit = res.criteria["proportion"]
    assert crit.iloc[0] == 1.0 and crit.iloc[1] == 1.0 and crit.iloc[2] == 1.0
    assert len(res.validity) == 3 and res.mean_convergent > 0.7
    assert res.mean_convergent > res.mean_heterotrait_monomethod > res.mean_heterotrait_heteromethod - 0.1


def test_mtmm_method_dominated_fails_criterion_3():
    data, tr, me = simulate_mtmm(500, 3.0)
    res = mtmm(data, traits=tr, methods=me)
    assert res.criteria["proportion"].iloc[2] == 0.0
    with pytest.raises(DataError, match="no entry"):
        mtmm(data, traits={k: v for k, v in list(tr.items())[1:]}, methods=me)


def test_convergent_validity_fisher_ci():
    res = convergent_validity(HS, pairs=[("x1", "x2"), ("x4", "x5")])
    t = res.to_frame()
    r = HS["x1"].corr(HS["x2"])
    z = np.arctanh(r)
    half = 1.959963984540054 / math.sqrt(len(HS) - 3)
    assert t.loc[0, "r"] == pytest.approx(r)
    assert (t.loc[0, "ci_lower"], t.loc[0, "ci_upper"]) == pytest.approx((np.tanh(z - half), np.tanh(z + half)))
    with pytest.raises(DataError, match="column 'nope'"):
        convergent_validity(HS, pairs=[("x1", "nope")])


def test_known_groups_hedges_g_by_hand():
    data = pd.DataFrame({"g": ["a"] * 4 + ["b"] * 4, "y": [1, 2, 3, 4, 3, 4, 5, 6]})
    res = known_groups(data, group="g", reference="a")
    row = res.table.iloc[0]
    # means 4.5 vs 2.5, pooled sd = sd of 1..4 = 1.29099; d = 1.549193; J = 1 - 3/(4*8-9) = 0.869565
    assert row["hedges_g"] == pytest.approx(2 / 1.2909944487 * (1 - 3 / 23), rel=1e-9)
    assert row["ci_lower"] < row["hedges_g"] < row["ci_upper"]
    assert res.anova.loc["y", "eta_squared"] == pytest.approx(8 / (8 + 10))
    with pytest.raises(DataError, match="no column 'grp'"):
        known_groups(data, group="grp")


def test_criterion_validity_by_hand():
    model = pd.DataFrame({"PDI": [10.0, 20, 30, 40]}, index=["A", "B", "C", "D"])
    human = pd.DataFrame({"PDI": [12.0, 18, 35, 41], "IDV": [1, 2, 3, 4]}, index=["A", "B", "C", "E"])
    res = criterion_validity(model, human)
    row = res.table.loc["PDI"]
    assert row["n_groups"] == 3
    assert row["mad"] == pytest.approx((2 + 2 + 5) / 3)
    assert row["r"] == pytest.approx(np.corrcoef([10, 20, 30], [12, 18, 35])[0, 1])
    with pytest.raises(DataError, match="only 1 group"):
        criterion_validity(model.iloc[:1], human)


def test_value_action_gap_counterbalanced():
    rows = []
    for scen in range(20):
        for pos in (0, 1):
            rows.append({"value": "benevolence", "scenario": scen, "aligned_position": pos, "chose_aligned": 1})
            # a respondent always choosing the first option: aligned only when aligned is first
            rows.append({"value": "power", "scenario": scen, "aligned_position": pos, "chose_aligned": int(pos == 0)})
    actions = pd.DataFrame(rows)
    stated = pd.DataFrame({"value": ["benevolence", "power"], "importance": [7.0, 3.0]})
    res = value_action_gap(stated, actions, scale_min=-1, scale_max=7, n_boot=200)
    t = res.table.set_index("value")
    assert t.loc["benevolence", "gap"] == pytest.approx(0.0)
    assert t.loc["power", "action_rate"] == pytest.approx(0.5)  # position bias cancels
    assert t.loc["power", "gap"] == pytest.approx(0.5 - 0.5)
    assert t.loc["benevolence", "agreement"] == 1.0
    assert res.position_balance == 0.5
    with pytest.raises(DataError, match="chose_aligned must be 0 or 1"):
        value_action_gap(stated, actions.assign(chose_aligned=2), scale_min=-1, scale_max=7)


def test_response_styles():
    data = pd.DataFrame({"a": [5, 1, 3, 5], "b": [5, 2, 3, 1], "c": [5, 1, 3, 5], "d": [5, 5, 3, 1]})
    res = response_styles(data, scale_min=1, scale_max=5, keys={"a": 1, "b": -1, "c": 1, "d": -1})
    t = res.table
    assert t["straightlining"].tolist() == [True, False, True, False]
    assert t.loc[0, "extreme"] == 1.0 and t.loc[2, "midpoint"] == 1.0
    assert t.loc[0, "acquiescence"] == 2.0  # agrees with both directions: (5 + 5)/2 - 3
    assert t.loc[3, "acquiescence"] == 0.0  # consistent responder: (5 + 1)/2 - 3
    assert t.loc[1, "longest_string"] == 1 and t.loc[0, "longest_string"] == 4
    with pytest.raises(DataError, match="both directions"):
        response_styles(data, scale_min=1, scale_max=5, keys={"a": 1})


def test_position_bias():
    long = pd.DataFrame({
        "item": ["i1", "i1", "i2", "i2", "i3", "i3"],
        "option_order": ["published", "reversed"] * 3,
        "value": [2.0, 3.0, 4.0, 5.0, 1.0, 2.0],
    })
    res = position_bias(long)
    assert res.shift == pytest.approx(1.0)
    assert res.table.loc["i2", "corrected"] == 4.5
    with pytest.raises(DataError, match="needs both"):
        position_bias(long[long.option_order == "published"])


def test_value_action_gap_per_persona_with_intervals():
    rng = np.random.default_rng(3)
    rows = []
    # persona "a" acts on benevolence 90% of the time, persona "b" 30%; both state the same importance
    for persona, rate in (("a", 0.9), ("b", 0.3)):
        for scen in range(30):
            for pos in (0, 1):
                rows.append({"value": "benevolence", "persona": persona, "scenario": scen, "aligned_position": pos,
                             "chose_aligned": int(rng.random() < rate)})
    actions = pd.DataFrame(rows)
    stated = pd.DataFrame({"value": ["benevolence"] * 2, "persona": ["a", "b"], "importance": [6.0, 6.0]})
    res = value_action_gap(stated, actions, scale_min=-1, scale_max=7, by=("value", "persona"), n_boot=300)
    t = res.table.set_index("persona")
    for p in ("a", "b"):
        cell = actions[actions.persona == p]
        rate = cell.groupby("aligned_position")["chose_aligned"].mean().mean()
        assert t.loc[p, "gap"] == pytest.approx(7 / 8 - rate)  # stated (6 + 1) / 8 minus the balanced action rate
        assert t.loc[p, "gap_ci_lower"] < t.loc[p, "gap"] < t.loc[p, "gap_ci_upper"]
        # the percentile interval has about the binomial width 2 * 1.96 * sqrt(r(1 - r) / 60) (60 independent
        # choices per persona); 30% leeway for bootstrap noise with 300 resamples
        width = t.loc[p, "gap_ci_upper"] - t.loc[p, "gap_ci_lower"]
        assert width == pytest.approx(2 * 1.959964 * math.sqrt(rate * (1 - rate) / 60), rel=0.3)
    # the persona that does not act on its stated value has the larger gap, and the intervals separate them
    assert t.loc["b", "gap_ci_lower"] > t.loc["a", "gap_ci_upper"]
    with pytest.raises(DataError, match="no importance"):
        value_action_gap(stated[stated.persona == "a"], actions, scale_min=-1, scale_max=7, by=("value", "persona"))


def test_position_corrected_answers_per_respondent():
    long = pd.DataFrame({
        "respondent": ["r1"] * 4 + ["r2"] * 3,
        "item": ["i1", "i1", "i2", "i2", "i1", "i1", "i2"],
        "option_order": ["published", "reversed"] * 3 + ["published"],
        "value": [2.0, 4.0, 1.0, 2.0, 3.0, 5.0, 4.0],
    })
    res = position_bias(long, respondent=["respondent"])
    c = res.corrected_answers
    assert c.loc["r1", "i1"] == 3.0 and c.loc["r1", "i2"] == 1.5 and c.loc["r2", "i1"] == 4.0
    assert np.isnan(c.loc["r2", "i2"])  # answered under one order only: no correction possible
    assert position_bias(long).corrected_answers.empty
    with pytest.raises(DataError, match="no column 'who'"):
        position_bias(long, respondent=["who"])


def test_response_styles_say_whether_the_correction_is_balanced():
    data = pd.DataFrame({"a": [5, 1, 3], "b": [5, 2, 3], "c": [4, 1, 2]})
    assert response_styles(data, scale_min=1, scale_max=5, keys={"a": 1, "b": -1}).balanced
    plain = response_styles(data, scale_min=1, scale_max=5)
    assert not plain.balanced
    # without keys the correction ipsatises: each row's mean is moved to the scale midpoint
    np.testing.assert_allclose(plain.corrected.mean(axis=1), 3.0, atol=1e-12)


BAD_TEXT = pd.DataFrame({"x1": [1.0, 2, 3, 4, 5], "x2": [2.0, 1, 4, 3, 5], "x3": ["a", "b", "c", "d", "e"],
                         "x4": [5.0, 3, 4, 1, 2]})


@pytest.mark.parametrize("call", [
    lambda d: htmt(d, constructs={"f": ["x1", "x2"], "g": ["x3", "x4"]}),
    lambda d: mtmm(d, traits={"x1": "A", "x2": "B", "x3": "A", "x4": "B"},
                   methods={"x1": "m", "x2": "m", "x3": "n", "x4": "n"}),
    lambda d: circumplex(d, order=["x1", "x2", "x3", "x4"], n_permutations=10),
    lambda d: known_groups(d.assign(g=["a", "a", "b", "b", "b"]), group="g", scores=["x1", "x3"]),
    lambda d: convergent_validity(d, pairs=[("x1", "x3")]),
])
def test_non_numeric_columns_are_named(call):
    with pytest.raises(DataError, match="non-numeric column.*'x3'"):
        call(BAD_TEXT)


@pytest.mark.parametrize("call", [
    lambda d: htmt(d, constructs={"f": ["x1", "x2"], "g": ["x3", "x4"]}),
    lambda d: mtmm(d, traits={"x1": "A", "x2": "B", "x3": "A", "x4": "B"},
                   methods={"x1": "m", "x2": "m", "x3": "n", "x4": "n"}),
    lambda d: circumplex(d, order=["x1", "x2", "x3", "x4"], n_permutations=10),
    lambda d: convergent_validity(d, pairs=[("x1", "x3")]),
])
def test_constant_items_are_named(call):
    with pytest.raises(DataError, match="'x3'.*constant"):
        call(BAD_TEXT.assign(x3=2.0))


def test_too_few_observations_get_a_message_not_a_nan_matrix():
    few = BAD_TEXT.assign(x3=[1.0, 3, 2, 5, 4]).iloc[:3]
    with pytest.raises(DataError, match="fewer complete rows \\(3\\) than variables \\(4\\)"):
        circumplex(few, order=["x1", "x2", "x3", "x4"], n_permutations=10)
    with pytest.raises(DataError, match="share only 3 observation"):
        mtmm(few, traits={"x1": "A", "x2": "B", "x3": "A", "x4": "B"},
             methods={"x1": "m", "x2": "m", "x3": "n", "x4": "n"})
    with pytest.raises(DataError, match="only 2 observation"):
        htmt(few.iloc[:2].assign(x1=[1.0, 2]), constructs={"f": ["x1", "x2"], "g": ["x3", "x4"]})


def test_value_action_gap_bad_input_and_uncounterbalanced_cells():
    actions = pd.DataFrame({"value": ["b"] * 4, "scenario": [0, 0, 1, 1], "aligned_position": [0, 1, 0, 1],
                            "chose_aligned": [1, 0, 1, 1]})
    stated = pd.DataFrame({"value": ["b"], "importance": [5.0]})
    with pytest.raises(DataError, match="stated: non-numeric column 'importance'"):
        value_action_gap(stated.assign(importance="high"), actions, scale_min=1, scale_max=7)
    with pytest.raises(DataError, match="actions: non-numeric column 'chose_aligned'"):
        value_action_gap(stated, actions.assign(chose_aligned=["yes", "no"] * 2), scale_min=1, scale_max=7)
    with pytest.raises(DataError, match="actions: column 'aligned_position' has 1 missing"):
        value_action_gap(stated, actions.assign(aligned_position=[0, 1, 0, np.nan]), scale_min=1, scale_max=7)
    with pytest.raises(DataError, match="outside 1..7"):
        value_action_gap(stated.assign(importance=9.0), actions, scale_min=1, scale_max=7)
    # the aligned action always shown first: the rate is not position-free, and the result says so
    with pytest.warns(UserWarning, match="one position only.*'value': 'b'"):
        res = value_action_gap(stated, actions.assign(aligned_position=0), scale_min=1, scale_max=7, n_boot=50)
    assert np.isnan(res.table.loc[0, "rate_aligned_second"]) and res.position_balance == 0.0
