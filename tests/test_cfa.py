"""Tests for psychoml.stats.factor.cfa / invariance and the lavaan-syntax parser.

Golden numbers come from tests/reference/factor/make_reference.R (lavaan 0.6-14,
semTools 0.5-6) on tests/reference/factor/hs1939.csv.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from psychoml.errors import DataError, ValidationError
from psychoml.stats._sem import parse_model
from psychoml.stats.factor import cfa, invariance

REF = Path(__file__).parent / "reference" / "factor"
CFA_REF = json.loads((REF / "cfa_reference.json").read_text())
INV_REF = json.loads((REF / "invariance_reference.json").read_text())
HS = pd.read_csv(REF / "hs1939.csv")
HS_MODEL = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"
FIT_KEYS = {
    "npar": "npar", "chisq": "chisq", "df": "df", "pvalue": "pvalue", "baseline.chisq": "baseline_chisq",
    "baseline.df": "baseline_df", "cfi": "cfi", "tli": "tli", "rmsea": "rmsea", "rmsea.ci.lower": "rmsea_ci_lower",
    "rmsea.ci.upper": "rmsea_ci_upper", "srmr": "srmr", "aic": "aic", "bic": "bic", "logl": "loglik",
}  # fmt: skip
# lavaan stops nlminb with parameters converged to about 1e-5; fit indices are
# second order in that error and agree to ~1e-7 in practice.  1e-5 is 100x
# stricter than the 1e-3 the issue asks for and still above lavaan's own noise.
FIT_TOL = 1e-5
# Parameter estimates, standard errors and standardised values inherit lavaan's
# ~1e-5 convergence error (largest observed difference 2.3e-5): 1e-4.
EST_TOL = 1e-4


def _check_estimates(ours: pd.DataFrame, ref_rows: list[dict], group_labels: list[str] | None = None) -> None:
    ref = pd.DataFrame(ref_rows).rename(columns={"std.lv": "std_lv", "std.all": "std_all"})
    mine = ours.set_index(["lhs", "op", "rhs", "group"])
    assert len(mine) == len(ref)
    for row in ref.itertuples(index=False):
        group = group_labels[int(row.group) - 1] if group_labels else "1"
        got = mine.loc[(row.lhs, row.op, row.rhs, group)]
        for col in ("est", "se", "std_lv", "std_all"):
            assert got[col] == pytest.approx(getattr(row, col), abs=EST_TOL), (row.lhs, row.op, row.rhs, group, col)


# --------------------------------------------------------------------------- golden: single-group CFA


@pytest.mark.parametrize("name", list(CFA_REF["models"]))
def test_cfa_fit_measures_match_lavaan(name: str) -> None:
    ref = CFA_REF["models"][name]
    res = cfa(ref["model"], HS, std_lv=ref["std_lv"])
    assert res.converged
    for theirs, ours in FIT_KEYS.items():
        assert res.fit[ours] == pytest.approx(ref["fit"][theirs], abs=FIT_TOL), theirs


@pytest.mark.parametrize("name", list(CFA_REF["models"]))
def test_cfa_estimates_match_lavaan(name: str) -> None:
    ref = CFA_REF["models"][name]
    res = cfa(ref["model"], HS, std_lv=ref["std_lv"])
    _check_estimates(res.estimates, ref["estimates"])


def test_hs_three_factor_headline_numbers() -> None:
    # The numbers lavaan prints for the textbook model (quoted in issue 5), to their printed precision.
    fit = cfa(HS_MODEL, HS).fit
    printed = {"chisq": 85.306, "cfi": 0.931, "tli": 0.896, "rmsea": 0.092, "srmr": 0.065}
    for key, value in printed.items():
        assert abs(fit[key] - value) <= 0.5 * 10.0 ** -(len(str(value).split(".")[1])), key
    assert fit["df"] == 24 and fit["npar"] == 21


@pytest.mark.parametrize("name", ["hs3", "cross_loading"])
def test_loadings_frames_match_lavaan(name: str) -> None:
    ref = CFA_REF["models"][name]
    res = cfa(ref["model"], HS)
    loads = [r for r in ref["estimates"] if r["op"] == "=~"]
    assert list(res.loadings.columns) == ["visual", "textual", "speed"]
    assert sorted(res.loadings.index) == [f"x{i}" for i in range(1, 10)]  # lavaan's order of first appearance
    for r in loads:
        assert res.loadings.loc[r["rhs"], r["lhs"]] == pytest.approx(r["est"], abs=EST_TOL)
        assert res.standardized_loadings.loc[r["rhs"], r["lhs"]] == pytest.approx(r["std.all"], abs=EST_TOL)
    n_loadings = (res.loadings != 0).to_numpy().sum()
    assert n_loadings == len(loads)


# --------------------------------------------------------------------------- golden: invariance


def test_invariance_table_matches_lavaan_and_semtools() -> None:
    steps = ["configural", "metric", "scalar", "strict"]
    res = invariance(HS_MODEL, HS, group="school", steps=steps)
    assert list(res.table.index) == steps
    assert res.groups == tuple(INV_REF["group_labels"])  # order of appearance, as lavaan
    for step in steps:
        for theirs, ours in FIT_KEYS.items():
            if ours in res.table.columns:
                assert res.table.loc[step, ours] == pytest.approx(INV_REF["steps"][step]["fit"][theirs], abs=FIT_TOL)
    lrt = INV_REF["lrt"]
    np.testing.assert_allclose(res.table["chisq_diff"].to_numpy()[1:], lrt["chisq_diff"][1:], atol=FIT_TOL)
    np.testing.assert_allclose(res.table["df_diff"].to_numpy()[1:], lrt["df_diff"][1:])
    np.testing.assert_allclose(res.table["p_diff"].to_numpy()[1:], lrt["p_value"][1:], rtol=1e-4, atol=1e-10)
    np.testing.assert_allclose(res.table["delta_cfi"].to_numpy()[1:], INV_REF["fit_diff"]["cfi"], atol=FIT_TOL)
    np.testing.assert_allclose(res.table["delta_rmsea"].to_numpy()[1:], INV_REF["fit_diff"]["rmsea"], atol=FIT_TOL)
    assert res.table.loc["configural", ["chisq_diff", "delta_cfi"]].isna().all()


def test_invariance_headline_numbers() -> None:
    # Quoted in issue 5 (configural 115.85 / 48, metric 124.04 / 54, scalar 164.10 / 60); 1e-2 as asked.
    table = invariance(HS_MODEL, HS, group="school").to_frame()
    np.testing.assert_allclose(table["chisq"].to_numpy(), [115.85, 124.04, 164.10], atol=1e-2)
    assert table["df"].tolist() == [48, 54, 60]


@pytest.mark.parametrize("step", ["configural", "metric", "scalar"])
def test_invariance_estimates_match_lavaan(step: str) -> None:
    res = invariance(HS_MODEL, HS, group="school", steps=[step])
    _check_estimates(res.fits[step].estimates, INV_REF["steps"][step]["estimates"], INV_REF["group_labels"])


def test_multigroup_loadings_are_indexed_by_group_and_item() -> None:
    res = cfa(HS_MODEL, HS, group="school", group_equal=["loadings"])
    assert res.loadings.index.names == ["group", "item"]
    assert res.loadings.shape == (18, 3)
    # metric invariance: unstandardised loadings equal across groups, standardised ones need not be
    np.testing.assert_allclose(res.loadings.loc["Pasteur"].to_numpy(), res.loadings.loc["Grant-White"].to_numpy())
    assert not np.allclose(
        res.standardized_loadings.loc["Pasteur"].to_numpy(), res.standardized_loadings.loc["Grant-White"].to_numpy()
    )


# --------------------------------------------------------------------------- behaviour and properties


def test_fit_mapping_is_read_only_and_complete() -> None:
    res = cfa(HS_MODEL, HS)
    assert set(FIT_KEYS.values()) <= set(res.fit)
    with pytest.raises(TypeError):
        res.fit["chisq"] = 0.0  # type: ignore[index]
    assert res.n_obs == 301 and res.groups == ("1",)
    assert "CFAResult(" in repr(res)
    pd.testing.assert_frame_equal(res.to_frame(), res.estimates)


def test_listwise_deletion_of_incomplete_rows() -> None:
    data = HS.copy()
    data.loc[[0, 5, 9], "x4"] = np.nan
    res = cfa(HS_MODEL, data)
    assert res.n_obs == 298
    full = cfa(HS_MODEL, HS.drop(index=[0, 5, 9]))
    assert res.fit["chisq"] == pytest.approx(full.fit["chisq"], rel=1e-10)


def test_marker_and_unit_variance_identification_agree() -> None:
    marker, unit = cfa(HS_MODEL, HS), cfa(HS_MODEL, HS, std_lv=True)
    assert marker.fit["chisq"] == pytest.approx(unit.fit["chisq"], abs=1e-6)
    np.testing.assert_allclose(marker.standardized_loadings, unit.standardized_loadings, atol=1e-5)


def test_orthogonal_factors_fix_covariances() -> None:
    res = cfa(HS_MODEL, HS, orthogonal=True)
    cov = res.estimates[
        (res.estimates.op == "~~")
        & res.estimates.lhs.isin(["visual", "textual"])
        & (res.estimates.lhs != res.estimates.rhs)
    ]
    assert (cov["est"] == 0).all() and not cov["free"].any()
    assert res.fit["df"] == 27


def test_recovers_a_known_model_from_simulated_data() -> None:
    rng = np.random.default_rng(11)
    n = 4000
    phi = np.array([[1.0, 0.4], [0.4, 1.0]])
    f = rng.multivariate_normal([0, 0], phi, size=n)
    lam = np.array([0.8, 0.7, 0.6, 0.75, 0.65, 0.55])
    x = np.column_stack([f[:, i // 3] * lam[i] + rng.normal(0, np.sqrt(1 - lam[i] ** 2), n) for i in range(6)])
    data = pd.DataFrame(x, columns=[f"y{i}" for i in range(1, 7)])
    res = cfa("a =~ y1 + y2 + y3\nb =~ y4 + y5 + y6", data, std_lv=True)
    std = res.standardized_loadings
    got = np.array([std.loc[f"y{i + 1}", "ab"[i // 3]] for i in range(6)])
    np.testing.assert_allclose(got, lam, atol=0.04)  # ~3 standard errors at n = 4000
    assert res.fit["rmsea"] < 0.03 and res.fit["cfi"] > 0.99


@settings(max_examples=10, deadline=None)
@given(scale=st.floats(0.05, 20.0), item=st.sampled_from(["x2", "x3", "x5", "x6", "x8", "x9"]))
def test_rescaling_an_item_rescales_only_its_loading(scale: float, item: str) -> None:
    # ML is scale-invariant: chi-square and standardised solution do not move,
    # the unstandardised loading of the rescaled (non-marker) item scales with it.
    base = cfa(HS_MODEL, HS)
    moved = cfa(HS_MODEL, HS.assign(**{item: HS[item] * scale}))
    assert moved.fit["chisq"] == pytest.approx(base.fit["chisq"], rel=1e-6)
    np.testing.assert_allclose(moved.standardized_loadings, base.standardized_loadings, atol=1e-5)
    np.testing.assert_allclose(moved.loadings.loc[item], base.loadings.loc[item] * scale, rtol=1e-5, atol=1e-8)


# --------------------------------------------------------------------------- parser


def test_parser_reads_lavaan_syntax() -> None:
    stmts = parse_model(
        """
        # a comment line
        f1 =~ x1 + 0.5*x2 + NA*x3 + lab*x4   ! lavaan also allows bang comments
        f1 ~~ 1*f1; x1 ~~ x2
        x1 ~ 1
        """
    )
    got = [(s.lhs, s.op, s.rhs, s.fixed, s.free, s.label, s.line) for s in stmts]
    assert got == [
        ("f1", "=~", "x1", None, False, None, 3),
        ("f1", "=~", "x2", 0.5, False, None, 3),
        ("f1", "=~", "x3", None, True, None, 3),
        ("f1", "=~", "x4", None, False, "lab", 3),
        ("f1", "~~", "f1", 1.0, False, None, 4),
        ("x1", "~~", "x2", None, False, None, 4),
        ("x1", "~1", "", None, False, None, 5),
    ]


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ("visual =~ x1 + + x2", r"line 1: empty term"),
        ("visual x1 x2", r"line 1: no operator"),
        ("visual =~ x1 + x2\nvisual ~ textual", r"line 2: regressions \('~'\) are not supported"),
        ("visual =~ x1 + c(a,b)*x2", r"unsupported modifier 'c\(a,b\)'"),
        ("f1 + f2 =~ x1", r"left-hand side 'f1 \+ f2'"),
        ("visual =~ x1 + x2\nx1 ~~ x2 + x3", r"line 2: '~~' takes one variable"),
        ("visual =~ x1\nv := a*b", r"line 2: operator ':=' is not supported"),
        ("x1 ~~ x2", "no factor defined"),
    ],
)
def test_parser_errors_name_the_line(model: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        cfa(model, HS)


# --------------------------------------------------------------------------- bad input


def test_unknown_variable_is_named_with_its_line() -> None:
    with pytest.raises(ValidationError, match=r"line 4: unknown variable 'x10'"):
        cfa(HS_MODEL + "\nspeed =~ x10", HS)


def test_non_numeric_column() -> None:
    with pytest.raises(DataError, match="non-numeric column.*'school'"):
        cfa("f =~ x1 + x2 + school", HS)


def test_constant_item() -> None:
    with pytest.raises(DataError, match="'x3' are constant"):
        cfa(HS_MODEL, HS.assign(x3=2.0))
    const_in_group = HS.copy()
    const_in_group.loc[const_in_group.school == "Pasteur", "x5"] = 1.0
    with pytest.raises(DataError, match="'x5' are constant.*group 'Pasteur'"):
        cfa(HS_MODEL, const_in_group, group="school")


def test_fewer_observations_than_items() -> None:
    with pytest.raises(DataError, match=r"fewer complete observations \(8\) than observed variables \(9\)"):
        cfa(HS_MODEL, HS.head(8))
    small = HS.assign(g=["a"] * 295 + ["b"] * 6)
    with pytest.raises(DataError, match="group 'b'"):
        cfa(HS_MODEL, small, group="g")


def test_linearly_dependent_items() -> None:
    with pytest.raises(DataError, match="singular.*'total'"):
        cfa("f =~ x1 + x2 + total", HS.assign(total=HS.x1 + HS.x2))


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (HS_MODEL + "\nsolo =~ x1", r"line 4: model is not identified: factor 'solo' has a single indicator 'x1'"),
        ("visual =~ NA*x1 + x2 + x3\ntextual =~ x4 + x5 + x6", r"line 1: .*factor 'visual' has no scale"),
        ("f =~ x1 + x2 + x3\nx1 ~~ x2\nx2 ~~ x3", r"8 free parameters but only 6 sample moments \(df = -2"),
        ("f1 =~ x1 + x2\nf2 =~ x4 + x5 + x6\nf1 ~~ 0*f2", r"information matrix is singular.*f1 =~ x2"),
    ],
)
def test_non_identified_models_say_why(model: str, message: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the reason must come as an error, not as a convergence warning
        with pytest.raises(ValidationError, match=message):
            cfa(model, HS)


def test_single_indicator_factor_with_fixed_residual_is_accepted() -> None:
    res = cfa(HS_MODEL + "\nsolo =~ grade\ngrade ~~ 0*grade", HS.dropna(subset=["grade"]))
    assert res.converged


def test_bad_group_arguments() -> None:
    with pytest.raises(DataError, match="group: 'nope' is not a column"):
        cfa(HS_MODEL, HS, group="nope")
    with pytest.raises(DataError, match="1 distinct value"):
        cfa(HS_MODEL, HS.assign(g="same"), group="g")
    with pytest.raises(ValidationError, match="group_equal: unknown class"):
        cfa(HS_MODEL, HS, group="school", group_equal=["loadingz"])
    with pytest.raises(DataError, match="steps"):
        invariance(HS_MODEL, HS, group="school", steps=["partial"])
