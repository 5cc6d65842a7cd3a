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
    # a structure in a different (shuffled) order is a misfit for the theoretical order
    shuffled = simulate_circumplex(600, 3)
    rng = np.random.default_rng(0)
    shuffled.columns = list(rng.permutation(list(SCHWARTZ_ORDER)))
    res2 = circumplex(shuffled, n_permutations=500)
    assert res2.correspondence_index < res.correspondence_index + 0.5 and res2.order_agreement < 1.0


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
