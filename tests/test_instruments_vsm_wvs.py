"""Hofstede's VSM 2013 and the WVS wave-7 module as shipped data.

Sources, written here as literals (not read back from the YAML):

* VSM 2013: Hofstede & Minkov (2013), *Values Survey Module 2013 Manual*, section "Index formulas":
  PDI = 35(m07 - m02) + 25(m20 - m23) + C(pd); IDV = 35(m04 - m01) + 35(m09 - m06) + C(ic);
  MAS = 35(m05 - m03) + 35(m08 - m10) + C(mf); UAI = 40(m18 - m15) + 25(m21 - m24) + C(ua);
  LTO = 40(m13 - m14) + 25(m19 - m22) + C(ls); IVR = 35(m12 - m11) + 40(m17 - m16) + C(ir),
  where mXX is the sample's mean score on question XX.
* WVS-7: the wave-7 master questionnaire (2017-2022) and the WVS index definitions Y001 (12-item
  post-materialism, 0-5), Y002 (4-item post-materialism: 1 materialist, 2 mixed, 3 postmaterialist) and
  Y003 (autonomy, -2..2).

Every expected number is computed by hand in the comments; tolerances are 1e-9 because the engine only takes
means, differences and products with small integer weights (float rounding is ~1e-13 at these magnitudes).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from psychoml.instruments import GroupLevelWarning, load

TOL = 1e-9  # sums of products of means with integer weights: only float rounding separates them from exact values

VSM_ITEMS = [f"m{i:02d}" for i in range(1, 25)]
VSM_TEXTS = {  # the 24 content questions of the VSM 2013 (questionnaire, English version)
    1: "have sufficient time for your personal or home life",
    2: "have a boss (direct superior) you can respect",
    3: "get recognition for good performance",
    4: "have security of employment",
    5: "have pleasant people to work with",
    6: "do work that is interesting",
    7: "be consulted by your boss in decisions involving your work",
    8: "live in a desirable area",
    9: "have a job respected by your family and friends",
    10: "have chances for promotion",
    11: "keeping time free for fun",
    12: "moderation: having few desires",
    13: "doing a service to a friend",
    14: "thrift (not spending more than needed)",
}
VSM_FORMULA_ITEMS = {  # index -> (items with +, items with -) in the manual's formula
    "PDI": ({"m07", "m20"}, {"m02", "m23"}),
    "IDV": ({"m04", "m09"}, {"m01", "m06"}),
    "MAS": ({"m05", "m08"}, {"m03", "m10"}),
    "UAI": ({"m18", "m21"}, {"m15", "m24"}),
    "LTO": ({"m13", "m19"}, {"m14", "m22"}),
    "IVR": ({"m12", "m17"}, {"m11", "m16"}),
}
VSM_CONSTANTS = {"PDI": "C_pd", "IDV": "C_ic", "MAS": "C_mf", "UAI": "C_ua", "LTO": "C_ls", "IVR": "C_ir"}


def vsm_rows() -> pd.DataFrame:
    """Two samples. A: 2 respondents; B: 3 respondents, one of them without an answer to m05."""
    # answers to m01 ... m24
    a1 = dict(zip(VSM_ITEMS, [2, 1, 3, 2, 2, 1, 3, 3, 4, 2, 2, 3, 2, 2, 3, 2, 3, 2, 1, 4, 2, 2, 3, 3], strict=True))
    a2 = dict(zip(VSM_ITEMS, [2, 2, 2, 1, 2, 2, 4, 2, 3, 3, 3, 4, 1, 3, 4, 1, 2, 2, 2, 3, 1, 1, 4, 2], strict=True))
    b1 = dict.fromkeys(VSM_ITEMS, 3) | {"m05": 1, "m03": 4, "m08": 5}
    b2 = dict.fromkeys(VSM_ITEMS, 3)
    b3 = dict.fromkeys(VSM_ITEMS, 3) | {"m05": math.nan}
    frame = pd.DataFrame([a1, a2, b1, b2, b3], index=["a1", "a2", "b1", "b2", "b3"])
    frame["sample"] = ["A", "A", "B", "B", "B"]
    return frame


# Sample A means: m01 2, m02 1.5, m03 2.5, m04 1.5, m05 2, m06 1.5, m07 3.5, m08 2.5, m09 3.5, m10 2.5, m11 2.5,
#   m12 3.5, m13 1.5, m14 2.5, m15 3.5, m16 1.5, m17 2.5, m18 2, m19 1.5, m20 3.5, m21 1.5, m22 1.5, m23 3.5, m24 2.5
#   PDI = 35(3.5 - 1.5) + 25(3.5 - 3.5) = 70
#   IDV = 35(1.5 - 2) + 35(3.5 - 1.5) = -17.5 + 70 = 52.5
#   MAS = 35(2 - 2.5) + 35(2.5 - 2.5) = -17.5
#   UAI = 40(2 - 3.5) + 25(1.5 - 2.5) = -60 - 25 = -85
#   LTO = 40(1.5 - 2.5) + 25(1.5 - 1.5) = -40
#   IVR = 35(3.5 - 2.5) + 40(2.5 - 1.5) = 35 + 40 = 75
# Sample B means: m05 (1 + 3)/2 = 2 (b3 missing), m03 (4 + 3 + 3)/3 = 10/3, m08 (5 + 3 + 3)/3 = 11/3, all others 3.
#   MAS = 35(2 - 10/3) + 35(11/3 - 3) = -140/3 + 70/3 = -70/3  (a script with 25 as the second weight gives -30)
#   PDI = IDV = UAI = LTO = IVR = 0
EXPECTED = {
    "A": {"PDI": 70.0, "IDV": 52.5, "MAS": -17.5, "UAI": -85.0, "LTO": -40.0, "IVR": 75.0},
    "B": {"PDI": 0.0, "IDV": 0.0, "MAS": -70 / 3, "UAI": 0.0, "LTO": 0.0, "IVR": 0.0},
}


# --- VSM 2013 ---------------------------------------------------------------------------------------------------
def test_vsm2013_counts_scales_and_texts():
    vsm = load("vsm2013")
    assert vsm.item_ids == VSM_ITEMS  # the 24 content questions; demographics 25-30 are not scored
    assert [it.number for it in vsm.items] == list(range(1, 25))
    assert [ix.id for ix in vsm.indices] == ["PDI", "IDV", "MAS", "UAI", "LTO", "IVR"]
    assert vsm.scales == []  # the manual defines indices on item means, no scales
    assert all(ix.level == "group" for ix in vsm.indices)
    for number, text in VSM_TEXTS.items():
        assert vsm.item(f"m{number:02d}").text == text
    for iid in VSM_ITEMS:
        scale = vsm.response_scale(iid)
        assert scale.values == [1, 2, 3, 4, 5] and len(scale.labels) == 5  # every point labelled
    assert vsm.response_scale("m01").labels[1] == "of utmost importance"
    assert vsm.response_scale("m21").labels == {1: "strongly agree", 2: "agree", 3: "undecided", 4: "disagree",
                                                5: "strongly disagree"}
    assert vsm.spec.constants == dict.fromkeys(["C_pd", "C_ic", "C_mf", "C_ua", "C_ls", "C_ir"], 0.0)
    assert vsm.spec.terms.redistribution == "restricted"


@pytest.mark.parametrize("index", sorted(VSM_FORMULA_ITEMS))
def test_vsm2013_formulas_use_the_manual_items(index):
    vsm = load("vsm2013")
    ix = next(x for x in vsm.indices if x.id == index)
    plus, minus = VSM_FORMULA_ITEMS[index]
    assert ix.expression.symbols == frozenset(plus | minus | {VSM_CONSTANTS[index]})
    # item tags agree with the formula (dimension and sign)
    for iid in plus | minus:
        tags = vsm.item(iid).tags
        assert tags["dimension"] == index and tags["sign"] == ("+" if iid in plus else "-")


@pytest.mark.parametrize("index", ["PDI", "IDV", "MAS", "UAI", "LTO", "IVR"])
def test_vsm2013_every_index_reproduces_the_hand_computation(index):
    vsm = load("vsm2013")
    out = vsm.score(vsm_rows(), group="sample")
    for row, sample in zip(["a1", "a2", "b1", "b2", "b3"], "AABBB"):
        assert out.loc[row, index] == pytest.approx(EXPECTED[sample][index], abs=TOL), (row, index)
    groups = vsm.score_groups(vsm_rows(), group="sample")
    assert groups.loc["A", index] == pytest.approx(EXPECTED["A"][index], abs=TOL)
    assert groups.loc["B", index] == pytest.approx(EXPECTED["B"][index], abs=TOL)
    assert groups["n"].tolist() == [2, 3]


def test_vsm2013_mas_uses_35_for_both_terms():
    # MAS of sample B is -70/3 only with 35 as the weight of (m08 - m10); 25 would give -30.
    out = load("vsm2013").score_groups(vsm_rows(), group="sample")
    assert out.loc["B", "MAS"] == pytest.approx(-70 / 3, abs=TOL) and abs(out.loc["B", "MAS"] + 30) > 1


@pytest.mark.parametrize(("index", "constant"), sorted(VSM_CONSTANTS.items()))
def test_vsm2013_constants_are_overridable_and_shift_only_their_index(index, constant):
    vsm = load("vsm2013")
    out = vsm.score_groups(vsm_rows(), group="sample", constants={constant: 20})
    for ix in VSM_CONSTANTS:
        shift = 20.0 if ix == index else 0.0
        assert out.loc["A", ix] == pytest.approx(EXPECTED["A"][ix] + shift, abs=TOL), (constant, ix)


def test_vsm2013_without_group_warns_and_uses_one_sample():
    vsm = load("vsm2013")
    with pytest.warns(GroupLevelWarning, match="sample means"):
        out = vsm.score(vsm_rows().drop(columns="sample"))
    # all five rows as one sample: m07 (3+4+3+3+3)/5 = 3.2, m02 (1+2+3+3+3)/5 = 2.4, m20 (4+3+3+3+3)/5 = 3.2,
    # m23 (3+4+3+3+3)/5 = 3.2 -> PDI = 35 * 0.8 + 25 * 0 = 28
    assert out["PDI"].tolist() == pytest.approx([28.0] * 5, abs=TOL)


def test_vsm2013_rejects_answers_outside_1_to_5():
    rows = vsm_rows()
    rows.loc["a1", "m03"] = 6
    with pytest.raises(Exception, match="m03.*outside the response scale"):
        load("vsm2013").score(rows, group="sample")


# --- WVS-7 ------------------------------------------------------------------------------------------------------
WVS_CATEGORIES = {  # the 13 value categories and their question ranges in the wave-7 master questionnaire
    "social_values": (1, 45),
    "happiness_wellbeing": (46, 56),
    "social_capital_trust": (57, 105),
    "economic_values": (106, 111),
    "corruption": (112, 120),
    "migration": (121, 130),
    "security": (131, 151),
    "postmaterialist_index": (152, 157),
    "science_technology": (158, 163),
    "religious_values": (164, 175),
    "ethical_values": (176, 198),
    "political_participation": (199, 234),
    "political_culture": (235, 259),
}


def test_wvs7_covers_the_13_categories_with_original_codes():
    wvs = load("wvs7")
    frame = wvs.to_frame()
    assert set(frame["category"]) == set(WVS_CATEGORIES)
    for it in wvs.items:
        assert it.id == it.code == f"Q{it.number}"  # original question codes as ids
        low, high = WVS_CATEGORIES[it.tags["category"]]
        assert low <= it.number <= high, (it.id, it.tags["category"])
    numbers = [it.number for it in wvs.items]
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)
    # the module keeps whole batteries: every postmaterialism choice and the index inputs are present
    assert {f"Q{i}" for i in range(152, 158)} <= set(wvs.item_ids)
    assert {"Q8", "Q14", "Q15", "Q17"} <= set(wvs.item_ids)
    assert len(wvs.items) == 187  # the module's size (a subset of the 259 core questions), see scoring_notes
    assert [ix.id for ix in wvs.indices] == ["Y002", "Y001", "Y003"]


def test_wvs7_response_scales_and_missing_codes():
    wvs = load("wvs7")
    assert wvs.response_scale("Q1").labels == {1: "Very important", 2: "Rather important", 3: "Not very important",
                                              4: "Not at all important"}
    assert wvs.response_scale("Q154").labels == {1: "Maintaining order in the nation",
                                                2: "Giving people more say in important government decisions",
                                                3: "Fighting rising prices", 4: "Protecting freedom of speech"}
    assert wvs.response_scale("Q49").values == list(range(1, 11))
    for it in wvs.items:
        assert set(wvs.response_scale(it.id).missing) >= {-1, -2, -3, -4, -5}, it.id
    # -1 (don't know) is missing, not an answer
    out = wvs.score(pd.DataFrame([{"Q154": -1, "Q155": 2}]))
    assert np.isnan(out.loc[0, "Y002"])


def test_wvs7_postmaterialist_4_item_index_by_hand():
    wvs = load("wvs7")
    # Q154 first, Q155 second choice: 1 order (M), 2 say in government (P), 3 prices (M), 4 free speech (P)
    pairs = [(1, 3), (3, 1), (2, 4), (4, 2), (1, 2), (4, 3), (2, 2), (1, math.nan)]
    expected = [1, 1, 3, 3, 2, 2, math.nan, math.nan]  # M+M materialist, P+P postmaterialist, else mixed
    out = wvs.score(pd.DataFrame({"Q154": [p[0] for p in pairs], "Q155": [p[1] for p in pairs]}))
    np.testing.assert_array_equal(out["Y002"].to_numpy(), np.array(expected, dtype=float))


def test_wvs7_postmaterialist_12_item_index_by_hand():
    wvs = load("wvs7")
    cols = ["Q152", "Q153", "Q154", "Q155", "Q156", "Q157"]
    rows = [
        # 3 (say at jobs) P, 4 (beautiful) not counted; 2, 4 P; 2, 3 P  -> 1 + 0 + 1 + 1 + 1 + 1 = 5
        [3, 4, 2, 4, 2, 3],
        # growth, defence; order, prices; economy, crime -> 0
        [1, 2, 1, 3, 1, 4],
        # beautiful (0), say at jobs (1); order (0), say in government (1); crime (0), ideas (1) -> 3
        [4, 3, 1, 2, 4, 3],
        # same aim twice in the second battery -> invalid, missing
        [3, 1, 2, 2, 2, 3],
        # a missing choice -> missing
        [3, 1, 2, 4, 2, math.nan],
    ]
    out = wvs.score(pd.DataFrame(rows, columns=cols))
    np.testing.assert_array_equal(out["Y001"].to_numpy(), np.array([5, 0, 3, math.nan, math.nan]))


def test_wvs7_autonomy_index_by_hand():
    wvs = load("wvs7")
    # 1 = mentioned, 2 = not mentioned.  Y003 = independence + determination - religious faith - obedience.
    rows = pd.DataFrame({"Q8": [1, 2, 1, 2], "Q14": [1, 2, 2, 2], "Q15": [2, 1, 1, 2], "Q17": [2, 1, 2, 2]})
    out = wvs.score(rows)
    assert out["Y003"].tolist() == [2, -2, 0, 0]


def test_wvs7_terms_forbid_bundling_data():
    spec = load("wvs7").spec
    assert spec.terms.redistribution == "restricted" and "non-profit" in spec.terms.licence
    assert spec.citation.doi == "10.14281/18241.24"
