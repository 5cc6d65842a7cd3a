"""CLI: psychoml prompts variants / preview / validate."""

from __future__ import annotations

import json

from psychoml.cli import main
from psychoml.prompts import load_design


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_variants_lists_every_variant_and_its_facets(capsys):
    code, out, _ = run(capsys, "prompts", "variants", "--design", "quick")
    assert code == 0
    for v in load_design("quick").variants():
        assert v.id in out
    assert "instruction" in out and "option_order" in out and "reversed" in out
    assert "same in every variant" in out


def test_variants_json(capsys):
    code, out, _ = run(capsys, "prompts", "variants", "--design", "full", "--json")
    assert code == 0
    rows = json.loads(out)
    assert len(rows) == 192 and rows[0]["id"] == load_design("full").variants()[0].id
    assert set(rows[0]) >= {"id", "instruction", "persona", "option_order", "scale_direction", "label_format",
                            "system_prompt", "layout", "option_position"}


def test_preview_prints_the_exact_messages_and_options(capsys):
    code, out, _ = run(capsys, "prompts", "preview", "--instrument", "svs56", "--design", "quick",
                       "--variant", "34b6c6c8c1", "--item", "svs01")
    assert code == 0
    assert "variant 34b6c6c8c1" in out and "--- user ---" in out
    assert "EQUALITY (equal opportunity for all)" in out
    assert "7 = of supreme importance" in out
    # reversed option order: 7 is listed before -1, in the prompt and in the option list
    assert out.index("7 = of supreme importance") < out.index("-1 = opposed to my values")
    assert "'7' -> 7  (of supreme importance)" in out


def test_preview_all_variants_and_default_variant(capsys):
    code, out, _ = run(capsys, "prompts", "preview", "-i", "mfq30", "-d", "quick", "--item", "chastity", "--all")
    assert code == 0
    assert out.count("--- user ---") == 6
    code, out, _ = run(capsys, "prompts", "preview", "-i", "mfq30", "-d", "quick")
    assert code == 0 and "6 variants in this design" in out and "variant 5734cd5086" in out


def test_preview_with_design_file_persona_and_scale_layout(capsys, tmp_path):
    p = tmp_path / "personas.yaml"
    p.write_text(
        "instructions: brief\nlayout: scale\npersonas:\n  - template: country_domain\n"
        "    values: {country: [Japan], domain: [work]}\n",
        encoding="utf-8",
    )
    code, out, _ = run(capsys, "prompts", "preview", "-i", "svs56", "-d", str(p), "--item", "svs12")
    assert code == 0
    assert "--- system ---\nSuppose you are from Japan, in the context of work." in out
    assert "1. SOCIAL POWER (control over others, dominance)\n2. WEALTH (material possessions, money)" in out
    assert '"<item number>: <answer>"' in out


def test_invalid_design_file_gives_a_located_error_and_exit_1(capsys, tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("instructions: [official]\noption_order:\n  - published\n  - upside_down\n", encoding="utf-8")
    code, out, err = run(capsys, "prompts", "preview", "-i", "svs56", "-d", str(p))
    assert code == 1 and out == ""
    assert err.strip() == (f"error: {p}:4 option_order[1]: option_order 'upside_down' is not one of: "
                           "published, reversed")
    code, _, err = run(capsys, "prompts", "validate", str(p))
    assert code == 1 and f"{p}:4" in err


def test_unknown_variant_item_and_design(capsys):
    code, _, err = run(capsys, "prompts", "preview", "-i", "svs56", "-d", "quick", "--variant", "ffff")
    assert code == 1 and "not a variant of this design" in err
    code, _, err = run(capsys, "prompts", "preview", "-i", "svs56", "-d", "quick", "--item", "nope")
    assert code == 1 and "has no item 'nope'" in err
    code, _, err = run(capsys, "prompts", "variants", "-d", "speedy")
    assert code == 1 and "unknown design 'speedy'" in err


def test_validate_reports_the_number_of_variants(capsys, tmp_path):
    p = tmp_path / "d.yaml"
    p.write_text("instructions: [official, plain]\nlabel_format: [numbers, words]\n", encoding="utf-8")
    code, out, _ = run(capsys, "prompts", "validate", str(p))
    assert code == 0 and out.strip() == f"{p}: ok (4 variants)"


def test_templates_prints_every_instruction_template_per_part(capsys):
    code, out, _ = run(capsys, "prompts", "templates", "-i", "mfq30")
    assert code == 0
    assert "instruction family mfq" in out
    for t in ("official", "plain", "brief", "reflective"):
        assert f"--- {t} (part relevance) ---" in out and f"--- {t} (part judgment) ---" in out
    assert "country_domain: Suppose you are from {country}, in the context of {domain}." in out
    code, _, err = run(capsys, "prompts", "templates", "-i", "mfq30", "--part", "x")
    assert code == 1 and "has no part 'x'" in err
