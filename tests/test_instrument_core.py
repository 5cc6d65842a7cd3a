"""The instrument schema, loader and scoring engine: located errors, keys, missing-data rule, groups, editions."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from psychoml.errors import DataError, InstrumentError
from psychoml.instruments import GroupLevelWarning, json_schema, load, load_string, validate_file

DATA = Path(__file__).parent / "data"
BASE = (DATA / "bfi10.yaml").read_text()


def write(tmp_path: Path, text: str, name: str = "inst.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def line_of(text: str, needle: str) -> int:
    for i, line in enumerate(text.splitlines(), 1):
        if needle in line:
            return i
    raise AssertionError(needle)


# --- point 3: one test per error class, each naming file, YAML path and line ---------------------------------------
def test_yaml_syntax_error_names_file_and_line(tmp_path):
    bad = BASE.replace("  - id: agree5\n", "  - id: agree5\n    values: [1, 2\n", 1)
    p = write(tmp_path, bad)
    with pytest.raises(InstrumentError) as exc:
        validate_file(p)
    msg = str(exc.value)
    assert msg.startswith(f"{p}:")
    assert "could not parse YAML" in msg
    assert exc.value.line is not None and abs(exc.value.line - line_of(bad, "values: [1, 2")) <= 2


def test_duplicate_item_id(tmp_path):
    bad = BASE.replace("{id: bfi07,", "{id: bfi02,")
    p = write(tmp_path, bad)
    with pytest.raises(InstrumentError) as exc:
        validate_file(p)
    msg = str(exc.value)
    assert "duplicate id 'bfi02'" in msg and "items[6].id" in msg
    assert f"{p}:{line_of(bad, 'id: bfi02, number: 7')}" in msg


def test_scale_naming_missing_item(tmp_path):
    bad = BASE.replace("items: [bfi04, bfi09]", "items: [bfi04, bfi99]")
    p = write(tmp_path, bad)
    with pytest.raises(InstrumentError) as exc:
        validate_file(p)
    msg = str(exc.value)
    assert "scale 'neuroticism' names missing item 'bfi99'" in msg
    assert "scales[3].items[1]" in msg and f":{line_of(bad, 'bfi99')}" in msg


@pytest.mark.parametrize("keying", ["2", "0", "yes", "0.5"])
def test_keying_not_plus_minus_one(tmp_path, keying):
    bad = BASE.replace("scale: agree5, keying: -1, tags: {trait: extraversion}", f"scale: agree5, keying: {keying}, tags: {{trait: extraversion}}")
    p = write(tmp_path, bad)
    with pytest.raises(InstrumentError) as exc:
        validate_file(p)
    msg = str(exc.value)
    assert "keying must be +1 or -1" in msg and "items[0].keying" in msg
    assert f":{line_of(bad, 'id: bfi01')}" in msg


def test_index_formula_unknown_symbol(tmp_path):
    bad = BASE + "indices:\n  - id: EminusN\n    formula: extraversion - neurotism\n"
    p = write(tmp_path, bad)
    with pytest.raises(InstrumentError) as exc:
        validate_file(p)
    msg = str(exc.value)
    assert "unknown symbol(s) 'neurotism'" in msg and "indices[0].formula" in msg
    assert f":{line_of(bad, 'formula:')}" in msg


def test_index_formula_outside_language_is_rejected(tmp_path):
    bad = BASE + "indices:\n  - id: bad\n    formula: __import__('os').system('true')\n"
    with pytest.raises(InstrumentError) as exc:
        validate_file(write(tmp_path, bad))
    assert "indices[0].formula" in str(exc.value)


def test_response_value_outside_scale_names_file_row_and_column():
    inst = load(DATA / "bfi10.yaml")
    df = pd.DataFrame({c: [3, 3, 3] for c in inst.item_ids})
    df.loc[2, "bfi04"] = 9
    with pytest.raises(DataError) as exc:
        inst.score(df, source="answers.csv")
    msg = str(exc.value)
    assert msg.startswith("answers.csv: row 4 (index 2), column 'bfi04'")
    assert "outside the response scale 'agree5' (1..5)" in msg


def test_unknown_field_and_missing_field_are_located(tmp_path):
    p = write(tmp_path, BASE.replace("language: en", "langauge: en"))
    with pytest.raises(InstrumentError, match=r"unknown field 'langauge'") as exc:
        validate_file(p)
    assert f":{line_of(BASE, 'language: en')}" in str(exc.value)
    p2 = write(tmp_path, BASE.replace('version: "2007"\n', ""), "b.yaml")
    with pytest.raises(InstrumentError, match="required field 'version' is missing"):
        validate_file(p2)


def test_duplicate_yaml_key_is_an_error(tmp_path):
    p = write(tmp_path, BASE.replace("language: en", "language: en\nlanguage: de"))
    with pytest.raises(InstrumentError, match="duplicate key 'language'"):
        validate_file(p)


def test_unsafe_yaml_tags_are_refused(tmp_path):
    p = write(tmp_path, BASE.replace("language: en", "language: !!python/object/apply:os.system ['true']"))
    with pytest.raises(InstrumentError, match="could not parse YAML"):
        validate_file(p)


def test_missing_file():
    with pytest.raises(InstrumentError, match="nope.yaml: file not found"):
        validate_file("nope.yaml")


# --- point 7: a custom instrument loads, validates and scores with no code change ----------------------------------
def test_custom_bfi10_scores_with_reverse_keys():
    inst = load(DATA / "bfi10.yaml")
    assert (len(inst.items), len(inst.scales)) == (10, 5)
    df = pd.DataFrame(
        [[1, 4, 2, 5, 1, 5, 2, 4, 1, 5], [5, 2, 4, 1, 5, 1, 4, 2, 5, 1]],
        columns=inst.item_ids, index=["r1", "r2"],
    )
    s = inst.score(df)
    # r1: extraversion = mean(6 - 1, 5) = 5; agreeableness = mean(4, 6 - 2) = 4; conscientiousness = mean(6 - 2, 4) = 4
    #     neuroticism = mean(6 - 5, 1) = 1; openness = mean(6 - 1, 5) = 5
    assert s.loc["r1"].tolist() == [5.0, 4.0, 4.0, 1.0, 5.0]
    # r2 is r1 mirrored on every item: each score mirrors too (6 - x)
    assert s.loc["r2"].tolist() == [1.0, 2.0, 2.0, 5.0, 1.0]


def test_missing_data_rule_min_items_and_default_half():
    text = BASE.replace("{id: extraversion, items: [bfi01, bfi06], min_items: 2}", "{id: extraversion, items: [bfi01, bfi06]}")
    inst = load_string(text)
    df = pd.DataFrame({c: [3.0, 3.0] for c in inst.item_ids})
    df.loc[0, "bfi06"] = np.nan  # one of two extraversion items: default rule (half, rounded up) still scores
    df.loc[1, "bfi02"] = np.nan  # agreeableness has min_items: 2 -> missing
    s = inst.score(df)
    assert s.loc[0, "extraversion"] == 3.0
    assert np.isnan(s.loc[1, "agreeableness"])


def test_fractional_answers_allowed_unless_strict():
    inst = load(DATA / "bfi10.yaml")
    df = pd.DataFrame({c: [3.5] for c in inst.item_ids})
    assert inst.score(df).loc[0, "openness"] == pytest.approx(((6 - 3.5) + 3.5) / 2)
    with pytest.raises(DataError, match="whole values only"):
        inst.score(df, strict=True)


def test_non_numeric_answer_is_located():
    inst = load(DATA / "bfi10.yaml")
    df = pd.DataFrame({c: ["3"] for c in inst.item_ids})
    df.loc[0, "bfi03"] = "often"
    with pytest.raises(DataError, match=r"row 2 \(index 0\), column 'bfi03': value 'often' is not a number"):
        inst.score(df)


GROUPED = textwrap.dedent(
    """
    id: toy
    name: Toy with indices, checks and centring
    version: "1"
    citation: {text: "Test fixture"}
    terms: {licence: "CC0", redistribution: allowed}
    instructions: {text: "Rate."}
    response_scales:
      - {id: s, values: [1, 2, 3, 4, 5], missing: {-1: don't know}}
    items:
      - {id: a, text: A, scale: s}
      - {id: b, text: B, scale: s}
      - {id: c, text: C, scale: s}
      - {id: attn, text: Attention, scale: s}
    respondent_means:
      - {id: MRAT, items: [a, b, c]}
    scales:
      - {id: ab, items: [a, b], centre: MRAT}
      - {id: top, scales: [ab]}
    checks:
      - {id: attention, items: [attn], exclude_if: "attn >= 3", description: "must answer 1 or 2"}
    constants: {K: 10}
    indices:
      - {id: diff, formula: "a - c"}
      - {id: G, formula: "20 * (a - b) + K", level: group}
    """
)


def test_centring_checks_respondent_and_group_indices():
    inst = load_string(GROUPED)
    df = pd.DataFrame(
        {"a": [5, 4, 2, 3], "b": [3, 2, 2, -1], "c": [1, 3, 5, 2], "attn": [1, 2, 1, 4], "team": ["x", "x", "y", "y"]}
    )
    with pytest.warns(UserWarning, match="1 of 4 row"):
        s = inst.score(df, group="team")
    # row 0: ab = 4, MRAT = 3, centred = 1; diff = 4
    assert s.loc[0, ["ab", "ab_centred", "MRAT", "top", "diff"]].tolist() == [4.0, 1.0, 3.0, 4.0, 4.0]
    # row 3: b = -1 is "don't know" -> missing; attn = 4 fails the check -> scores missing, reason reported
    assert bool(s.loc[3, "excluded"]) and "attention" in s.loc[3, "exclusion_reason"]
    assert s.loc[3, ["ab", "diff", "G"]].isna().all()
    # group x: a mean 4.5, b mean 2.5 -> 20 * 2 + 10 = 50; group y keeps only row 2: 20 * 0 + 10 = 10
    assert s.loc[0, "G"] == s.loc[1, "G"] == 50.0
    assert s.loc[2, "G"] == 10.0
    s2 = inst.score(df, group="team", constants={"K": 0}, exclude=False)
    assert s2.loc[0, "G"] == 40.0 and not np.isnan(s2.loc[3, "diff"])
    table = inst.score_groups(df, group="team")
    assert table.loc["x", "n"] == 2 and table.loc["y", "n"] == 1 and table.loc["x", "G"] == 50.0


def test_group_indices_without_group_warn():
    inst = load_string(GROUPED)
    df = pd.DataFrame({"a": [5, 3], "b": [3, 3], "c": [1, 1], "attn": [1, 1]})
    with pytest.warns(GroupLevelWarning, match="defined on sample means"):
        s = inst.score(df)
    assert s["G"].tolist() == [30.0, 30.0]


def test_unknown_constant_override_is_an_error():
    inst = load_string(GROUPED)
    with pytest.raises(DataError, match="no constant 'C_pd'"):
        inst.score(pd.DataFrame({"a": [1]}), constants={"C_pd": 1})


def test_editions_replace_and_add_items(tmp_path):
    text = BASE + textwrap.dedent(
        """
        editions:
          - id: bfi11
            name: BFI-10 plus one
            remove_items: [bfi02]
            add_items:
              - {id: bfi02b, number: 2, text: "... is considerate", scale: agree5, tags: {trait: agreeableness}}
              - {id: bfi11, number: 11, text: "... is helpful", scale: agree5, tags: {trait: agreeableness}}
            scales:
              - {id: agreeableness, items: [bfi02b, bfi07, bfi11]}
        """
    )
    p = write(tmp_path, text)
    base = validate_file(p)
    ed = base.edition("bfi11")
    assert ed.id == "bfi11" and len(ed.items) == 11
    assert ed.item_ids[1] == "bfi02b" and ed.item_ids[-1] == "bfi11"
    assert next(s.items for s in ed.scales if s.id == "agreeableness") == ["bfi02b", "bfi07", "bfi11"]
    with pytest.raises(DataError, match="no edition 'x'"):
        base.edition("x")


def test_json_schema_is_valid_json_and_forbids_unknown_fields():
    schema = json_schema()
    assert schema["title"] == "psychoml instrument"
    assert schema["additionalProperties"] is False
    assert "items" in schema["properties"]
    json.dumps(schema)


def test_shipped_instruments_contract():
    """Every shipped instrument validates, has a citation, terms, and scores a mid-scale response set."""
    from psychoml.instruments import available

    ids = available()
    for iid in ids:
        inst = load(iid)
        assert inst.spec.citation.text and inst.spec.terms.licence, iid
        mid = {}
        for it in inst.items:
            sc = inst.response_scale(it.id)
            mid[it.id] = [sorted(sc.values)[len(sc.values) // 2]] * 3
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            scores = inst.score(pd.DataFrame(mid))
        assert len(scores) == 3, iid
        for s in inst.scales:
            assert s.id in scores.columns, (iid, s.id)
        for ix in inst.indices:
            assert ix.id in scores.columns, (iid, ix.id)
