"""Schwartz instruments as shipped data: SVS-56, its SVS-57 edition and the PVQ-RR.

The published keys are written here as literal tables, copied from the sources (not read back from the YAML):

* SVS: keying table of Schwartz (2009), *Draft users manual: Proper use of the Schwartz Value Survey*
  ("Keying of SVS Ten Individual Level Value Scales"), which lists the SVS-57 key (hedonism 4, 50, 57); the
  SVS-56 key is the same without item 57 ("Differences in the SVS56 and SVS57": item 21 changed, item 57 added).
* PVQ-RR: Schwartz (2021), *Coding & Analysis Instructions PVQ-RR*, June 2021 (19 narrower values, 10 broad
  values, 4 higher-order values, MRAT over all 57 items).

The scoring examples are computed by hand in the comments; floating-point tolerances are 1e-12 because every
expected value is an exact small fraction and the engine only takes means and differences.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from psychoml.errors import DataError
from psychoml.instruments import load

TOL = 1e-12  # exact fractions; only means and differences are involved

# --- literal keys from the sources -------------------------------------------------------------------------------
SVS56_KEY = {  # Schwartz (2009) keying table without item 57
    "power": [3, 12, 27, 46],
    "achievement": [34, 39, 43, 55],
    "hedonism": [4, 50],
    "stimulation": [9, 25, 37],
    "self_direction": [5, 16, 31, 41, 53],
    "universalism": [1, 17, 24, 26, 29, 30, 35, 38],
    "benevolence": [33, 45, 49, 52, 54],
    "tradition": [18, 32, 36, 44, 51],
    "conformity": [11, 20, 40, 47],
    "security": [8, 13, 15, 22, 56],
}
SVS57_KEY = {**SVS56_KEY, "hedonism": [4, 50, 57]}
SVS_MRAT_ONLY = [2, 6, 7, 10, 14, 19, 21, 23, 28, 42, 48]
SVS_HIGHER_ORDER = {  # Schwartz (2009): averages of the value types; hedonism in openness (documented choice)
    "openness_to_change": ["self_direction", "stimulation", "hedonism"],
    "self_enhancement": ["achievement", "power"],
    "conservation": ["security", "conformity", "tradition"],
    "self_transcendence": ["universalism", "benevolence"],
}
# Value names in survey order (Schwartz, 2009, item list of the SVS-57); item 21 of the SVS-56 is DETACHMENT.
SVS57_NAMES = [
    "EQUALITY", "INNER HARMONY", "SOCIAL POWER", "PLEASURE", "FREEDOM", "A SPIRITUAL LIFE", "SENSE OF BELONGING",
    "SOCIAL ORDER", "AN EXCITING LIFE", "MEANING IN LIFE", "POLITENESS", "WEALTH", "NATIONAL SECURITY", "SELF RESPECT",
    "RECIPROCATION OF FAVORS", "CREATIVITY", "A WORLD AT PEACE", "RESPECT FOR TRADITION", "MATURE LOVE",
    "SELF-DISCIPLINE", "PRIVACY", "FAMILY SECURITY", "SOCIAL RECOGNITION", "UNITY WITH NATURE", "A VARIED LIFE",
    "WISDOM", "AUTHORITY", "TRUE FRIENDSHIP", "A WORLD OF BEAUTY", "SOCIAL JUSTICE", "INDEPENDENT", "MODERATE",
    "LOYAL", "AMBITIOUS", "BROADMINDED", "HUMBLE", "DARING", "PROTECTING THE ENVIRONMENT", "INFLUENTIAL",
    "HONORING OF PARENTS AND ELDERS", "CHOOSING OWN GOALS", "HEALTHY", "CAPABLE", "ACCEPTING MY PORTION IN LIFE",
    "HONEST", "PRESERVING MY PUBLIC IMAGE", "OBEDIENT", "INTELLIGENT", "HELPFUL", "ENJOYING LIFE", "DEVOUT",
    "RESPONSIBLE", "CURIOUS", "FORGIVING", "SUCCESSFUL", "CLEAN", "SELF-INDULGENT",
]
SVS56_NAMES = SVS57_NAMES[:20] + ["DETACHMENT"] + SVS57_NAMES[21:56]

PVQ_RR_KEY = {  # Coding & Analysis Instructions PVQ-RR, "Scoring Key for 19 Narrower Basic Values"
    "self_direction_thought": [1, 23, 39],
    "self_direction_action": [16, 30, 56],
    "stimulation": [10, 28, 43],
    "hedonism": [3, 36, 46],
    "achievement": [17, 32, 48],
    "power_dominance": [6, 29, 41],
    "power_resources": [12, 20, 44],
    "face": [9, 24, 49],
    "security_personal": [13, 26, 53],
    "security_societal": [2, 35, 50],
    "tradition": [18, 33, 40],
    "conformity_rules": [15, 31, 42],
    "conformity_interpersonal": [4, 22, 51],
    "humility": [7, 38, 54],
    "universalism_nature": [8, 21, 45],
    "universalism_concern": [5, 37, 52],
    "universalism_tolerance": [14, 34, 57],
    "benevolence_care": [11, 25, 47],
    "benevolence_dependability": [19, 27, 55],
}
PVQ_RR_BROAD_KEY = {  # "Scoring Key for 10 Original Broad Basic Values with the PVQ-RR Value Scale"
    "broad_self_direction": [1, 23, 39, 16, 30, 56],
    "broad_stimulation": [10, 28, 43],
    "broad_hedonism": [3, 36, 46],
    "broad_achievement": [17, 32, 48],
    "broad_power": [6, 29, 41, 12, 20, 44],
    "broad_security": [13, 26, 53, 2, 35, 50],
    "broad_conformity": [15, 31, 42, 4, 22, 51],
    "broad_tradition": [18, 33, 40, 7, 38, 54],
    "broad_benevolence": [11, 25, 47, 19, 27, 55],
    "broad_universalism": [8, 21, 45, 5, 37, 52, 14, 34, 57],
}
PVQ_RR_HIGHER_ORDER = {  # "Scoring Key for four Higher Order Values": combine means of these values
    "self_transcendence": ["universalism_nature", "universalism_concern", "universalism_tolerance",
                           "benevolence_care", "benevolence_dependability"],
    "self_enhancement": ["achievement", "power_dominance", "power_resources"],
    "openness_to_change": ["self_direction_thought", "self_direction_action", "stimulation", "hedonism"],
    "conservation": ["security_personal", "security_societal", "tradition", "conformity_rules",
                     "conformity_interpersonal"],
}


# --- helpers -----------------------------------------------------------------------------------------------------
def numbers_of(inst, scale_id: str) -> list[int]:
    by_id = {it.id: it.number for it in inst.items}
    scale = next(s for s in inst.scales if s.id == scale_id)
    return sorted(by_id[i] for i in scale.items)


def row(inst, default: float, overrides: dict[int, float]) -> dict[str, float]:
    """One respondent: every item `default`, except item numbers in `overrides` (NaN = missing)."""
    by_number = {it.number: it.id for it in inst.items}
    values = {it.id: float(default) for it in inst.items}
    for number, value in overrides.items():
        values[by_number[number]] = value
    return values


# --- SVS-56 -------------------------------------------------------------------------------------------------------
def test_svs56_counts_match_the_published_survey():
    svs = load("svs56")
    assert len(svs.items) == 56
    assert [it.number for it in svs.items] == list(range(1, 57))
    assert [it.number for it in svs.items if it.part == "list_1"] == list(range(1, 31))  # nouns
    assert [it.number for it in svs.items if it.part == "list_2"] == list(range(31, 57))  # adjectives
    values = [s for s in svs.scales if s.tags.get("level") == "basic_value"]
    assert sorted(s.id for s in values) == sorted(SVS56_KEY)
    scored = [i for s in values for i in s.items]
    assert len(scored) == 45 and len(set(scored)) == 45  # 45 items, each in exactly one value
    mrat_only = sorted(it.number for it in svs.items if it.id not in set(scored))
    assert mrat_only == SVS_MRAT_ONLY and len(mrat_only) == 11
    assert [m.id for m in svs.spec.respondent_means] == ["MRAT"] and svs.spec.respondent_means[0].items == "all"


@pytest.mark.parametrize("value", sorted(SVS56_KEY))
def test_svs56_value_items_equal_schwartz_key(value):
    assert numbers_of(load("svs56"), value) == sorted(SVS56_KEY[value])


def test_svs_higher_order_composites_and_centring():
    for iid in ("svs56", "svs57"):
        inst = load(iid)
        scales = {s.id: s for s in inst.scales}
        for ho, parts in SVS_HIGHER_ORDER.items():
            assert sorted(scales[ho].scales) == sorted(parts), (iid, ho)
            assert scales[ho].items == []  # a mean of value means, not of items
        # every value and higher-order score is centred on MRAT
        assert all(s.centre == "MRAT" for s in inst.scales), iid


def test_svs56_item_texts_names_and_tags():
    svs = load("svs56")
    by_number = {it.number: it for it in svs.items}
    assert by_number[1].text == "EQUALITY (equal opportunity for all)"
    assert by_number[21].text == "DETACHMENT (from worldly concerns)" and by_number[21].id == "svs21d"
    for number, name in enumerate(SVS56_NAMES, 1):
        text = by_number[number].text
        assert text.startswith(name + " (") and text.endswith(")"), (number, text)  # NAME (explanatory phrase)
    value_of = {n: v for v, nums in SVS56_KEY.items() for n in nums}
    ho_of = {v: ho for ho, vals in SVS_HIGHER_ORDER.items() for v in vals}
    for it in svs.items:
        expected = value_of.get(it.number, "mrat_only")
        assert it.tags["value"] == expected, it.number
        assert it.tags["higher_order"] == ho_of.get(expected, "none"), it.number
        assert it.keying == 1  # the SVS has no reverse-keyed items


def test_svs_response_scale_and_official_instructions():
    svs = load("svs56")
    scale = svs.response_scale("svs01")
    assert scale.values == [-1, 0, 1, 2, 3, 4, 5, 6, 7]
    assert scale.labels == {-1: "opposed to my values", 0: "not important", 3: "important", 6: "very important",
                            7: "of supreme importance"}
    steps = svs.spec.instructions.steps
    # Two-step procedure, per list: rate the most important value first, then the most opposed one (-1), then the rest.
    assert len(steps) == 6
    for first, second, rest, lst in ((0, 1, 2, "List I"), (3, 4, 5, "List II")):
        assert lst in steps[first] and "most important" in steps[first]
        assert "most opposed" in steps[second] and "-1" in steps[second]
        assert steps[rest].startswith("Then rate the rest of the values")
    parts = {p.id: p for p in svs.spec.parts}
    assert "ways of acting" in parts["list_2"].instructions  # List II has its own instructions
    assert "supreme importance" in svs.spec.instructions.text
    assert svs.spec.citation.doi == "10.1016/S0065-2601(08)60281-6"
    assert svs.spec.terms.redistribution == "restricted"


def test_svs_rejects_answers_outside_minus1_to_7():
    svs = load("svs56")
    with pytest.raises(DataError, match="svs03.*outside the response scale"):
        svs.score(pd.DataFrame([row(svs, 3, {3: 8})]))


def test_svs56_mrat_centring_reproduces_hand_computation():
    svs = load("svs56")
    # R1: every item 4, except power (3, 12, 27, 46) = 0, achievement (34, 39, 43, 55) = 6 and three MRAT-only
    #     items 2 = 7, 6 = 7, 7 = 6.  Sum = 56*4 - 4*4 + 4*2 + 3 + 3 + 2 = 224, so MRAT = 224/56 = 4.
    #     Raw: power 0, achievement 6, the other eight values 4 (the MRAT-only items enter no value).
    #     Centred: power -4, achievement +2, others 0.  Self-enhancement = (6 + 0)/2 = 3, centred -1;
    #     openness = conservation = self-transcendence = 4, centred 0.
    r1 = row(svs, 4, {3: 0, 12: 0, 27: 0, 46: 0, 34: 6, 39: 6, 43: 6, 55: 6, 2: 7, 6: 7, 7: 6})
    # R2: every item 2, except universalism (1, 17, 24, 26, 29, 30, 35, 38) = 5, item 21 DETACHMENT = -1,
    #     item 3 SOCIAL POWER = -1, item 28 TRUE FRIENDSHIP = 6, and item 48 INTELLIGENT missing.
    #     55 answered items, sum = 55*2 + 8*3 - 3 - 3 + 4 = 132, MRAT = 132/55 = 2.4.
    #     Raw: universalism 5, power (-1 + 2 + 2 + 2)/4 = 1.25, others 2.
    #     Centred: universalism 2.6, power -1.15, others -0.4.
    #     Self-transcendence (5 + 2)/2 = 3.5 -> 1.1; self-enhancement (2 + 1.25)/2 = 1.625 -> -0.775;
    #     openness 2 -> -0.4; conservation 2 -> -0.4.
    r2 = row(svs, 2, {1: 5, 17: 5, 24: 5, 26: 5, 29: 5, 30: 5, 35: 5, 38: 5, 21: -1, 3: -1, 28: 6, 48: math.nan})
    out = svs.score(pd.DataFrame([r1, r2], index=["R1", "R2"]))

    assert out.loc["R1", "MRAT"] == pytest.approx(4.0, abs=TOL)
    assert out.loc["R2", "MRAT"] == pytest.approx(2.4, abs=TOL)
    raw = {"R1": dict.fromkeys(SVS56_KEY, 4.0) | {"power": 0.0, "achievement": 6.0},
           "R2": dict.fromkeys(SVS56_KEY, 2.0) | {"universalism": 5.0, "power": 1.25}}
    centred = {"R1": dict.fromkeys(SVS56_KEY, 0.0) | {"power": -4.0, "achievement": 2.0},
               "R2": dict.fromkeys(SVS56_KEY, -0.4) | {"universalism": 2.6, "power": -1.15}}
    for r in ("R1", "R2"):
        for v in SVS56_KEY:
            assert out.loc[r, v] == pytest.approx(raw[r][v], abs=TOL), (r, v)
            assert out.loc[r, f"{v}_centred"] == pytest.approx(centred[r][v], abs=TOL), (r, v)
    higher = {"R1": {"openness_to_change": (4, 0), "self_enhancement": (3, -1), "conservation": (4, 0),
                     "self_transcendence": (4, 0)},
              "R2": {"openness_to_change": (2, -0.4), "self_enhancement": (1.625, -0.775),
                     "conservation": (2, -0.4), "self_transcendence": (3.5, 1.1)}}
    for r, expected in higher.items():
        for ho, (value, centred_value) in expected.items():
            assert out.loc[r, ho] == pytest.approx(value, abs=TOL), (r, ho)
            assert out.loc[r, f"{ho}_centred"] == pytest.approx(centred_value, abs=TOL), (r, ho)
    # centred value scores of a respondent are the same as the mean of MRAT-centred items (manual step B1)
    items_centred = pd.Series(r1) - out.loc["R1", "MRAT"]
    by_number = {it.number: it.id for it in svs.items}
    for v, nums in SVS56_KEY.items():
        assert items_centred[[by_number[n] for n in nums]].mean() == pytest.approx(out.loc["R1", f"{v}_centred"])


def test_svs_missing_data_rule():
    svs = load("svs56")
    # stimulation has 3 items: 1 answered (< 2 required) -> missing; hedonism has 2: 1 answered is enough.
    r = row(svs, 3, {9: 6, 25: math.nan, 37: math.nan, 4: math.nan, 50: 5})
    out = svs.score(pd.DataFrame([r]))
    assert math.isnan(out.loc[0, "stimulation"]) and math.isnan(out.loc[0, "stimulation_centred"])
    assert out.loc[0, "hedonism"] == 5
    # openness = mean of its answered values (self-direction 3, hedonism 5): 2 of 3 components present
    assert out.loc[0, "openness_to_change"] == pytest.approx(4.0, abs=TOL)


# --- SVS-57 edition -----------------------------------------------------------------------------------------------
def test_svs57_edition_counts_key_and_changed_items():
    svs57 = load("svs57")
    assert svs57.id == "svs57" and len(svs57.items) == 57
    assert [it.number for it in svs57.items] == list(range(1, 58))
    by_number = {it.number: it for it in svs57.items}
    assert by_number[21].text == "PRIVACY (the right to have a private sphere)" and by_number[21].id == "svs21p"
    assert by_number[57].text == "SELF-INDULGENT (doing pleasant things)" and by_number[57].part == "list_2"
    assert "svs21d" not in svs57.item_ids
    for number, name in enumerate(SVS57_NAMES, 1):
        assert by_number[number].text.startswith(name + " ("), number
    for value, nums in SVS57_KEY.items():
        assert numbers_of(svs57, value) == sorted(nums), value
    scored = {i for s in svs57.scales if s.tags.get("level") == "basic_value" for i in s.items}
    assert len(scored) == 46
    assert sorted(it.number for it in svs57.items if it.id not in scored) == SVS_MRAT_ONLY
    assert by_number[57].tags == {"value": "hedonism", "higher_order": "openness_to_change"}
    assert by_number[21].tags["value"] == "mrat_only"
    assert "Sagiv" in svs57.spec.citation.text


def test_svs57_mrat_uses_all_57_items_and_item_57_enters_hedonism():
    svs57 = load("svs57")
    # Every item 4, except power = 0 (4 items), achievement = 6 (4 items), item 6 = 7, item 7 = 6 and
    # item 57 SELF-INDULGENT = 7.  Sum = 57*4 - 16 + 8 + 3 + 2 + 3 = 228, MRAT = 228/57 = 4.
    # Hedonism = (4 + 4 + 7)/3 = 5 -> centred 1; openness = (4 + 4 + 5)/3 = 13/3 -> centred 1/3.
    r = row(svs57, 4, {3: 0, 12: 0, 27: 0, 46: 0, 34: 6, 39: 6, 43: 6, 55: 6, 6: 7, 7: 6, 57: 7})
    out = svs57.score(pd.DataFrame([r]))
    assert out.loc[0, "MRAT"] == pytest.approx(4.0, abs=TOL)
    assert out.loc[0, "hedonism"] == pytest.approx(5.0, abs=TOL)
    assert out.loc[0, "hedonism_centred"] == pytest.approx(1.0, abs=TOL)
    assert out.loc[0, "openness_to_change_centred"] == pytest.approx(1 / 3, abs=TOL)
    assert out.loc[0, "power_centred"] == pytest.approx(-4.0, abs=TOL)


# --- PVQ-RR -------------------------------------------------------------------------------------------------------
def test_pvq_rr_counts_match_the_published_instrument():
    pvq = load("pvq_rr")
    assert len(pvq.items) == 57 and [it.number for it in pvq.items] == list(range(1, 58))
    refined = [s for s in pvq.scales if s.tags.get("level") == "refined_value"]
    assert len(refined) == 19 and all(len(s.items) == 3 for s in refined)
    assert sorted(i for s in refined for i in s.items) == sorted(pvq.item_ids)  # each item in exactly one value
    assert len([s for s in pvq.scales if s.tags.get("level") == "broad_value"]) == 10
    assert len([s for s in pvq.scales if s.tags.get("level") == "higher_order"]) == 4
    scale = pvq.response_scale("pvq01")
    assert scale.values == [1, 2, 3, 4, 5, 6]
    assert scale.labels == {1: "Not like me at all", 2: "Not like me", 3: "A little like me",
                            4: "Moderately like me", 5: "Like me", 6: "Very much like me"}
    assert all(it.keying == 1 for it in pvq.items)  # no reverse keys in the PVQ-RR


@pytest.mark.parametrize("value", sorted(PVQ_RR_KEY))
def test_pvq_rr_refined_value_items_equal_published_key(value):
    assert numbers_of(load("pvq_rr"), value) == sorted(PVQ_RR_KEY[value])


def test_pvq_rr_broad_and_higher_order_keys():
    pvq = load("pvq_rr")
    for value, nums in PVQ_RR_BROAD_KEY.items():
        assert numbers_of(pvq, value) == sorted(nums), value
    scales = {s.id: s for s in pvq.scales}
    for ho, parts in PVQ_RR_HIGHER_ORDER.items():
        assert sorted(scales[ho].scales) == sorted(parts), ho
    # face and humility are kept out of the higher-order values ("best treated as separate values")
    in_higher_order = {v for parts in PVQ_RR_HIGHER_ORDER.values() for v in parts}
    assert {"face", "humility"}.isdisjoint(in_higher_order)
    assert all(s.centre == "MRAT" for s in pvq.scales)


def test_pvq_rr_text_terms_and_instructions():
    pvq = load("pvq_rr")
    texts = {it.number: it.text for it in pvq.items}
    assert texts[1] == "It is important to him to form his views independently."
    assert texts[57] == "It is important to him to accept people even when he disagrees with them."
    # one (male) version is stored: every portrait is about "him"
    assert all(t.startswith(("It is important to him", "It is very important to him")) for t in texts.values())
    assert "Female" in pvq.spec.scoring_notes
    assert "academic research" in pvq.spec.terms.licence and "commercial" in pvq.spec.terms.licence
    assert pvq.spec.terms.redistribution == "restricted"
    assert "how much that person is or is not like you" in pvq.spec.instructions.text
    assert pvq.spec.citation.doi == "10.1037/a0029393"


def test_pvq_rr_mrat_centring_reproduces_hand_computation():
    pvq = load("pvq_rr")
    # P1: every item 3, except power-dominance (6, 29, 41) = 6, humility (7, 38, 54) = 1, face (9, 24, 49) = 2.
    #     Sum = 57*3 + 9 - 6 - 3 = 171, MRAT = 3.  Raw: PD 6, humility 1, face 2, the other 16 values 3.
    #     Centred: PD 3, humility -2, face -1, others 0.  Broad power (6,6,6,3,3,3) = 4.5 -> 1.5;
    #     broad tradition (3,3,3,1,1,1) = 2 -> -1.  Self-enhancement (3 + 6 + 3)/3 = 4 -> 1; conservation 3 -> 0
    #     (humility is not part of it).
    p1 = row(pvq, 3, {6: 6, 29: 6, 41: 6, 7: 1, 38: 1, 54: 1, 9: 2, 24: 2, 49: 2})
    # P2: every item 4, except item 1 = 1 and items 34, 57 missing (universalism-tolerance has 1 of 3 left).
    #     55 answered, sum = 55*4 - 3 = 217, MRAT = 217/55.  SDT = (1 + 4 + 4)/3 = 3 -> 3 - 217/55;
    #     universalism-tolerance missing (fewer than 2 of 3 items); self-transcendence = mean of the 4 present
    #     values = 4 -> 4 - 217/55.
    p2 = row(pvq, 4, {1: 1, 34: math.nan, 57: math.nan})
    out = pvq.score(pd.DataFrame([p1, p2], index=["P1", "P2"]))

    assert out.loc["P1", "MRAT"] == pytest.approx(3.0, abs=TOL)
    expected_p1 = dict.fromkeys(PVQ_RR_KEY, 0.0) | {"power_dominance": 3.0, "humility": -2.0, "face": -1.0}
    for value, centred in expected_p1.items():
        assert out.loc["P1", f"{value}_centred"] == pytest.approx(centred, abs=TOL), value
        assert out.loc["P1", value] == pytest.approx(centred + 3.0, abs=TOL), value
    assert out.loc["P1", "broad_power"] == pytest.approx(4.5, abs=TOL)
    assert out.loc["P1", "broad_power_centred"] == pytest.approx(1.5, abs=TOL)
    assert out.loc["P1", "broad_tradition_centred"] == pytest.approx(-1.0, abs=TOL)
    assert out.loc["P1", "self_enhancement"] == pytest.approx(4.0, abs=TOL)
    assert out.loc["P1", "self_enhancement_centred"] == pytest.approx(1.0, abs=TOL)
    assert out.loc["P1", "conservation_centred"] == pytest.approx(0.0, abs=TOL)

    mrat2 = 217 / 55
    assert out.loc["P2", "MRAT"] == pytest.approx(mrat2, abs=TOL)
    assert out.loc["P2", "self_direction_thought_centred"] == pytest.approx(3 - mrat2, abs=TOL)
    assert np.isnan(out.loc["P2", "universalism_tolerance"])
    assert out.loc["P2", "self_transcendence_centred"] == pytest.approx(4 - mrat2, abs=TOL)
