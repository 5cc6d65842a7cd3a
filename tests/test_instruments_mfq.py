"""Moral Foundations Questionnaires as shipped data: MFQ-30 (with its catch items) and MFQ-2.

The keys are literal tables copied from the sources (not read back from the YAML):

* MFQ-30: *Moral Foundations Questionnaire: 30-Item Full Version, Item Key* (July 2008, moralfoundations.org),
  with the item numbers of the published form (MFQ30.doc / self-scorable MFQ30): part 1 items 1-16, part 2
  items 17-32, catch items MATH (6) and GOOD (22).
* MFQ-2: Atari et al. (2023); items rotate care, equality, proportionality, loyalty, authority, purity
  (scoring key as reproduced in Muenker, 2025, arXiv:2507.10073, Appendix B).

Expected scores are computed by hand in the comments; tolerances are 1e-12 (exact fractions, means only).
"""

from __future__ import annotations

import math

import pandas as pd
import pytest

from psychoml.errors import DataError
from psychoml.instruments import load

TOL = 1e-12  # exact fractions; only means are involved

MFQ30_KEY = {
    "harm": [1, 7, 12, 17, 23, 28],
    "fairness": [2, 8, 13, 18, 24, 29],
    "ingroup": [3, 9, 14, 19, 25, 30],
    "authority": [4, 10, 15, 20, 26, 31],
    "purity": [5, 11, 16, 21, 27, 32],
}
MFQ30_CATCH = {"MATH": 6, "GOOD": 22}
MFQ30_VARIABLES = {  # item key variable names by published item number
    1: "EMOTIONALLY", 2: "TREATED", 3: "LOVECOUNTRY", 4: "RESPECT", 5: "DECENCY", 6: "MATH", 7: "WEAK",
    8: "UNFAIRLY", 9: "BETRAY", 10: "TRADITIONS", 11: "DISGUSTING", 12: "CRUEL", 13: "RIGHTS", 14: "LOYALTY",
    15: "CHAOS", 16: "GOD", 17: "COMPASSION", 18: "FAIRLY", 19: "HISTORY", 20: "KIDRESPECT", 21: "HARMLESSDG",
    22: "GOOD", 23: "ANIMAL", 24: "JUSTICE", 25: "FAMILY", 26: "SEXROLES", 27: "UNNATURAL", 28: "KILL", 29: "RICH",
    30: "TEAM", 31: "SOLDIER", 32: "CHASTITY",
}
MFQ2_KEY = {
    "care": [1, 7, 13, 19, 25, 31],
    "equality": [2, 8, 14, 20, 26, 32],
    "proportionality": [3, 9, 15, 21, 27, 33],
    "loyalty": [4, 10, 16, 22, 28, 34],
    "authority": [5, 11, 17, 23, 29, 35],
    "purity": [6, 12, 18, 24, 30, 36],
}


def numbers_of(inst, scale_id: str) -> list[int]:
    by_id = {it.id: it.number for it in inst.items}
    scale = next(s for s in inst.scales if s.id == scale_id)
    return sorted(by_id[i] for i in scale.items)


def row(inst, default: float, overrides: dict[int, float]) -> dict[str, float]:
    by_number = {it.number: it.id for it in inst.items}
    values = {it.id: float(default) for it in inst.items}
    for number, value in overrides.items():
        values[by_number[number]] = value
    return values


# --- MFQ-30 -------------------------------------------------------------------------------------------------------
def test_mfq30_counts_parts_and_scales_match_the_published_form():
    mfq = load("mfq30")
    assert len(mfq.items) == 32 and [it.number for it in mfq.items] == list(range(1, 33))
    assert [it.number for it in mfq.items if it.part == "relevance"] == list(range(1, 17))
    assert [it.number for it in mfq.items if it.part == "judgment"] == list(range(17, 33))
    assert sorted(s.id for s in mfq.scales) == sorted(MFQ30_KEY)
    scored = [i for s in mfq.scales for i in s.items]
    assert len(scored) == 30 and len(set(scored)) == 30
    catch = sorted(it.number for it in mfq.items if it.id not in set(scored))
    assert catch == sorted(MFQ30_CATCH.values())
    assert {it.code: it.number for it in mfq.items if it.tags["foundation"] == "catch"} == MFQ30_CATCH
    assert {it.number: it.code for it in mfq.items} == MFQ30_VARIABLES
    assert all(it.keying == 1 for it in mfq.items)  # no reverse keys


@pytest.mark.parametrize("foundation", sorted(MFQ30_KEY))
def test_mfq30_foundation_items_equal_item_key(foundation):
    mfq = load("mfq30")
    assert numbers_of(mfq, foundation) == MFQ30_KEY[foundation]
    # three relevance items (part 1) and three judgment items (part 2) per foundation
    by_number = {it.number: it for it in mfq.items}
    assert [by_number[n].part for n in MFQ30_KEY[foundation]] == ["relevance"] * 3 + ["judgment"] * 3
    assert all(by_number[n].tags["foundation"] == foundation for n in MFQ30_KEY[foundation])


def test_mfq30_response_scales_instructions_and_catch_texts():
    mfq = load("mfq30")
    rel, agree = mfq.response_scale("math"), mfq.response_scale("good")
    assert rel.values == agree.values == [0, 1, 2, 3, 4, 5]
    assert rel.labels[0].startswith("not at all relevant") and rel.labels[5].startswith("extremely relevant")
    assert [rel.labels[k] for k in (1, 2, 3, 4)] == ["not very relevant", "slightly relevant", "somewhat relevant",
                                                     "very relevant"]
    assert agree.labels == {0: "Strongly disagree", 1: "Moderately disagree", 2: "Slightly disagree",
                            3: "Slightly agree", 4: "Moderately agree", 5: "Strongly agree"}
    parts = {p.id: p for p in mfq.spec.parts}
    assert "to what extent are the following considerations relevant" in parts["relevance"].instructions
    assert "indicate your agreement or disagreement" in parts["judgment"].instructions
    assert mfq.item("math").text == "Whether or not someone was good at math"
    assert mfq.item("good").text == "It is better to do good than to do bad."
    assert [c.exclude_if for c in mfq.checks] == ["math >= 3 or good <= 2"]
    assert mfq.spec.citation.doi == "10.1037/a0021847"


def test_mfq30_foundation_means_by_hand():
    mfq = load("mfq30")
    # K1 (passes both catch items: MATH 0, GOOD 5):
    #   harm items all 5 -> 5; fairness 1, 2, 3, 4, 5, 3 (items 2, 8, 13, 18, 24, 29) -> 18/6 = 3;
    #   ingroup all 0 -> 0; authority 2, 2, 2, 3, 3, 3 -> 2.5;
    #   purity: items 5, 11, 16 missing, 21 = 4, 27 = 4, 32 = 1 -> 3 of 6 answered, mean 3.
    k1 = {6: 0, 22: 5}
    k1 |= dict.fromkeys(MFQ30_KEY["harm"], 5) | dict.fromkeys(MFQ30_KEY["ingroup"], 0)
    k1 |= dict(zip(MFQ30_KEY["fairness"], [1, 2, 3, 4, 5, 3]))
    k1 |= dict(zip(MFQ30_KEY["authority"], [2, 2, 2, 3, 3, 3]))
    k1 |= {5: math.nan, 11: math.nan, 16: math.nan, 21: 4, 27: 4, 32: 1}
    # K2: everything 4 (MATH 1, GOOD 4), but only 2 purity items answered -> purity missing (needs 3 of 6).
    k2 = {6: 1, 22: 4, 5: math.nan, 11: math.nan, 16: math.nan, 21: math.nan, 27: 2, 32: 3}
    out = mfq.score(pd.DataFrame([row(mfq, 0, k1), row(mfq, 4, k2)], index=["K1", "K2"]))
    expected = {"harm": 5, "fairness": 3, "ingroup": 0, "authority": 2.5, "purity": 3}
    for f, v in expected.items():
        assert out.loc["K1", f] == pytest.approx(v, abs=TOL), f
    assert out.loc["K2", "harm"] == 4 and math.isnan(out.loc["K2", "purity"])
    assert not out["excluded"].any() and (out["exclusion_reason"] == "").all()


def test_mfq30_catch_item_exclusion_rule():
    mfq = load("mfq30")
    # All foundation items 3; rows differ only in the catch answers (MATH = item 6, GOOD = item 22).
    cases = {
        # name: (MATH, GOOD, excluded?)
        "pass_boundary": (2, 3, False),  # 2 < 3 and 3 > 2: both on the allowed side of their cut-offs
        "math_3": (3, 5, True),          # MATH 'somewhat relevant' or higher -> cut
        "math_5": (5, 5, True),
        "good_2": (0, 2, True),          # GOOD 'slightly disagree' or lower -> cut
        "good_0": (1, 0, True),
        "both": (5, 0, True),
        "math_missing_good_ok": (math.nan, 4, False),   # a missing catch answer does not exclude by itself
        "math_missing_good_bad": (math.nan, 1, True),   # ... but the other catch item still applies
        "good_missing_math_bad": (4, math.nan, True),
        "both_missing": (math.nan, math.nan, False),
    }
    frame = pd.DataFrame([row(mfq, 3, {6: m, 22: g}) for m, g, _ in cases.values()], index=list(cases))
    with pytest.warns(UserWarning, match="7 of 10 row"):
        out = mfq.score(frame)
    expected = pd.Series({k: v[2] for k, v in cases.items()})
    assert out["excluded"].tolist() == expected.tolist()
    excluded = expected[expected].index
    kept = expected[~expected].index
    assert out.loc[excluded, "exclusion_reason"].str.startswith("catch_items: math >= 3 or good <= 2").all()
    assert (out.loc[kept, "exclusion_reason"] == "").all()
    # excluded rows lose their scores; kept rows score 3 on every foundation
    assert out.loc[excluded, list(MFQ30_KEY)].isna().all().all()
    assert (out.loc[kept, list(MFQ30_KEY)] == 3).all().all()
    # exclude=False keeps the scores but still reports the verdict
    with pytest.warns(UserWarning, match="kept, exclude=False"):
        kept_all = mfq.score(frame, exclude=False)
    assert (kept_all[list(MFQ30_KEY)] == 3).all().all()
    assert kept_all["excluded"].tolist() == expected.tolist()


def test_mfq30_group_means_leave_out_excluded_rows():
    mfq = load("mfq30")
    rows = [row(mfq, 2, {6: 0, 22: 5}), row(mfq, 4, {6: 0, 22: 5}), row(mfq, 5, {6: 5, 22: 5})]  # third fails MATH
    frame = pd.DataFrame(rows).assign(model=["a", "a", "a"])
    with pytest.warns(UserWarning, match="1 of 3"):
        table = mfq.score_groups(frame, group="model")
    assert table.loc["a", "n"] == 2 and table.loc["a", "harm"] == pytest.approx(3.0, abs=TOL)  # (2 + 4)/2


def test_mfq30_rejects_out_of_range_answers():
    mfq = load("mfq30")
    with pytest.raises(DataError, match="'emotionally'.*outside the response scale 'relevance6'"):
        mfq.score(pd.DataFrame([row(mfq, 3, {1: 6})]))


# --- MFQ-2 --------------------------------------------------------------------------------------------------------
def test_mfq2_counts_scale_and_instructions():
    mfq2 = load("mfq2")
    assert len(mfq2.items) == 36 and [it.number for it in mfq2.items] == list(range(1, 37))
    assert sorted(s.id for s in mfq2.scales) == sorted(MFQ2_KEY)
    assert all(len(s.items) == 6 for s in mfq2.scales)
    assert sorted(i for s in mfq2.scales for i in s.items) == sorted(mfq2.item_ids)
    scale = mfq2.response_scale("mfq2_01")
    assert scale.values == [1, 2, 3, 4, 5]
    assert scale.labels == {1: "Does not describe me at all", 2: "Slightly describes me",
                            3: "Moderately describes me", 4: "Describes me fairly well",
                            5: "Describes me extremely well"}
    assert mfq2.spec.instructions.text == ("For each of the statements below, please indicate how well each "
                                           "statement describes you or your opinions.")
    assert mfq2.spec.checks == [] and all(it.keying == 1 for it in mfq2.items)
    assert mfq2.spec.citation.doi == "10.1037/pspp0000470"
    texts = {it.number: it.text for it in mfq2.items}
    assert texts[1] == "Caring for people who have suffered is an important virtue."
    assert texts[36] == "I admire people who keep their virginity until marriage."


@pytest.mark.parametrize("foundation", sorted(MFQ2_KEY))
def test_mfq2_foundation_items_equal_published_key(foundation):
    mfq2 = load("mfq2")
    assert numbers_of(mfq2, foundation) == MFQ2_KEY[foundation]
    by_number = {it.number: it for it in mfq2.items}
    assert all(by_number[n].tags["foundation"] == foundation for n in MFQ2_KEY[foundation])


def test_mfq2_foundation_means_by_hand():
    mfq2 = load("mfq2")
    # M1: care 5, 5, 4, 4, 3, 3 -> 24/6 = 4; equality all 1 -> 1; proportionality 2, 3, 4, 5, 1, 3 -> 18/6 = 3;
    #     loyalty all 5 -> 5; authority 1, 2, 1, 2, 1, 2 -> 1.5; purity 3, -, -, -, 2, 4 -> 9/3 = 3 (3 of 6 answered).
    m1: dict[int, float] = {}
    m1 |= dict(zip(MFQ2_KEY["care"], [5, 5, 4, 4, 3, 3]))
    m1 |= dict.fromkeys(MFQ2_KEY["equality"], 1) | dict.fromkeys(MFQ2_KEY["loyalty"], 5)
    m1 |= dict(zip(MFQ2_KEY["proportionality"], [2, 3, 4, 5, 1, 3]))
    m1 |= dict(zip(MFQ2_KEY["authority"], [1, 2, 1, 2, 1, 2]))
    m1 |= dict(zip(MFQ2_KEY["purity"], [3, math.nan, math.nan, math.nan, 2, 4]))
    # M2: everything 2, but only 2 care items answered -> care missing.
    m2 = dict(zip(MFQ2_KEY["care"], [math.nan, math.nan, math.nan, math.nan, 2, 2]))
    out = mfq2.score(pd.DataFrame([row(mfq2, 0, m1), row(mfq2, 2, m2)], index=["M1", "M2"]))
    expected = {"care": 4, "equality": 1, "proportionality": 3, "loyalty": 5, "authority": 1.5, "purity": 3}
    for f, v in expected.items():
        assert out.loc["M1", f] == pytest.approx(v, abs=TOL), f
    assert math.isnan(out.loc["M2", "care"]) and out.loc["M2", "purity"] == 2
    assert "excluded" not in out.columns  # the MFQ-2 has no catch items


def test_mfq2_rejects_zero_which_is_outside_1_to_5():
    mfq2 = load("mfq2")
    with pytest.raises(DataError, match="outside the response scale 'describes5'"):
        mfq2.score(pd.DataFrame([{"mfq2_01": 0}]))
