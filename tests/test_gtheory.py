"""Tests of psychoml.stats.gtheory: a published worked example, lme4 REML, D studies, properties, errors.

Golden numbers: Brennan (2001) for the balanced p x i x o design; lme4 1.1.31 REML fits written by
tests/reference/reliability/make_reference.R (which also wrote the unbalanced data sets read here).
"""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from psychoml.errors import DataError
from psychoml.stats import DStudyResult, GeneralizabilityResult, generalizability

REF_DIR = Path(__file__).parent / "reference" / "reliability"

# lme4's bobyqa stops at rhoend = 1e-10 in theta; its variance components are then ~1e-6 from the
# optimum and ours are closer, so 1e-5 is safe and far inside the 1e-3 acceptance tolerance.
REML_TOL = 1e-5


@functools.cache
def reference() -> dict:
    return json.loads((REF_DIR / "reference.json").read_text())["gtheory"]


@functools.cache
def _csv(name: str) -> pd.DataFrame:
    return pd.read_csv(REF_DIR / name)


def brennan() -> GeneralizabilityResult:
    return generalizability(_csv("brennan_2001_synthetic3.csv"), object="person", facets=["item", "occasion"],
                            score="score")


# --------------------------------------------------------------------------- published worked example

# Brennan, R. L. (2001). Generalizability Theory. Springer. Synthetic Data Set No. 3: 10 persons x 4 items x
# 2 occasions; G-study sums of squares and variance components as printed in chapter 3 (SS to 2 decimals,
# variance components to 4), and the D study with n'_i = 4, n'_o = 2 (E rho^2 = .64, Phi = .55).
BRENNAN_SS = {"person": 62.20, "item": 37.45, "occasion": 3.20, "person:item": 56.30, "person:occasion": 12.05,
              "item:occasion": 7.50, "person:item:occasion": 25.25}
BRENNAN_DF = {"person": 9, "item": 3, "occasion": 1, "person:item": 27, "person:occasion": 9,
              "item:occasion": 3, "person:item:occasion": 27}
BRENNAN_VARIANCE = {"person": 0.5528, "item": 0.4417, "occasion": 0.0074, "person:item": 0.5750,
                    "person:occasion": 0.1009, "item:occasion": 0.1565, "person:item:occasion": 0.9352}


def test_brennan_synthetic_data_set_3_components() -> None:
    res = brennan()
    comps = res.to_frame()
    assert res.method == "anova" and res.balanced
    assert list(comps.index) == list(BRENNAN_VARIANCE)
    for name, value in BRENNAN_VARIANCE.items():
        # Printed to 4 decimals: half a unit in the last place.
        assert comps.loc[name, "variance"] == pytest.approx(value, abs=5e-5)
    for name, value in BRENNAN_SS.items():
        assert comps.loc[name, "ss"] == pytest.approx(value, abs=5e-3)
        assert comps.loc[name, "df"] == BRENNAN_DF[name]
    assert comps["percent"].sum() == pytest.approx(100.0)


def test_brennan_coefficients() -> None:
    res = brennan()
    # Printed to 2 decimals.
    assert res.g == pytest.approx(0.64, abs=0.005)
    assert res.phi == pytest.approx(0.55, abs=0.005)
    # The same coefficients recomputed from the printed components (Brennan eqs. 4.11-4.14) agree to 1e-3.
    v = BRENNAN_VARIANCE
    rel = v["person:item"] / 4 + v["person:occasion"] / 2 + v["person:item:occasion"] / 8
    ab = rel + v["item"] / 4 + v["occasion"] / 2 + v["item:occasion"] / 8
    assert res.g == pytest.approx(v["person"] / (v["person"] + rel), abs=1e-3)
    assert res.phi == pytest.approx(v["person"] / (v["person"] + ab), abs=1e-3)
    assert res.relative_error == pytest.approx(rel, abs=1e-4)
    assert res.absolute_error == pytest.approx(ab, abs=1e-4)
    assert "g=0.6399" in repr(res)


def test_brennan_reml_equals_anova_and_lme4() -> None:
    anova = brennan().to_frame()["variance"]
    reml = generalizability(_csv("brennan_2001_synthetic3.csv"), object="person", facets=["item", "occasion"],
                            score="score", method="reml")
    assert reml.method == "reml"
    np.testing.assert_allclose(reml.to_frame()["variance"], anova, atol=REML_TOL)
    ref = reference()["brennan_lmer"]
    comps = reml.to_frame()["variance"]
    # This lme4 fit used its default optimiser settings, which stop ~1e-5 short of the exact REML
    # optimum (on balanced data with positive components that optimum is the ANOVA solution, which
    # ours reproduces to 1e-5 above); 1e-4 covers lme4's stopping error.
    for name in ("person", "item", "occasion", "person:item", "person:occasion", "item:occasion"):
        assert comps[name] == pytest.approx(ref[name], abs=1e-4)
    assert comps["person:item:occasion"] == pytest.approx(ref["Residual"], abs=1e-4)


# --------------------------------------------------------------------------- REML vs lme4 (unbalanced)


def test_unbalanced_p_i_o_matches_lme4_reml() -> None:
    data = _csv("gtheory_unbalanced_pio.csv")
    res = generalizability(data, object="object", facets=["item", "variant"], score="score")
    assert res.method == "reml" and not res.balanced
    assert res.n_observations == len(data) == 360
    ref = reference()["unbalanced_pio"]
    comps = res.to_frame()["variance"]
    for name in ("object", "item", "variant", "object:item", "object:variant", "item:variant"):
        assert comps[name] == pytest.approx(ref[name], abs=REML_TOL)
    # One observation per cell: the residual is confounded with the three-way interaction (Brennan's pio,e).
    assert comps["object:item:variant"] == pytest.approx(ref["Residual"], abs=REML_TOL)
    with pytest.raises(DataError, match="balanced design"):
        generalizability(data, object="object", facets=["item", "variant"], score="score", method="anova")


def test_replicates_within_cells_match_lme4_reml() -> None:
    data = _csv("gtheory_replicates_pv.csv")
    res = generalizability(data, object="object", facets=["variant"], score="score")
    ref = reference()["replicates_pv"]
    comps = res.to_frame()["variance"]
    assert list(comps.index) == ["object", "variant", "object:variant", "residual"]
    for name in ("object", "variant", "object:variant"):
        assert comps[name] == pytest.approx(ref[name], abs=REML_TOL)
    assert comps["residual"] == pytest.approx(ref["Residual"], abs=REML_TOL)
    counts = data.groupby(["object", "variant"]).size()
    assert res.sizes == {"variant": 5.0, "replications": pytest.approx(counts.mean())}


def test_balanced_replicates_anova_equals_reml() -> None:
    rng = np.random.default_rng(4)
    cells = pd.MultiIndex.from_product([range(15), range(4), range(3)], names=["model", "variant", "sample"])
    frame = cells.to_frame(index=False)
    frame["value"] = (rng.normal(size=15)[frame["model"]] + rng.normal(scale=0.4, size=4)[frame["variant"]]
                      + rng.normal(scale=0.5, size=60)[frame["model"] * 4 + frame["variant"]]
                      + rng.normal(scale=0.7, size=len(frame)))
    anova = generalizability(frame, object="model", facets=["variant"], score="value")
    reml = generalizability(frame, object="model", facets=["variant"], score="value", method="reml")
    assert anova.method == "anova" and anova.sizes["replications"] == 3
    assert (anova.to_frame()["variance"] > 0).all()
    np.testing.assert_allclose(reml.to_frame()["variance"], anova.to_frame()["variance"], atol=1e-6)
    # Declaring the sample as a facet instead splits the residual into model:sample, variant:sample, ...
    crossed = generalizability(frame, object="model", facets=["variant", "sample"], score="value")
    assert "residual" not in crossed.to_frame().index and len(crossed.to_frame()) == 7


# --------------------------------------------------------------------------- D studies


def test_d_study_at_g_study_sizes_reproduces_g_and_phi() -> None:
    res = brennan()
    d = res.d_study()
    assert isinstance(d, DStudyResult)
    assert (d.g, d.phi) == pytest.approx((res.g, res.phi), abs=1e-12)
    assert d.sem_relative == pytest.approx(math.sqrt(res.relative_error))
    row = d.to_frame()
    assert list(row.columns[:2]) == ["n_item", "n_occasion"] and row.loc[0, "g"] == pytest.approx(res.g)


def test_d_study_projection_by_formula() -> None:
    res = brennan()
    v = res.to_frame()["variance"]
    d = res.d_study({"item": 10, "occasion": 3})
    rel = v["person:item"] / 10 + v["person:occasion"] / 3 + v["person:item:occasion"] / 30
    ab = rel + v["item"] / 10 + v["occasion"] / 3 + v["item:occasion"] / 30
    assert d.g == pytest.approx(v["person"] / (v["person"] + rel), abs=1e-12)
    assert d.phi == pytest.approx(v["person"] / (v["person"] + ab), abs=1e-12)
    assert d.sizes == {"item": 10.0, "occasion": 3.0}
    grid = res.d_study_grid({"item": [2, 4, 8], "occasion": [1, 2]})
    assert len(grid) == 6
    assert list(grid[["n_item", "n_occasion"]].itertuples(index=False, name=None)) == [
        (2, 1), (2, 2), (4, 1), (4, 2), (8, 1), (8, 2)]
    assert grid.loc[(grid["n_item"] == 8) & (grid["n_occasion"] == 2), "g"].item() > res.g


def test_required_size_is_the_smallest_reaching_the_target() -> None:
    res = brennan()
    n = res.required_size("item", target=0.8)
    assert res.d_study({"item": n}).g >= 0.8
    assert res.d_study({"item": n - 1}).g < 0.8
    n_phi = res.required_size("occasion", target=0.6, coefficient="phi", sizes={"item": 12})
    assert res.d_study({"item": 12, "occasion": n_phi}).phi >= 0.6
    assert n_phi == 1 or res.d_study({"item": 12, "occasion": n_phi - 1}).phi < 0.6


def test_required_size_reports_unreachable_targets() -> None:
    res = brennan()
    # With 4 items and more occasions, G is capped by s2(p) / (s2(p) + s2(pi)/4 + ...) < 0.8.
    with pytest.raises(DataError, match="cannot be reached by adding 'occasion'.*limit"):
        res.required_size("occasion", target=0.8)
    with pytest.raises(DataError, match="facet: 'rater'"):
        res.required_size("rater")
    with pytest.raises(DataError, match="target"):
        res.required_size("item", target=1.2)
    with pytest.raises(DataError, match="sizes: 'rater'"):
        res.d_study({"rater": 3})
    with pytest.raises(DataError, match=r"sizes\['item'\]"):
        res.d_study({"item": 0})


def _random_design(seed: int, n_p: int, n_i: int, n_v: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    idx = pd.MultiIndex.from_product([range(n_p), range(n_i), range(n_v)], names=["model", "item", "variant"])
    f = idx.to_frame(index=False)
    sd = rng.uniform(0.1, 1.0, size=7)
    f["value"] = (sd[0] * rng.normal(size=n_p)[f["model"]] + sd[1] * rng.normal(size=n_i)[f["item"]]
                  + sd[2] * rng.normal(size=n_v)[f["variant"]]
                  + sd[3] * rng.normal(size=n_p * n_i)[f["model"] * n_i + f["item"]]
                  + sd[4] * rng.normal(size=n_p * n_v)[f["model"] * n_v + f["variant"]]
                  + sd[5] * rng.normal(size=n_i * n_v)[f["item"] * n_v + f["variant"]]
                  + sd[6] * rng.normal(size=len(f)))
    return f


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_p=st.integers(4, 10), n_i=st.integers(2, 5), n_v=st.integers(2, 4),
       n=st.integers(1, 30), items=st.integers(1, 20))
def test_d_study_g_rises_with_more_variants(seed: int, n_p: int, n_i: int, n_v: int, n: int, items: int) -> None:
    res = generalizability(_random_design(seed, n_p, n_i, n_v), object="model", facets=["item", "variant"],
                           score="value")
    fewer = res.d_study({"variant": n, "item": items})
    more = res.d_study({"variant": n + 1, "item": items})
    if math.isnan(fewer.g):  # no non-negative variance at all: nothing to project
        return
    assert more.g >= fewer.g - 1e-12
    assert more.phi >= fewer.phi - 1e-12
    assert fewer.phi <= fewer.g + 1e-12  # absolute error includes the relative error
    if res.universe_variance > 0 and res.to_frame()["variance"].clip(lower=0)[["model:variant"]].sum() > 0:
        assert more.g > fewer.g


# --------------------------------------------------------------------------- bad input


def _small() -> pd.DataFrame:
    return _random_design(0, 5, 3, 2)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"object": "respondent"}, "object: column 'respondent' is not in data"),
        ({"facets": ["item", "rater"]}, "facets: column 'rater' is not in data"),
        ({"facets": "item"}, "facets: expected a list"),
        ({"facets": []}, "facets: name at least one"),
        ({"facets": ["model"]}, "facets: columns must be distinct"),
        ({"score": "label"}, "score: column 'label' is not numeric"),
        ({"method": "ml"}, "method"),
    ],
)
def test_bad_arguments(kwargs: dict, match: str) -> None:
    data = _small().assign(label="x")
    args = {"object": "model", "facets": ["item", "variant"], "score": "value", **kwargs}
    with pytest.raises(DataError, match=match):
        generalizability(data, **args)


def test_bad_data() -> None:
    data = _small()
    with pytest.raises(DataError, match="needs at least two levels"):
        generalizability(data[data["variant"] == 0], object="model", facets=["item", "variant"], score="value")
    with pytest.raises(DataError, match="constant"):
        generalizability(data.assign(value=1.0), object="model", facets=["item", "variant"], score="value")
    with pytest.raises(DataError, match="missing labels"):
        generalizability(data.assign(item=data["item"].where(data.index != 3)), object="model",
                         facets=["item", "variant"], score="value")
    with pytest.raises(DataError, match="long-format DataFrame"):
        generalizability(data.to_numpy(), object="model", facets=["item"], score="value")


def test_missing_scores_make_the_design_unbalanced() -> None:
    data = _small()
    data.loc[[0, 7], "value"] = np.nan
    res = generalizability(data, object="model", facets=["item", "variant"], score="value")
    assert res.method == "reml" and not res.balanced and res.n_observations == len(data) - 2


def test_store_responses_with_refusals_and_replicates() -> None:
    # Shaped like Store.responses(): value is None (object dtype) for refusals; samples are within-cell
    # replications (not declared as a facet).
    data = _random_design(3, 6, 3, 3)
    data["value"] += 2.0 * np.random.default_rng(9).normal(size=6)[data["model"]]  # a clear object effect
    data = pd.concat([data.assign(sample=s, value=data["value"] + np.random.default_rng(s).normal(scale=0.5,
                                                                                                  size=len(data)))
                      for s in range(2)], ignore_index=True)
    values = data["value"].astype(object)
    values[::11] = None
    data["value"] = values
    data["status"] = np.where(data["value"].isna(), "refused", "ok")
    res = generalizability(data, object="model", facets=["item", "variant"], score="value")
    assert res.method == "reml" and "residual" in res.to_frame().index
    assert res.n_observations == int(data["value"].notna().sum())
    assert res.required_size("variant", target=0.5, sizes={"item": 50, "replications": 10}) >= 1
