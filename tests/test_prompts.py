"""Prompt designs, variants, rendering and answer parsing (psychoml.prompts)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from psychoml.errors import DataError, ValidationError
from psychoml.instruments import available, load
from psychoml.prompts import (
    FACETS,
    INSTRUCTION_TEMPLATES,
    SHIPPED_DESIGNS,
    Design,
    Message,
    Option,
    PersonaTemplate,
    RenderedPrompt,
    Variant,
    instruction_text,
    item_groups,
    load_design,
    parse_answer,
    parse_scale_answer,
    preview,
    render,
)

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def instruments():
    return {i: load(i) for i in available()}


def V(**facets) -> Variant:
    return Variant(facets)


# --- designs and variants ------------------------------------------------------------------------------------------


def test_full_factorial_is_the_product_of_facet_sizes():
    d = Design(
        instructions=["official", "plain", "brief"],
        personas=[None, "You are a nurse."],
        option_order=["published", "reversed"],
        scale_direction=["ascending", "descending"],
        label_format=["numbers", "words", "both"],
        system_prompt=[None, "Be honest."],
        layout=["item", "scale"],
    )
    variants = d.variants()
    assert len(variants) == d.size == 3 * 2 * 2 * 2 * 3 * 2 * 2
    assert len({v.id for v in variants}) == len(variants)
    # every combination appears exactly once
    combos = {tuple(v.facets[name] for _, name in FACETS) for v in variants}
    assert len(combos) == len(variants)


@given(
    st.integers(1, 4), st.integers(1, 2), st.integers(1, 2), st.integers(1, 3), st.integers(1, 2),
)
@settings(max_examples=25, deadline=None)
def test_variant_count_property(n_instr, n_order, n_dir, n_label, n_layout):
    d = Design(
        instructions=list(INSTRUCTION_TEMPLATES[:n_instr]),
        option_order=["published", "reversed"][:n_order],
        scale_direction=["ascending", "descending"][:n_dir],
        label_format=["numbers", "words", "both"][:n_label],
        layout=["item", "scale"][:n_layout],
    )
    assert len(d.variants()) == n_instr * n_order * n_dir * n_label * n_layout


def test_shipped_designs():
    assert SHIPPED_DESIGNS == ("minimal", "quick", "full")
    minimal = load_design("minimal")
    assert len(minimal.variants()) == 1
    assert minimal.variants()[0].facets["instruction"] == "official"
    quick = load_design("quick")
    vs = quick.variants()
    assert len(vs) == 6
    assert {v.facets["instruction"] for v in vs} == {"official", "plain", "brief"}
    assert {v.facets["option_order"] for v in vs} == {"published", "reversed"}
    full = load_design("full")
    assert len(full.variants()) == full.size == 4 * 2 * 2 * 3 * 2 * 2


def test_variant_id_is_a_literal_stable_hash():
    # The ids are SHA-256 of the canonical facet JSON; these literals must never change (stores key on them).
    assert Variant({}).id == "5734cd5086"
    assert [v.id for v in load_design("quick").variants()] == [
        "5734cd5086", "34b6c6c8c1", "65bec8069a", "c0fbae5fed", "8b5047e59e", "c1b0e847ef",
    ]
    # option_position came later: at "after_item" (the prompts sent before it existed) the ids are the ids those
    # prompts had, so stores from then resume under the same ids
    after = Design(instructions=["official", "plain", "brief"], option_order=["published", "reversed"],
                   option_position="after_item")
    assert [v.id for v in after.variants()] == [
        "90ad7443d3", "8a6575e4f6", "31cf8b1643", "2f22a9d1fa", "9751f1f853", "5fe5104098",
    ]
    # defaults are filled in, so the same combination has the same id in every design
    assert V(layout="item", persona=None).id == Variant({}).id
    assert V(option_order="reversed").id != Variant({}).id


def test_variant_ids_are_the_same_in_another_process():
    code = ("from psychoml.prompts import load_design;"
            "print(','.join(v.id for v in load_design('full').variants()))")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, check=True)
    assert out.stdout.strip().split(",") == [v.id for v in load_design("full").variants()]


def test_design_and_variant_are_frozen():
    import dataclasses
    import pickle

    d = load_design("quick")
    v = d.variants()[1]
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.seed = 3  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        v.facets = {}  # type: ignore[misc]
    with pytest.raises(TypeError):
        v.facets["layout"] = "scale"  # type: ignore[index]
    assert pickle.loads(pickle.dumps(v)) == v and hash(v) == hash(Variant(dict(v.facets)))
    assert v.option_order == "reversed" and v.instruction == "official"


def test_variant_facets_are_json_and_unknown_facets_rejected():
    v = load_design("full").variants()[5]
    assert json.loads(json.dumps(dict(v.facets))) == dict(v.facets)
    assert v.to_dict()["id"] == v.id
    with pytest.raises(DataError, match="unknown facet"):
        Variant({"colour": "red"})


def test_fraction_is_deterministic_per_seed_and_nested():
    full = load_design("full")
    a = Design(**{**_kwargs(full), "fraction": 0.25, "seed": 7}).variants()
    b = Design(**{**_kwargs(full), "fraction": 0.25, "seed": 7}).variants()
    c = Design(**{**_kwargs(full), "fraction": 0.25, "seed": 8}).variants()
    assert [v.id for v in a] == [v.id for v in b]
    assert len(a) == round(0.25 * full.size)
    assert {v.id for v in a} != {v.id for v in c}
    # kept in factorial order, and a larger fraction keeps what a smaller one kept
    order = [v.id for v in full.variants()]
    assert [order.index(v.id) for v in a] == sorted(order.index(v.id) for v in a)
    bigger = Design(**{**_kwargs(full), "fraction": 0.5, "seed": 7}).variants()
    assert {v.id for v in a} <= {v.id for v in bigger}


def test_fraction_literal_selection():
    # A literal: the seeded fraction must select the same variants in every Python version.
    d = Design(instructions=["official", "plain", "brief"], option_order=["published", "reversed"], fraction=0.5, seed=1)
    assert [v.id for v in d.variants()] == _FRACTION_LITERAL


_FRACTION_LITERAL = ["5734cd5086", "34b6c6c8c1", "65bec8069a"]


@pytest.mark.parametrize("fraction", [1e-9, 0.01, 0.1])
def test_fraction_always_keeps_one_variant(fraction):
    d = Design(instructions=["official", "plain"], fraction=fraction, seed=3)
    assert len(d.variants()) == 1


def _kwargs(d: Design) -> dict:
    return {name: getattr(d, name) for name, _ in FACETS}


def test_persona_templates_expand_into_concrete_personas():
    d = Design(personas=[None, "You are a retired teacher.",
                         {"template": "country_domain", "values": {"country": ["Japan", "Brazil", "Kenya"],
                                                                   "domain": ["work", "family"]}}])
    vs = d.variants()
    assert len(vs) == 1 + 1 + 3 * 2 == d.size
    texts = [v.facets["persona"] for v in vs]
    assert texts[0] is None and texts[1] == "You are a retired teacher."
    assert texts[2] == "Suppose you are from Japan, in the context of work."
    assert "Suppose you are from Kenya, in the context of family." in texts
    assert vs[2].persona_fields == {"country": "Japan", "domain": "work"}
    literal = Design(personas=[{"template": "Imagine you are {age} years old.", "values": {"age": [20, 70]}}])
    assert [v.persona for v in literal.variants()] == ["Imagine you are 20 years old.", "Imagine you are 70 years old."]
    assert isinstance(d.personas[2], PersonaTemplate)


def test_design_round_trips_through_dict():
    d = Design(instructions=["official", "brief"], personas=[None, {"template": "country", "values": {"country": ["Peru"]}}],
               label_format=["words", "numbers"], fraction=0.5, seed=3, name="mine")
    again = Design.from_dict(d.to_dict())
    assert again == d
    assert [v.id for v in again.variants()] == [v.id for v in d.variants()]
    assert load_design(d.to_dict()) == d
    assert load_design(d) is d


def test_design_accepts_single_values():
    d = Design(instructions="brief", option_order="reversed")
    assert d.instructions == ("brief",) and len(d.variants()) == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"instructions": ["nonsense"]}, r"Design\.instructions\[0\]: unknown instruction template 'nonsense'"),
        ({"option_order": ["sideways"]}, r"Design\.option_order\[0\]"),
        ({"label_format": []}, r"Design\.label_format"),
        ({"fraction": 1.5}, r"Design\.fraction"),
        ({"instructions": ["official", "official"]}, r"duplicate level"),
        ({"personas": [{"template": "country_domain", "values": {"country": ["X"]}}]}, r"needs values for \{domain\}"),
        ({"personas": [{"template": "no placeholders here", "values": {"x": ["1"]}}]}, r"neither a shipped template"),
    ],
)
def test_design_rejects_bad_arguments(kwargs, message):
    with pytest.raises(DataError, match=message):
        Design(**kwargs)


def test_unknown_variant_id_names_the_known_ones():
    d = load_design("quick")
    assert d.variant("c0fb").id == "c0fbae5fed"
    with pytest.raises(DataError, match="not a variant of this design.*5734cd5086"):
        d.variant("zzzz")


# --- design files: located errors -------------------------------------------------------------------------------------


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "design.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def test_design_file_loads(tmp_path):
    p = _write(tmp_path, "name: mine\ninstructions: [official, reflective]\nlayout: scale\nseed: 4\n")
    d = load_design(p)
    assert d.name == "mine" and d.layout == ("scale",) and len(d.variants()) == 2
    assert load_design(str(p)) == d


@pytest.mark.parametrize(
    ("text", "line", "path", "message"),
    [
        ("instructions: [official\n  plain: x\n", 2, None, "could not parse YAML"),
        ("instructions: [official]\ncolour: red\n", 2, "colour", "unknown field 'colour'"),
        ("instructions:\n  - official\n  - made_up\n", 3, "instructions[1]", "unknown instruction template 'made_up'"),
        ("option_order: [published, sideways]\n", 1, "option_order[1]", "'sideways' is not one of: published, reversed"),
        ("layout: diagonal\n", 1, "layout", "'diagonal' is not one of: item, scale"),
        ("seed: 0\nfraction: 2\n", 2, "fraction", "less than or equal to 1"),
        ("personas:\n  - null\n  - template: country_domain\n    values:\n      country: [Japan]\n", 4,
         "personas[1].values", "needs values for {domain}"),
        ("instructions: [official]\ninstructions: [plain]\n", 2, None, "duplicate key"),
    ],
)
def test_design_file_errors_are_located(tmp_path, text, line, path, message):
    p = _write(tmp_path, text)
    with pytest.raises(ValidationError) as info:
        load_design(p)
    err = info.value
    assert err.file == str(p)
    assert err.line == line
    if path is not None:
        assert str(err).startswith(f"{p}:{line} {path}: ")
    assert message in str(err)


def test_design_file_missing_and_unknown_name(tmp_path):
    with pytest.raises(ValidationError, match="design file not found"):
        load_design(tmp_path / "nope.yaml")
    with pytest.raises(ValidationError, match="unknown design 'speedy'.*minimal, quick, full"):
        load_design("speedy")


# --- rendering --------------------------------------------------------------------------------------------------------


def test_render_returns_messages_and_options(instruments):
    r = render(instruments["pvq_rr"], Variant({}), ["pvq01"])
    assert isinstance(r, RenderedPrompt)
    assert all(isinstance(m, Message) for m in r.messages) and all(isinstance(o, Option) for o in r.options)
    assert [m.role for m in r.messages] == ["user"]
    user = r.messages[0].content
    assert "It is important to him to form his views independently." in user
    assert "HOW MUCH LIKE YOU IS THIS PERSON?" in user  # the official instructions
    assert [o.label for o in r.options] == ["1", "2", "3", "4", "5", "6"]
    assert [o.value for o in r.options] == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    assert r.options[0].text == "Not like me at all" and "1 = Not like me at all" in user
    assert r.item_ids == ("pvq01",) and r.variant_id == Variant({}).id
    # a shipped id works as well as an Instrument
    assert render("pvq_rr", Variant({}), "pvq01") == r


def test_option_position_orders_the_blocks_of_the_user_message(instruments):
    mfq = instruments["mfq30"]
    item = "Whether or not someone suffered emotionally"
    answer = "Answer with the number of the option that fits best, and nothing else."
    before = render(mfq, V(), "emotionally").messages[-1].content
    blocks = before.split("\n\n")
    # instructions, options, what to answer, then the item (as printed questionnaires explain the scale first)
    assert blocks[0].startswith("Part 1.") and blocks[1].startswith("Response options:")
    assert blocks[2:] == [answer, item]
    after = render(mfq, V(option_position="after_item"), "emotionally").messages[-1].content
    assert after.split("\n\n")[1] == item and after.split("\n\n")[2].startswith("Response options:")
    assert after.endswith(answer) and sorted(after.split("\n\n")) == sorted(blocks)
    # before the item, every item of a part shares everything but its own text
    other = render(mfq, V(), "weak").messages[-1].content
    shared = len(before) - len(item)
    assert other[:shared] == before[:shared]
    # whole-scale prompts: the numbered items come last
    scale = render(instruments["svs56"], V(layout="scale"), ["svs01", "svs17"]).messages[-1].content
    assert scale.split("\n\n")[-1].startswith("1. ") and "Answer every item" in scale.split("\n\n")[-2]


def test_reversed_option_order_and_descending_direction(instruments):
    pvq = instruments["pvq_rr"]
    published = render(pvq, V(), "pvq01").options
    reversed_ = render(pvq, V(option_order="reversed"), "pvq01").options
    assert reversed_ == tuple(reversed(published))
    desc = render(pvq, V(scale_direction="descending"), "pvq01").options
    # numbers mirrored, anchors and scored values kept: "6 = Not like me at all" scores 1
    assert [(o.label, o.value) for o in desc] == [("6", 1.0), ("5", 2.0), ("4", 3.0), ("3", 4.0), ("2", 5.0), ("1", 6.0)]
    assert desc[0].text == "Not like me at all"
    both = render(pvq, V(scale_direction="descending", option_order="reversed"), "pvq01")
    assert [o.label for o in both.options] == ["1", "2", "3", "4", "5", "6"]
    assert both.options[0].text == "Very much like me" and both.options[0].value == 6.0
    user = both.messages[-1].content
    assert user.index("1 = Very much like me") < user.index("6 = Not like me at all")


def test_label_formats(instruments):
    pvq = instruments["pvq_rr"]
    numbers = render(pvq, V(label_format="numbers"), "pvq01").options
    assert [o.label for o in numbers] == ["1", "2", "3", "4", "5", "6"]
    assert [o.text for o in numbers] == ["Not like me at all", None, None, None, None, "Very much like me"]
    words = render(pvq, V(label_format="words"), "pvq01")
    assert [o.label for o in words.options][:2] == ["Not like me at all", "Not like me"]
    assert all(o.text is None for o in words.options)
    assert "written exactly as above" in words.messages[-1].content
    both = render(pvq, V(label_format="both"), "pvq01").options
    assert all(o.text for o in both)
    letters = render(pvq, V(label_format="letters", scale_direction="descending"), "pvq01").options
    assert [(o.label, o.value) for o in letters][:2] == [("F", 1.0), ("E", 2.0)]


def test_svs_scale_runs_from_minus_one_to_seven_with_its_anchors(instruments):
    r = render(instruments["svs56"], V(), "svs01")
    assert [o.label for o in r.options] == ["-1", "0", "1", "2", "3", "4", "5", "6", "7"]
    anchors = {o.label: o.text for o in r.options if o.text}
    assert anchors == {"-1": "opposed to my values", "0": "not important", "3": "important",
                       "6": "very important", "7": "of supreme importance"}
    # words need a wording for every point: SVS falls back to numbers with anchors
    w = render(instruments["svs56"], V(label_format="words"), "svs01")
    assert w.label_format == "both" and w.options == r.options


def test_mfq30_parts_decide_instructions_and_scale(instruments):
    mfq = instruments["mfq30"]
    rel = render(mfq, V(), "emotionally")
    jud = render(mfq, V(), "chastity")
    assert [o.value for o in rel.options] == [0, 1, 2, 3, 4, 5]
    assert rel.options[1].text == "not very relevant" and jud.options[1].text == "Moderately disagree"
    assert "relevant to your thinking" in rel.messages[0].content and "Part 2" not in rel.messages[0].content
    assert "agreement or disagreement" in jud.messages[0].content and "Part 1" not in jud.messages[0].content
    for template in ("plain", "brief", "reflective"):
        assert instruction_text(mfq, template, "relevance") != instruction_text(mfq, template, "judgment")


def test_instruction_templates_differ_per_family_and_instrument(instruments):
    texts = {}
    for iid in ("svs56", "pvq_rr", "mfq2", "vsm2013", "wvs7"):
        inst = instruments[iid]
        part = inst.items[0].part
        for t in INSTRUCTION_TEMPLATES:
            texts[iid, t] = instruction_text(inst, t, part)
        assert len({texts[iid, t] for t in INSTRUCTION_TEMPLATES}) == 4  # official + 3 distinct paraphrases
    assert texts["svs56", "plain"] != texts["pvq_rr", "plain"]  # same family, instrument-specific wording
    # VSM and WVS part stems (the question) are kept after the paraphrase
    assert instruction_text(instruments["vsm2013"], "brief", "ideal_job").endswith(
        instruments["vsm2013"].spec.parts[0].instructions)
    # the SVS official text is the instrument's instructions followed by its part's
    svs = instruments["svs56"]
    assert instruction_text(svs, "official", "list_1") == (
        svs.spec.instructions.text.strip() + "\n\n" + svs.spec.parts[0].instructions.strip())
    with pytest.raises(DataError, match="unknown instruction template"):
        instruction_text(svs, "bogus")


def test_generic_family_serves_user_instruments(instruments):
    from psychoml.instruments import load_string

    text = (ROOT / "instruments" / "mfq2.yaml").read_text(encoding="utf-8")
    mine = load_string(text.replace("family: mfq", "family: my_own"), source="mine.yaml")
    assert mine.spec.family == "my_own"
    assert instruction_text(mine, "brief") == "Answer the following."


def test_wvs_scales_differ_per_question_and_missing_codes_are_not_offered(instruments):
    wvs = instruments["wvs7"]
    scales = {wvs.response_scale(i).id for i in wvs.item_ids}
    assert len(scales) > 10
    seen = set()
    for item in wvs.item_ids:
        rs = wvs.response_scale(item)
        if rs.id in seen:
            continue
        seen.add(rs.id)
        r = render(wvs, V(), item)
        assert [o.value for o in r.options] == [float(v) for v in rs.values]
        assert not any(o.value in rs.missing for o in r.options)


def test_persona_and_system_prompt_go_in_the_system_message(instruments):
    r = render(instruments["pvq_rr"], V(persona="Suppose you are from Japan.", system_prompt="Be honest."), "pvq01")
    assert r.messages[0] == Message("system", "Be honest.\n\nSuppose you are from Japan.")
    assert r.persona == "Suppose you are from Japan."
    plain = render(instruments["pvq_rr"], V(), "pvq01")
    assert r.messages[1] == plain.messages[0]  # the user message does not change with the persona


def test_scale_layout_lists_items_and_asks_one_answer_per_line(instruments):
    svs = instruments["svs56"]
    group = item_groups(svs, "scale")[0]
    r = render(svs, V(layout="scale"), group)
    user = r.messages[-1].content
    for k, item in enumerate(group, start=1):
        assert f"{k}. {svs.item(item).text}" in user
    assert '"<item number>: <answer>"' in user
    with pytest.raises(DataError, match="one item per prompt"):
        render(svs, V(), group)
    mfq = instruments["mfq30"]
    with pytest.raises(DataError, match="do not share one response scale"):
        render(mfq, V(layout="scale"), ["emotionally", "chastity"])


def test_item_groups_cover_every_item_once_with_one_scale_and_part(instruments):
    for inst in instruments.values():
        groups = item_groups(inst, "scale")
        flat = [i for g in groups for i in g]
        assert sorted(flat) == sorted(inst.item_ids), inst.id
        for g in groups:
            assert len({inst.response_scale(i).id for i in g}) == 1
            assert len({inst.item(i).part for i in g}) == 1
        assert item_groups(inst, "item") == [(i,) for i in inst.item_ids]
    svs = instruments["svs56"]
    power = next(s for s in svs.scales if s.id == "power")
    # a scale whose items span both SVS lists (parts, with their own instructions) becomes one prompt per list
    assert [i for i in power.items if svs.item(i).part == "list_1"] == ["svs03", "svs12", "svs27"]
    assert item_groups(svs, "scale")[:2] == [("svs03", "svs12", "svs27"), ("svs46",)]
    assert item_groups(svs, "item", ["svs02", "svs01"]) == [("svs01",), ("svs02",)]


def test_every_instrument_renders_every_item_under_every_shipped_design(instruments):
    """Smoke: all items x the variants of minimal and quick (item and scale layout); for full, every variant x one
    item per prompt group (which covers every response scale and part of every instrument)."""
    n = 0
    option_sets = set()
    for name in SHIPPED_DESIGNS:
        for variant in load_design(name).variants():
            for inst in instruments.values():
                groups = item_groups(inst, "scale")
                items = inst.item_ids if name != "full" else [g[0] for g in groups]
                for item in items:
                    r = render(inst, variant, [item])
                    assert r.messages[-1].role == "user" and r.options
                    assert len({o.label for o in r.options}) == len(r.options)
                    option_sets.add(r.options)
                    n += 1
                if name != "full":
                    for g in groups:
                        assert render(inst, Variant({**variant.facets, "layout": "scale"}), g).item_ids == g
    assert n > 3000
    # every label any of these prompts offers parses back to its own value
    for options in option_sets:
        for o in options:
            assert parse_answer(o.label, options).value == o.value, (o, options)


def test_preview_shows_messages_and_options(instruments):
    text = preview("mfq30", load_design("quick"), "chastity", variant_id="c0fbae5fed")
    assert "variant c0fbae5fed" in text
    assert "--- user ---" in text and "Chastity is an important and valuable virtue." in text
    assert "'5' -> 5  (Strongly agree)" in text
    assert text.index("'5' -> 5") < text.index("'0' -> 0")  # reversed order
    scale = preview(instruments["svs56"], V(layout="scale"), "svs01")
    assert "items svs01, svs17" in scale


# --- parsing ----------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pvq_options(instruments):
    return render(instruments["pvq_rr"], V(), "pvq01").options


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("4", 4), (" 4.", 4), ("**4**", 4), ("Answer: 4", 4), ("Option 4", 4), ("4 - Moderately like me", 4),
        ("Moderately like me", 4), ("I would say 4 because it matters.", 4), ("My answer is 5", 5), ('"5"', 5),
        ("(3)", 3), ("5\n\nExplanation: 3 would be too low", 5), ("On a scale from 1 to 6, I would pick 5.", 5),
        ("Not like me at all", 1), ("not like me", 2),
        ("As an AI I don't have personal values, but I'd say 4.", 4),
    ],
)
def test_parse_answer_finds_the_option(pvq_options, text, value):
    parsed = parse_answer(text, pvq_options)
    assert parsed.status == "ok" and parsed.value == value


@pytest.mark.parametrize(
    ("text", "status", "reason"),
    [
        ("", "unparseable", "empty answer"),
        ("banana", "unparseable", "no response option found"),
        ("10", "unparseable", "no response option found"),
        ("4 or 5", "unparseable", "ambiguous"),
        ("Like me or not like me", "unparseable", "ambiguous"),
        ("I'm an AI and can't have personal values.", "refused", "refused"),
        ("I cannot answer that.", "refused", "refused"),
        ("As a language model, I do not have opinions.", "refused", "refused"),
    ],
)
def test_parse_answer_missing_with_reason(pvq_options, text, status, reason):
    value, got_status, got_reason = parse_answer(text, pvq_options)
    assert value is None and got_status == status and reason in got_reason


def test_parse_answer_numbers_are_whole_numbers(instruments):
    svs = render(instruments["svs56"], V(), "svs01").options
    assert parse_answer("-1", svs).value == -1
    assert parse_answer("1", svs).value == 1
    assert parse_answer("8", svs).status == "unparseable"
    assert parse_answer("very important", svs).value == 6  # not "important" (3) inside it
    ten = render(instruments["wvs7"], V(), "Q164").options
    assert len(ten) == 10
    assert parse_answer("10", ten).value == 10 and parse_answer("1", ten).value == 1
    assert parse_answer("1.5", ten).status == "unparseable"


def test_parse_answer_letters(instruments):
    opts = render(instruments["pvq_rr"], V(label_format="letters"), "pvq01").options
    assert parse_answer("Option B", opts).value == 2
    assert parse_answer("(C)", opts).value == 3
    assert parse_answer("I choose D.", opts).value == 4
    assert parse_answer("B\n\nbecause", opts).value == 2
    assert parse_answer("A great deal", opts).status == "unparseable"  # the article, not option A


def test_parse_answer_needs_options():
    with pytest.raises(DataError, match="options is empty"):
        parse_answer("4", [])


def test_parse_scale_answer(instruments):
    mfq = instruments["mfq30"]
    items = ["harmlessdg", "unnatural", "chastity"]
    opts = render(mfq, V(layout="scale"), items).options
    ok = parse_scale_answer("1: 4\n2: 5\n3: 0", items, opts)
    assert ok.status == "ok" and ok.values == {"harmlessdg": 4, "unnatural": 5, "chastity": 0}
    assert parse_scale_answer("harmlessdg: 4\nunnatural: 5\nchastity: 0", items, opts).values == ok.values
    assert parse_scale_answer("Here are my answers:\n4\n5\n0", items, opts).values == ok.values
    partial = parse_scale_answer("1. 4\n3. 2", items, opts)
    assert partial.status == "unparseable" and partial.values == {"harmlessdg": 4, "unnatural": None, "chastity": 2}
    assert "unnatural (item 2): no answer line" in partial.reason
    twice = parse_scale_answer("1: 4\n1: 5\n2: 1\n3: 1", items, opts)
    assert twice.values["harmlessdg"] is None and "answered 2 times" in twice.reason
    refused = parse_scale_answer("I am an AI and cannot answer these.", items, opts)
    assert refused.status == "refused" and set(refused.values.values()) == {None}


def test_backends_use_these_parsers(instruments):
    from psychoml.backends import _parse
    from psychoml.records import Request, ResponseStatus

    assert _parse.parse_answer is parse_answer and _parse.parse_scale_answer is parse_scale_answer
    r = render(instruments["pvq_rr"], V(), "pvq01")
    req = Request(model="simulated:x", instrument="pvq_rr", item_ids=r.item_ids, variant_id=r.variant_id, sample=0,
                  messages=r.messages, options=r.options, mode="generate")
    assert _parse.parse_generated("I'm an AI and can't answer.", req).status is ResponseStatus.REFUSED
    assert _parse.parse_generated("5", req).values == {"pvq01": 5.0}


@given(st.lists(st.integers(-5, 20), min_size=2, max_size=11, unique=True), st.data())
@settings(max_examples=50, deadline=None)
def test_parse_answer_reads_back_any_numeric_label(values, data):
    options = [Option(str(v), float(v)) for v in values]
    pick = data.draw(st.sampled_from(options))
    prefix = data.draw(st.sampled_from(["", "Answer: ", "**", "I would choose "]))
    parsed = parse_answer(prefix + pick.label, options)
    assert parsed.status == "ok" and math.isclose(parsed.value, pick.value)


@given(st.data())
@settings(max_examples=40, deadline=None)
def test_parse_scale_answer_reads_back_what_the_prompt_asks_for(data):
    # options of a shipped scale in any label format, answers written in the requested "<n>: <answer>" form
    fmt = data.draw(st.sampled_from(["numbers", "words", "both", "letters"]))
    options = render("pvq_rr", V(label_format=fmt, option_order=data.draw(st.sampled_from(["published", "reversed"]))),
                     "pvq01").options
    n = data.draw(st.integers(1, 8))
    items = [f"it{k}" for k in range(n)]
    picks = [data.draw(st.sampled_from(options)) for _ in items]
    text = "\n".join(f"{k}: {o.label}" for k, o in enumerate(picks, start=1))
    parsed = parse_scale_answer(text, items, options)
    assert parsed.status == "ok"
    assert parsed.values == {i: o.value for i, o in zip(items, picks)}
