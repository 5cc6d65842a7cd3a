"""End-to-end tests of the instrument and scoring commands through the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd

from psychoml.cli import main

DATA = Path(__file__).parent / "data"


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_schema_prints_json(capsys):
    code, out, _ = run(capsys, "instruments", "schema")
    assert code == 0
    assert json.loads(out)["title"] == "psychoml instrument"


def test_validate_ok_and_located_error(capsys, tmp_path):
    code, out, _ = run(capsys, "instruments", "validate", str(DATA / "bfi10.yaml"))
    assert code == 0 and "bfi10, 10 items, 5 scales" in out
    bad = tmp_path / "bad.yaml"
    bad.write_text((DATA / "bfi10.yaml").read_text().replace("keying: -1", "keying: 3", 1))
    code, out, err = run(capsys, "instruments", "validate", str(bad))
    assert code == 1
    assert err.strip().startswith(f"error: {bad}:") and "items[0].keying" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_show_custom_instrument(capsys):
    code, out, _ = run(capsys, "instruments", "show", str(DATA / "bfi10.yaml"))
    assert code == 0 and "Rammstedt" in out and "extraversion" in out


def test_score_writes_csv_with_reverse_keys(capsys, tmp_path):
    responses = tmp_path / "r.csv"
    cols = [f"bfi{i:02d}" for i in range(1, 11)]
    pd.DataFrame([[1, 4, 2, 5, 1, 5, 2, 4, 1, 5]], columns=cols).to_csv(responses, index=False)
    out_path = tmp_path / "scores.csv"
    code, _, err = run(capsys, "score", "--instrument", str(DATA / "bfi10.yaml"), str(responses), "-o", str(out_path))
    assert code == 0, err
    scores = pd.read_csv(out_path, index_col=0)
    assert scores.loc[0].tolist() == [5.0, 4.0, 4.0, 1.0, 5.0]


def test_score_bad_value_exits_1_with_location(capsys, tmp_path):
    responses = tmp_path / "r.csv"
    cols = [f"bfi{i:02d}" for i in range(1, 11)]
    pd.DataFrame([[1, 4, 2, 5, 1, 5, 2, 4, 1, 9]], columns=cols).to_csv(responses, index=False)
    code, _, err = run(capsys, "score", "-i", str(DATA / "bfi10.yaml"), str(responses))
    assert code == 1
    assert f"{responses}: row 2 (index 0), column 'bfi10': value 9 is outside" in err


def test_unknown_instrument_and_debug_traceback(capsys):
    code, _, err = run(capsys, "instruments", "show", "no-such-instrument")
    assert code == 1 and "unknown instrument 'no-such-instrument'" in err
    proc = subprocess.run([sys.executable, "-m", "psychoml.cli", "--debug", "instruments", "show", "no-such"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode != 0 and "Traceback" in proc.stderr


def test_every_command_has_help(capsys):
    for args in (["--help"], ["instruments", "--help"], ["score", "--help"], ["instruments", "validate", "--help"]):
        code, out, _ = run(capsys, *args)
        assert code == 0 and "Usage" in out
