"""Statistics commands end to end through the CLI on lavaan's Holzinger-Swineford data."""

from __future__ import annotations

from pathlib import Path

import pytest

from psychoml.cli import main

DATA = Path(__file__).parent / "data"
HS = Path(__file__).parent / "reference" / "factor" / "hs1939.csv"


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
