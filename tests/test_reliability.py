"""Tests of psychoml.stats.reliability: golden numbers from R's psych, unit tests, properties.

Golden numbers come from tests/reference/reliability/make_reference.R (psych 2.2.9,
GPArotation 2022.10.2, lme4 1.1.31), which also wrote the data sets read here.
"""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pingouin
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from psychoml.errors import DataError
from psychoml.stats.reliability import (
    CronbachAlphaResult,
    cronbach_alpha,
    guttman_lambda6,
    icc,
    inter_variant_reliability,
    omega,
    split_half,
    test_retest,
)

REF_DIR = Path(__file__).parent / "reference" / "reliability"


@functools.cache
def reference() -> dict:
    return json.loads((REF_DIR / "reference.json").read_text())


@functools.cache
def _csv(name: str) -> pd.DataFrame:
    return pd.read_csv(REF_DIR / name)


def scale_data(entry: dict) -> pd.DataFrame:
    x = _csv(entry["file"])[entry["items"]]
    return x[x.notna().any(axis=1)]


def reversed_items(x: pd.DataFrame, keys: list[int]) -> pd.DataFrame:
    """Reverse-keyed items reflected as psych::reverse.code does (global min + max - x)."""
    out = x.astype(float).copy()
    lo, hi = np.nanmin(out.to_numpy()), np.nanmax(out.to_numpy())
    for col, k in zip(out.columns, keys):
        if k < 0:
            out[col] = lo + hi - out[col]
    return out


SCALES = sorted(reference()["scales"])
OMEGA_CASES = sorted(reference()["omega"])
ODD_SCALES = [s for s in SCALES if len(reference()["scales"][s]["items"]) % 2 == 1]
EVEN_SCALES = [s for s in SCALES if len(reference()["scales"][s]["items"]) % 2 == 0]

# Closed-form statistics (alpha, lambda-6, split halves, ANOVA ICCs) repeat R's arithmetic;
# they differ only by floating-point rounding, so 1e-9 is generous.
CLOSED_FORM_TOL = 1e-9
# Iterative fits stop where the optimiser's tolerance lets them: R's L-BFGS-B (factr 1e7) for
# minres and GPArotation's 1e-5 gradient norm for oblimin leave R's omegas ~1e-5 from the optimum.
ITERATIVE_TOL = 1e-4


# --------------------------------------------------------------------------- golden: alpha


def test_reference_covers_the_three_required_data_sets() -> None:
    files = {reference()["scales"][s]["file"] for s in SCALES}
    assert files == {"bfi.csv", "ability.csv", "likert7.csv"}
    # pandas 3's stack() keeps missing cells; the ability set has some.
    assert set(_csv("ability.csv").stack().dropna().unique()) <= {0, 1}
    assert set(_csv("likert7.csv").stack().dropna().unique()) <= set(range(1, 8))


@pytest.mark.parametrize("scale", SCALES)
def test_alpha_matches_psych(scale: str) -> None:
    entry = reference()["scales"][scale]
    ref = entry["alpha"]
    res = cronbach_alpha(scale_data(entry), keys=entry["keys"])
    assert res.alpha == pytest.approx(ref["raw"], abs=CLOSED_FORM_TOL)
    assert res.std_alpha == pytest.approx(ref["std"], abs=CLOSED_FORM_TOL)
    assert res.ci == pytest.approx((ref["feldt_lower"], ref["feldt_upper"]), abs=CLOSED_FORM_TOL)
    items = res.to_frame()
    np.testing.assert_allclose(items["alpha_if_deleted"], ref["drop_raw"], atol=CLOSED_FORM_TOL)
    np.testing.assert_allclose(items["std_alpha_if_deleted"], ref["drop_std"], atol=CLOSED_FORM_TOL)
    np.testing.assert_allclose(items["r_drop"], ref["r_drop"], atol=CLOSED_FORM_TOL)
    np.testing.assert_allclose(items["r_total"], ref["raw_r"], atol=CLOSED_FORM_TOL)
    assert res.n_obs == entry["n_rows"]


@pytest.mark.parametrize("scale", SCALES)
def test_lambda6_matches_psych(scale: str) -> None:
    entry = reference()["scales"][scale]
    x = scale_data(entry)
    assert guttman_lambda6(x, keys=entry["keys"]).lambda6 == pytest.approx(entry["alpha"]["G6"], abs=CLOSED_FORM_TOL)
    assert guttman_lambda6(x, keys=entry["keys"]).lambda6 == pytest.approx(
        entry["split_half"]["lambda6"], abs=CLOSED_FORM_TOL
    )
    covariance = guttman_lambda6(x, keys=entry["keys"], standardized=False)
    assert covariance.lambda6 == pytest.approx(entry["split_half_covar_lambda6"], abs=CLOSED_FORM_TOL)


# --------------------------------------------------------------------------- golden: split half


@pytest.mark.parametrize("scale", SCALES)
def test_split_half_psych_method_matches_psych(scale: str) -> None:
    entry = reference()["scales"][scale]
    ref = entry["split_half"]
    res = split_half(scale_data(entry), keys=entry["keys"], method="psych")
    assert (res.min, res.mean, res.max) == pytest.approx((ref["min"], ref["mean"], ref["max"]), abs=CLOSED_FORM_TOL)
    assert res.n_splits == ref["n_raw"]


@pytest.mark.parametrize("scale", EVEN_SCALES)
def test_split_half_all_splits_equal_psych_for_even_item_counts(scale: str) -> None:
    entry = reference()["scales"][scale]
    ref = entry["split_half"]
    res = split_half(scale_data(entry), keys=entry["keys"])
    assert res.method == "all"
    assert (res.min, res.mean, res.max) == pytest.approx((ref["min"], ref["mean"], ref["max"]), abs=CLOSED_FORM_TOL)
    # The mean over every split of standardised items is standardised alpha.
    assert res.mean == pytest.approx(entry["alpha"]["std"], abs=CLOSED_FORM_TOL)


@pytest.mark.parametrize("scale", ODD_SCALES)
def test_split_half_all_splits_contain_psych_subset_for_odd_item_counts(scale: str) -> None:
    entry = reference()["scales"][scale]
    ref = entry["split_half"]
    k = len(entry["items"])
    res = split_half(scale_data(entry), keys=entry["keys"], method="all")
    assert res.n_splits == math.comb(k, k // 2)
    # psych visits only the first half of the splits, so ours are at least as extreme ...
    assert res.min <= ref["min"] + CLOSED_FORM_TOL
    assert res.max >= ref["max"] - CLOSED_FORM_TOL
    # ... and every split value psych reports is one of ours.
    ours = _all_split_values(scale_data(entry), entry["keys"])
    for value in ref["raw"]:
        assert np.min(np.abs(ours - value)) < CLOSED_FORM_TOL


def _all_split_values(x: pd.DataFrame, keys: list[int]) -> np.ndarray:
    r = x.cov().to_numpy() * np.outer(keys, keys)
    d = np.sqrt(np.diag(r))
    r = r / np.outer(d, d)
    k = r.shape[0]
    values = []
    import itertools

    for half in itertools.combinations(range(k), k // 2):
        a = np.zeros(k)
        a[list(half)] = 1
        values.append(4 * a @ r @ (1 - a) / r.sum())
    return np.array(values)


# --------------------------------------------------------------------------- golden: omega


@pytest.mark.parametrize("case", OMEGA_CASES)
def test_omega_matches_psych(case: str) -> None:
    entry = reference()["omega"][case]
    x = scale_data(entry)
    res = omega(x, n_factors=entry["n_factors"], keys=entry["keys"])
    assert res.omega_hierarchical == pytest.approx(entry["omega_h"], abs=ITERATIVE_TOL)
    assert res.omega_total == pytest.approx(entry["omega_tot"], abs=ITERATIVE_TOL)
    np.testing.assert_allclose(res.loadings["g"], entry["g_loadings"], atol=ITERATIVE_TOL)
    np.testing.assert_allclose(res.loadings["h2"], entry["h2"], atol=ITERATIVE_TOL)
    assert res.alpha == pytest.approx(entry["alpha"], abs=CLOSED_FORM_TOL)


@pytest.mark.parametrize("scale", SCALES)
def test_one_factor_omega_matches_psych(scale: str) -> None:
    entry = reference()["scales"][scale]
    ref = entry["omega_1f"]
    res = omega(scale_data(entry), n_factors=1, keys=entry["keys"])
    assert res.omega_hierarchical == pytest.approx(ref["omega_h"], abs=ITERATIVE_TOL)
    assert res.omega_total == pytest.approx(ref["omega_tot"], abs=ITERATIVE_TOL)


def test_omega_flip_reverses_items_with_negative_general_loading() -> None:
    entry = reference()["omega"]["likert7_nf3_flip"]
    res = omega(scale_data(entry), n_factors=3)
    # Items L03, L07 and L11 were simulated reverse keyed.
    assert [i for i, k in enumerate(res.keys) if k < 0] == [2, 6, 10]
    assert (res.loadings["g"] > 0).all()
    assert list(res.loadings.columns) == ["g", "F1*", "F2*", "F3*", "h2", "u2", "p2"]
    assert res.loadings.index[2] == "L03-"


def test_omega_hierarchical_not_above_total_and_limit_is_their_ratio() -> None:
    entry = reference()["omega"]["ability_nf3"]
    res = omega(scale_data(entry), n_factors=3)
    assert 0 < res.omega_hierarchical <= res.omega_total <= 1
    assert res.omega_limit == pytest.approx(res.omega_hierarchical / res.omega_total)
    assert res.phi.shape == (3, 3)


def test_omega_rejects_unidentified_factor_counts() -> None:
    x = scale_data(reference()["scales"]["bfi_agree"])
    with pytest.raises(DataError, match="n_factors"):
        omega(x, n_factors=3)
    with pytest.raises(DataError, match="n_factors"):
        omega(x, n_factors=0)


# --------------------------------------------------------------------------- golden: ICC


# lme4 stops at its own tolerance (~1e-6 relative in the variance components); ours is tighter.
REML_TOL = 1e-5


@pytest.mark.parametrize("scale", SCALES)
def test_icc_reml_matches_psych_default(scale: str) -> None:
    entry = reference()["scales"][scale]
    ref = entry["icc_lmer"]
    table = icc(reversed_items(scale_data(entry), entry["keys"])).to_frame()
    assert list(table.index) == ["ICC1", "ICC2", "ICC3", "ICC1k", "ICC2k", "ICC3k"]
    np.testing.assert_allclose(table["icc"], ref["icc"], atol=REML_TOL)
    np.testing.assert_allclose(table["ci_lower"], ref["lower"], atol=REML_TOL)
    np.testing.assert_allclose(table["ci_upper"], ref["upper"], atol=REML_TOL)
    np.testing.assert_allclose(table["F"], ref["F"], rtol=REML_TOL)
    np.testing.assert_array_equal(table["df1"], ref["df1"])
    np.testing.assert_array_equal(table["df2"], ref["df2"])


@pytest.mark.parametrize("scale", SCALES)
def test_icc_anova_listwise_matches_psych_aov(scale: str) -> None:
    entry = reference()["scales"][scale]
    ref = entry["icc_aov_listwise"]
    table = icc(reversed_items(scale_data(entry), entry["keys"]), method="anova", missing="listwise").to_frame()
    np.testing.assert_allclose(table["icc"], ref["icc"], atol=CLOSED_FORM_TOL)
    np.testing.assert_allclose(table["ci_lower"], ref["lower"], atol=CLOSED_FORM_TOL)
    np.testing.assert_allclose(table["ci_upper"], ref["upper"], atol=CLOSED_FORM_TOL)
    np.testing.assert_allclose(table["p"], ref["p"], atol=CLOSED_FORM_TOL)


def test_icc_shrout_fleiss_published_values() -> None:
    # Shrout & Fleiss (1979), Psychol. Bull. 86, Table 4: the values are printed to two decimals.
    res = icc(_csv("shrout_fleiss.csv"))
    published = {"ICC1": 0.17, "ICC2": 0.29, "ICC3": 0.71, "ICC1k": 0.44, "ICC2k": 0.62, "ICC3k": 0.91}
    for form, value in published.items():
        assert res[form] == pytest.approx(value, abs=0.005)
    ref = reference()["icc"]["shrout_fleiss"]
    np.testing.assert_allclose(res.to_frame()["icc"], ref["icc"], atol=REML_TOL)
    np.testing.assert_allclose(res.to_frame()["ci_lower"], ref["lower"], atol=REML_TOL)
    np.testing.assert_allclose(res.to_frame()["ci_upper"], ref["upper"], atol=REML_TOL)


def test_icc_boundary_reml_matches_lmer_and_anova_matches_aov() -> None:
    x = _csv("icc_boundary.csv")
    reml = icc(x)
    assert reml.variance_components["rater"] == 0.0
    np.testing.assert_allclose(reml.to_frame()["icc"], reference()["icc"]["boundary"]["icc"], atol=REML_TOL)
    np.testing.assert_allclose(reml.to_frame()["ci_lower"], reference()["icc"]["boundary"]["lower"], atol=REML_TOL)
    anova = icc(x, method="anova")
    np.testing.assert_allclose(anova.to_frame()["icc"], reference()["icc"]["boundary_anova"]["icc"], atol=CLOSED_FORM_TOL)
    assert not np.allclose(anova.to_frame()["icc"], reml.to_frame()["icc"])


def test_icc_anova_agrees_with_pingouin() -> None:
    rng = np.random.default_rng(3)
    x = pd.DataFrame(rng.normal(size=(40, 1)) + rng.normal(size=(40, 5)) + np.arange(5) * 0.3)
    ours = icc(x, method="anova").to_frame()
    long = x.reset_index().melt(id_vars="index", var_name="rater", value_name="rating")
    theirs = pingouin.intraclass_corr(long, targets="index", raters="rater", ratings="rating").set_index("Type")
    # pingouin's forms: ICC(1,1) ICC(A,1) ICC(C,1) ICC(1,k) ICC(A,k) ICC(C,k) = psych's ICC1 ... ICC3k.
    np.testing.assert_allclose(ours["icc"].to_numpy(), theirs["ICC"].to_numpy(), atol=1e-12)
    # pingouin rounds its intervals to two decimals.
    lower = np.array([ci[0] for ci in theirs["CI95"]])
    np.testing.assert_allclose(ours["ci_lower"].to_numpy(), lower, atol=0.006)


def test_icc_missing_rules() -> None:
    x = _csv("shrout_fleiss.csv").astype(float)
    x.iloc[0, 1] = np.nan
    with pytest.raises(DataError, match="method='anova' needs complete rows"):
        icc(x, method="anova")
    listwise = icc(x, method="anova", missing="listwise")
    assert listwise.n_targets == 5
    available = icc(x)
    assert available.n_targets == 6 and available.method == "reml"


# --------------------------------------------------------------------------- unit: alpha


def _likert(n: int = 300, k: int = 6, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    t = rng.normal(size=(n, 1))
    x = np.clip(np.round(3 + t + rng.normal(size=(n, k))), 1, 5)
    return pd.DataFrame(x, columns=[f"q{j + 1}" for j in range(k)])


def test_alpha_agrees_with_pingouin_and_its_feldt_interval() -> None:
    x = _likert()
    ours = cronbach_alpha(x)
    value, ci = pingouin.cronbach_alpha(x)
    assert ours.alpha == pytest.approx(value, abs=1e-12)
    # pingouin rounds its interval to three decimals.
    assert ours.ci == pytest.approx(tuple(ci), abs=5.1e-4)
    assert isinstance(ours, CronbachAlphaResult)
    assert "alpha=" in repr(ours)


def test_alpha_keys_equivalent_forms_and_reversal() -> None:
    x = _likert()
    flipped = x.copy()
    flipped["q2"] = 6 - flipped["q2"]
    base = cronbach_alpha(x)
    for keys in ([1, -1, 1, 1, 1, 1], {"q2": -1}, ["-q2"], np.array([1, -1, 1, 1, 1, 1])):
        res = cronbach_alpha(flipped, keys=keys)
        assert res.alpha == pytest.approx(base.alpha, abs=1e-12)
        assert res.to_frame()["r_drop"].to_numpy() == pytest.approx(base.to_frame()["r_drop"].to_numpy(), abs=1e-12)
    assert cronbach_alpha(flipped).alpha < base.alpha
    assert cronbach_alpha(flipped, keys={"q2": -1}).to_frame().loc["q2", "key"] == -1


def test_alpha_item_table_by_definition() -> None:
    x = _likert(k=4)
    items = cronbach_alpha(x).to_frame()
    for col in x.columns:
        rest = x.drop(columns=col)
        assert items.loc[col, "alpha_if_deleted"] == pytest.approx(cronbach_alpha(rest).alpha, abs=1e-12)
        assert items.loc[col, "r_drop"] == pytest.approx(x[col].corr(rest.sum(axis=1)), abs=1e-12)
        assert items.loc[col, "r_total"] == pytest.approx(x[col].corr(x.mean(axis=1)), abs=1e-12)


def test_alpha_missing_rules() -> None:
    x = _likert()
    x.iloc[::7, 2] = np.nan
    listwise = cronbach_alpha(x, missing="listwise")
    assert listwise.alpha == pytest.approx(cronbach_alpha(x.dropna()).alpha, abs=1e-12)
    assert listwise.n_obs == len(x.dropna())
    pairwise = cronbach_alpha(x)
    assert pairwise.n_obs == len(x)
    assert pairwise.alpha != pytest.approx(listwise.alpha, abs=1e-9)


def test_bootstrap_interval_is_reproducible_and_close_to_feldt() -> None:
    x = _likert(n=500)
    a = cronbach_alpha(x, ci_method="bootstrap", n_boot=400, seed=11)
    b = cronbach_alpha(x, ci_method="bootstrap", n_boot=400, seed=11)
    assert a.ci == b.ci
    assert a.ci[0] < a.alpha < a.ci[1]
    feldt = cronbach_alpha(x)
    # Both estimate the same sampling distribution; 400 resamples put the percentiles within ~0.01.
    assert a.ci == pytest.approx(feldt.ci, abs=0.02)


def test_vectorised_bootstrap_equals_per_resample_loop() -> None:
    from psychoml.stats.reliability import _bootstrap_alpha_complete

    x = _likert(n=60).to_numpy()
    fast = _bootstrap_alpha_complete(x, 50, np.random.default_rng(5))
    idx = np.random.default_rng(5).integers(0, 60, size=(50, 60), dtype=np.int32)
    slow = []
    for rows in idx:
        c = np.cov(x[rows], rowvar=False)
        slow.append(6 / 5 * (1 - np.trace(c) / c.sum()))
    np.testing.assert_allclose(fast, slow, atol=1e-12)


def test_bootstrap_with_missing_values_uses_pairwise_resamples() -> None:
    x = _likert(n=120)
    x.iloc[::9, 1] = np.nan
    res = cronbach_alpha(x, ci_method="bootstrap", n_boot=30, seed=2)
    assert res.ci[0] < res.alpha < res.ci[1]


# --------------------------------------------------------------------------- unit: split half


def test_split_half_odd_even_and_spearman_brown() -> None:
    x = _likert(k=6)
    res = split_half(x, method="odd_even", coefficient="spearman_brown")
    odd, even = x.iloc[:, 0::2], x.iloc[:, 1::2]
    z = (x - x.mean()) / x.std()
    r = z.iloc[:, 0::2].sum(axis=1).corr(z.iloc[:, 1::2].sum(axis=1))
    assert res.odd_even == pytest.approx(2 * r / (1 + r), abs=1e-12)
    assert res.min == res.max == res.odd_even and res.n_splits == 1
    assert set(res.min_split) == set(odd.columns) or set(res.min_split) == set(even.columns)


def test_split_half_random_within_all_split_range() -> None:
    x = _likert(k=8, seed=4)
    everything = split_half(x, method="all")
    sampled = split_half(x, method="random", n_splits=200, seed=1)
    assert everything.n_splits == 35 and sampled.n_splits == 200
    # A random split may be an enumerated one with its halves swapped: equal up to rounding.
    assert everything.min - 1e-12 <= sampled.min <= sampled.max <= everything.max + 1e-12
    assert split_half(x, n_splits=10).method == "random"


# --------------------------------------------------------------------------- repeated scores


def _occasions(seed: int = 0, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    true = rng.normal(size=40)
    wide = pd.DataFrame({f"s{j}": true + rng.normal(scale=0.5, size=40) + shift * j for j in range(3)})
    wide.index.name = "model"
    return wide


def test_test_retest_wide_and_long_agree() -> None:
    wide = _occasions()
    long = wide.reset_index().melt(id_vars="model", var_name="sample", value_name="score")
    a = test_retest(wide)
    b = test_retest(long, object="model", occasion="sample", score="score")
    assert a.icc_agreement == pytest.approx(b.icc_agreement, abs=1e-12)
    assert a.r == pytest.approx(b.r, abs=1e-12)
    # Complete tables use the ANOVA ICCs (psych::ICC(x, lmer = FALSE)).
    assert a.icc_method == "anova"
    assert a.icc_agreement == pytest.approx(icc(wide, method="anova")["ICC2"], abs=1e-12)
    pairs = wide.corr().to_numpy()[np.triu_indices(3, 1)]
    assert a.r == pytest.approx(pairs.mean(), abs=1e-12)
    frame = a.to_frame()
    assert list(frame.index) == ["r", "icc_agreement", "icc_consistency", "icc_agreement_k", "icc_consistency_k"]


def test_test_retest_with_a_missing_occasion_uses_reml() -> None:
    wide = _occasions()
    wide.iloc[3, 1] = np.nan  # one object missed one occasion: it still counts (psych::ICC's lmer = TRUE)
    res = test_retest(wide)
    assert res.icc_method == "reml" and res.n_objects == 40
    assert res.icc_agreement == pytest.approx(icc(wide)["ICC2"], abs=1e-12)
    complete = test_retest(wide.dropna())
    assert complete.icc_method == "anova" and complete.n_objects == 39


def test_inter_variant_shift_lowers_agreement_not_consistency() -> None:
    plain = _occasions(seed=1).reset_index().melt(id_vars="model", var_name="variant", value_name="score")
    shifted = _occasions(seed=1, shift=1.5).reset_index().melt(id_vars="model", var_name="variant", value_name="score")
    a = inter_variant_reliability(plain, object="model")
    b = inter_variant_reliability(shifted, object="model")
    assert b.icc_consistency == pytest.approx(a.icc_consistency, abs=1e-12)
    assert b.icc_agreement < a.icc_agreement - 0.2
    assert b.condition_means.diff().dropna().to_numpy() == pytest.approx([1.5, 1.5], abs=0.3)


def test_repeated_scores_input_errors() -> None:
    long = _occasions().reset_index().melt(id_vars="model", var_name="variant", value_name="score")
    with pytest.raises(DataError, match="more than one"):
        inter_variant_reliability(pd.concat([long, long.iloc[:1]]), object="model")
    with pytest.raises(DataError, match="column 'respondent' is not in data"):
        inter_variant_reliability(long, object="respondent")
    with pytest.raises(DataError, match="name all three"):
        test_retest(long, object="model")


def _store_like_responses(seed: int = 0, n_models: int = 12, n_samples: int = 3, n_variants: int = 2) -> pd.DataFrame:
    """A long table shaped like ``Store.responses()``: one row per model x variant x sample x item."""
    rng = np.random.default_rng(seed)
    trait = rng.normal(size=n_models)
    rows = []
    for m in range(n_models):
        for v in range(n_variants):
            for smp in range(n_samples):
                for j, key in enumerate([1, 1, -1, 1]):
                    latent = trait[m] + 0.3 * v + rng.normal(scale=0.6)
                    value = float(np.clip(np.round(3 + key * latent), 1, 5))
                    rows.append({"run_id": "r1", "model": f"m{m:02d}", "instrument": "toy", "item": f"q{j + 1}",
                                 "variant": f"v{v}", "sample": smp, "persona": None, "value": value, "status": "ok"})
    return pd.DataFrame(rows)


def _manual_scale_scores(long: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    x = long.copy()
    x.loc[x["item"] == "q3", "value"] = 1 + 5 - x.loc[x["item"] == "q3", "value"]
    return x.groupby(by)["value"].mean()


def test_test_retest_on_store_responses_averages_keyed_items() -> None:
    long = _store_like_responses()
    one_variant = long[long["variant"] == "v0"]
    res = test_retest(one_variant, object="model", occasion="sample", item="item", score="value", keys={"q3": -1})
    expected = _manual_scale_scores(one_variant, ["model", "sample"]).unstack("sample")
    np.testing.assert_allclose(res.scores.to_numpy(), expected.to_numpy(), atol=1e-12)
    assert res.n_objects == 12 and res.n_conditions == 3
    assert res.icc_agreement == pytest.approx(icc(expected, method="anova")["ICC2"], abs=1e-12)
    # persona is None when no persona was used: one level, not missing objects.
    with_persona = test_retest(one_variant, object=["model", "persona"], occasion="sample", item="item",
                               score="value", keys={"q3": -1})
    assert with_persona.n_objects == 12
    assert with_persona.icc_agreement == pytest.approx(res.icc_agreement, abs=1e-12)
    # Forgetting the reverse key makes the scale score noisier: reliability drops.
    unkeyed = test_retest(one_variant, object="model", occasion="sample", item="item", score="value")
    assert unkeyed.icc_agreement < res.icc_agreement


def test_object_may_combine_columns_and_refusals_are_dropped() -> None:
    long = _store_like_responses()
    long.loc[long.index[::17], "value"] = None  # refused / unparseable answers have no value
    long.loc[long.index[::17], "status"] = "refused"
    with pytest.raises(DataError, match="more than one 'value'.*add the column"):
        test_retest(long, object="model", occasion="sample", item="item", score="value")
    res = test_retest(long, object=["model", "variant"], occasion="sample", item="item", score="value",
                      keys=[1, 1, -1, 1])
    assert res.n_objects == 24
    iv = inter_variant_reliability(long, object=["model", "sample"], variant="variant", item="item", score="value",
                                   keys={"q3": -1})
    assert iv.n_objects == 36 and iv.n_conditions == 2
    # Variant v1 was simulated 0.3 higher on the latent trait; keyed items move with it.
    assert iv.condition_means["v1"] > iv.condition_means["v0"]


def test_keys_from_an_instrument() -> None:
    from psychoml.instruments import load

    inst = load(Path(__file__).parent / "data" / "bfi10.yaml")
    rng = np.random.default_rng(0)
    t = rng.normal(size=(200, 1))
    signs = np.array([it.keying for it in inst.items], dtype=float)
    x = pd.DataFrame(np.clip(np.round(3 + signs * (t + rng.normal(size=(200, 10)))), 1, 5), columns=inst.item_ids)
    by_instrument = cronbach_alpha(x, keys=inst)
    by_vector = cronbach_alpha(x, keys=signs)
    assert by_instrument.alpha == pytest.approx(by_vector.alpha, abs=1e-12)
    assert list(by_instrument.to_frame()["key"]) == [int(k) for k in signs]
    assert by_instrument.alpha > cronbach_alpha(x).alpha
    with pytest.raises(DataError, match="'extra'.*not items of instrument 'bfi10'"):
        cronbach_alpha(x.assign(extra=x["bfi02"]), keys=inst)


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]}), "non-numeric column.*'b'"),
        (pd.DataFrame({"a": [1.0, 2, 3], "b": [2.0, 2, 2]}), "'b'.*constant"),
        (pd.DataFrame({"a": [1.0, 2, 3]}), "at least 2 column"),
        (pd.DataFrame({"a": [1.0, np.nan, 3, 4], "b": [2.0, np.nan, 1, 3]}), "every value missing"),
    ],
)
@pytest.mark.parametrize("fn", [cronbach_alpha, guttman_lambda6, split_half, icc])
def test_bad_input_is_a_data_error(fn, data: pd.DataFrame, match: str) -> None:
    with pytest.raises(DataError, match=match):
        fn(data)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"keys": [1, 1]}, "keys: expected 3 entries"),
        ({"keys": [1, 2, 1]}, r"keys\[1\]"),
        ({"keys": {"zz": -1}}, "'zz' is not in the data"),
        ({"ci": 1.5}, "ci:"),
        ({"ci_method": "exact"}, "ci_method"),
        ({"missing": "mean"}, "missing"),
    ],
)
def test_bad_arguments_are_data_errors(kwargs: dict, match: str) -> None:
    x = _likert(k=3)
    with pytest.raises(DataError, match=match):
        cronbach_alpha(x, **kwargs)


# --------------------------------------------------------------------------- properties


@st.composite
def item_tables(draw: st.DrawFn) -> np.ndarray:
    n = draw(st.integers(6, 30))
    k = draw(st.integers(2, 7))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    loading = draw(st.floats(-0.5, 2.0))
    x = np.round(3 + loading * rng.normal(size=(n, 1)) + rng.normal(size=(n, k)))
    for j in range(k):  # keep every item non-constant
        if np.ptp(x[:, j]) == 0:
            x[0, j] += 1
    return x


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(x=item_tables(), data=st.data())
def test_alpha_invariant_to_item_order_and_labels(x: np.ndarray, data: st.DataObject) -> None:
    k = x.shape[1]
    perm = data.draw(st.permutations(list(range(k))))
    base = cronbach_alpha(pd.DataFrame(x, columns=[f"i{j}" for j in range(k)]))
    shuffled = cronbach_alpha(pd.DataFrame(x[:, perm], columns=[f"renamed_{j}" for j in range(k)]))
    assert shuffled.alpha == pytest.approx(base.alpha, rel=1e-9, abs=1e-9)
    assert shuffled.std_alpha == pytest.approx(base.std_alpha, rel=1e-9, abs=1e-9)
    assert shuffled.ci == pytest.approx(base.ci, rel=1e-9, abs=1e-9)


@settings(max_examples=40, deadline=None)
@given(x=item_tables())
def test_alpha_is_at_most_one(x: np.ndarray) -> None:
    res = cronbach_alpha(x)
    assert res.alpha <= 1 + 1e-12
    assert res.std_alpha <= 1 + 1e-12


@settings(max_examples=40, deadline=None)
@given(
    k=st.integers(2, 12),
    rho=st.floats(0.01, 0.95),
    variance=st.floats(0.1, 10.0),
    n=st.integers(20, 60),
    seed=st.integers(0, 2**32 - 1),
)
def test_alpha_of_parallel_items_is_spearman_brown(k: int, rho: float, variance: float, n: int, seed: int) -> None:
    # Parallel items: equal variances and equal covariances.  The data are built so that their
    # sample covariance is exactly that matrix (whitened normals times its Cholesky factor).
    sigma = variance * ((1 - rho) * np.eye(k) + rho * np.ones((k, k)))
    z = np.random.default_rng(seed).normal(size=(n, k))
    z -= z.mean(axis=0)
    z = z @ np.linalg.inv(np.linalg.cholesky(np.cov(z, rowvar=False))).T
    x = z @ np.linalg.cholesky(sigma).T + 3.0
    spearman_brown = k * rho / (1 + (k - 1) * rho)
    res = cronbach_alpha(x)
    assert res.alpha == pytest.approx(spearman_brown, abs=1e-9)
    assert res.std_alpha == pytest.approx(spearman_brown, abs=1e-9)
