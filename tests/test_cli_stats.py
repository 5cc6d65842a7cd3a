"""Statistics commands end to end through the CLI on lavaan's Holzinger-Swineford data."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
from rich.console import Console

from psychoml.cli import main

# ``psychoml.cli.app`` is the Typer object on the package (it hides the module of that name): fetch the modules
CLI_MODULES = [importlib.import_module(m) for m in ("psychoml.cli.app", "psychoml.cli.stats_commands")]
DATA = Path(__file__).parent / "data"
HS = Path(__file__).parent / "reference" / "factor" / "hs1939.csv"


@pytest.fixture(autouse=True)
def plain_console(monkeypatch: pytest.MonkeyPatch) -> None:
    # The shared console follows the terminal: it wraps prose and tables to COLUMNS (80 when captured, CI may be
    # narrower), truncates cells with an ellipsis, and with FORCE_COLOR highlights numbers with ANSI codes.  A
    # wide console without colours makes every asserted line whole and plain whatever the environment.
    plain = Console(width=250, color_system=None, highlight=False, force_terminal=False)
    for module in CLI_MODULES:
        monkeypatch.setattr(module, "console", plain)


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_factor_cfa_prints_lavaan_fit(capsys):
    model = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"
    code, out, err = run(capsys, "factor", str(HS), "-i", str(DATA / "hs9.yaml"), "--model", model)
    assert code == 0, err
    assert "85.306" in out and "0.931" in out  # lavaan: chisq 85.306, CFI 0.931


def test_factor_efa_with_parallel_analysis(capsys):
    code, out, err = run(capsys, "factor", str(HS), "-i", str(DATA / "hs9.yaml"))
    assert code == 0, err
    assert "parallel analysis suggests 3 factor(s)" in out and "MR1" in out


def test_factor_table_needs_instrument(capsys):
    code, _, err = run(capsys, "factor", str(HS))
    assert code == 1 and "--instrument: required" in err


def test_factor_unknown_variable_in_model(capsys):
    code, _, err = run(capsys, "factor", str(HS), "-i", str(DATA / "hs9.yaml"), "--model", "f =~ x1 + x2 + zz")
    assert code == 1 and "zz" in err and "Traceback" not in err


def test_validity_on_table(capsys):
    code, out, err = run(capsys, "validity", str(HS), "-i", str(DATA / "hs9.yaml"))
    assert code == 0, err
    assert "response styles" in out


def test_factor_group_needs_a_model(capsys):
    code, _, err = run(capsys, "factor", str(HS), "-i", str(DATA / "hs9.yaml"), "--group", "school")
    assert code == 1 and "--group" in err and "--model" in err


def test_factor_invariance_on_a_table_matches_the_api(capsys, tmp_path):
    import pandas as pd

    from psychoml import stats

    table = pd.read_csv(Path(__file__).parent / "reference" / "validity" / "hs.csv")
    table["half"] = ["a", "b"] * (len(table) // 2) + ["a"] * (len(table) % 2)
    path = tmp_path / "hs_half.csv"
    table.to_csv(path, index=False)
    model = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"
    code, out, err = run(capsys, "factor", str(path), "-i", str(DATA / "hs9.yaml"), "--model", model,
                         "--group", "half", "--out", str(tmp_path))
    assert code == 0, err
    api = stats.invariance(model, table, group="half")
    saved = pd.read_csv(tmp_path / "hs9_invariance.csv", index_col=0)
    cols = ["chisq", "df", "cfi", "rmsea", "srmr", "chisq_diff", "delta_cfi"]
    pd.testing.assert_frame_equal(saved[cols], api.table[cols], check_names=False, atol=1e-8, rtol=0)
    assert f"{api.table.loc['scalar', 'chisq']:.3f}" in out


HS3 = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"


@pytest.mark.parametrize(("change", "model", "message"), [
    (lambda t: t.assign(x3=t.x3.astype(str) + "pts"), None, r"hs\.csv: row 2 .*column 'x3'.*not a number"),
    (lambda t: t.assign(x3=2.0), None, r"'x3' are constant"),
    (lambda t: t.assign(x3=2.0), HS3, r"'x3' are constant"),
    (lambda t: t.head(6), None, r"fewer observations \(6\) than items \(9\)"),
    (lambda t: t.head(8), HS3, r"fewer complete observations \(8\) than observed variables \(9\)"),
    (lambda t: t, HS3 + "\nsolo =~ x9", r"line 4: model is not identified: factor 'solo' has a single indicator"),
])
def test_factor_bad_input_is_one_clear_line(capsys, tmp_path, change, model, message):
    import re

    import pandas as pd

    path = tmp_path / "hs.csv"
    change(pd.read_csv(HS)).to_csv(path, index=False)
    code, _, err = run(capsys, "factor", str(path), "-i", str(DATA / "hs9.yaml"), *(["--model", model] if model else []))
    assert code == 1 and re.search(message, err) and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_validity_corrects_for_acquiescence_when_the_key_is_balanced(capsys, tmp_path):
    import numpy as np
    import pandas as pd

    from psychoml import stats
    from psychoml.instruments import load

    # BFI-10 has one reversed item per trait: a balanced key, so Soto & John's correction applies
    inst = load(str(DATA / "bfi10.yaml"))
    rng = np.random.default_rng(1)
    answers = pd.DataFrame(np.clip(rng.integers(1, 6, size=(60, 10)) + rng.integers(0, 2, size=(60, 1)), 1, 5),
                           columns=[it.id for it in inst.items]).astype(float)
    path = tmp_path / "bfi.csv"
    answers.to_csv(path, index=False)
    code, out, err = run(capsys, "validity", str(path), "-i", str(DATA / "bfi10.yaml"), "--out", str(tmp_path))
    assert code == 0, err
    keys = {it.id: it.keying for it in inst.items}
    styles = stats.response_styles(answers, scale_min=1, scale_max=5, keys=keys)
    assert styles.balanced
    keyed = styles.corrected.copy()
    for it in inst.items:  # reverse-key after the correction: 6 - x on the 1..5 scale
        if it.keying == -1:
            keyed[it.id] = 6 - keyed[it.id]
    fixed = pd.DataFrame({s.id: keyed[s.items].mean(axis=1) for s in inst.scales})
    # after the correction no respondent acquiesces any more (the balanced-key index is 0 for everyone)
    again = stats.response_styles(styles.corrected, scale_min=1, scale_max=5, keys=keys)
    np.testing.assert_allclose(again.table["acquiescence"], 0.0, atol=1e-12)
    saved = pd.read_csv(tmp_path / "bfi10_acquiescence_corrected_scores.csv", index_col=0)
    np.testing.assert_allclose(saved.to_numpy(), fixed.to_numpy(), atol=1e-12)
    assert "corrected for acquiescence" in out and f"{fixed['openness'].mean():.3f}" in out
