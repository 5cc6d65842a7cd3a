"""CLI: administer (incl. kill -9 mid-run and resume), runs list, export, and bad input leaving the store as it was."""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from fakeserver import FakeOpenAIServer, Faults

import psychoml.store as store_mod
from psychoml.cli import main

ROOT = Path(__file__).resolve().parents[1]
SIM = "simulated:grm?seed=5"


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _count(path: Path) -> int:
    if not path.exists():
        return 0
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            return int(con.execute("SELECT COUNT(*) FROM responses WHERE status != 'failed'").fetchone()[0])
        finally:
            con.close()
    except sqlite3.OperationalError:  # schema not there yet
        return 0


def _answers(path: Path) -> pd.DataFrame:
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return pd.read_sql_query("SELECT request_key, status, raw, item_values, distributions, created_at "
                                 "FROM responses", con).set_index("request_key")
    finally:
        con.close()


@pytest.mark.slow
def test_kill_9_mid_run_then_resume_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    out = tmp_path / "study.db"
    n_items, samples, variants = 12, 2, 6
    expected = n_items * samples * variants
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    env["PYTHONPATH"] = str(ROOT)
    with FakeOpenAIServer(delay_s=0.03) as server:
        cmd = [sys.executable, "-m", "psychoml.cli", "administer", "--instrument", "svs56", "--model",
               server.spec(), "--design", "quick", "--samples", str(samples), "--max-items", str(n_items),
               "--out", str(out), "--concurrency", "4", "--no-progress"]
        proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while _count(out) < 25:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no answers stored within 60 s"
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        assert proc.returncode == -signal.SIGKILL
        before = _answers(out)
        assert 25 <= len(before) < expected  # killed mid-run
        asked_before = sum(server.served.values())

        server.delay_s = 0.0
        done = subprocess.run(cmd, check=False, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert "served from store" in done.stderr
        # the resumed run asked the server exactly the requests without a stored answer, nothing twice
        assert sum(server.served.values()) - asked_before == expected - len(before)

    with store_mod.open(out, create=False) as s:
        long = s.responses()
        runs = s.runs()
    assert len(long) == expected
    assert not long.duplicated(["variant", "item", "sample"]).any()
    assert (long["status"] == "ok").all()
    after = _answers(out)
    assert after.loc[before.index].equals(before)  # the answers stored before the kill are unchanged
    assert list(runs["status"]) == ["running", "finished"]  # the killed run never finished
    summary = runs.iloc[1]["summary"]
    assert summary["from_store"] == len(before)
    assert summary["answered"] == expected - len(before) and summary["failed"] == 0


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture()
def existing(tmp_path: Path) -> Path:
    out = tmp_path / "study.db"
    rc = main(["administer", "-i", "svs56", "-m", SIM, "--design", "minimal", "--max-items", "6", "--out", str(out),
               "--no-progress"])
    assert rc == 0
    return out


@pytest.mark.parametrize("case", ["unknown spec", "missing key", "unreachable server", "invalid design file"])
def test_bad_input_fails_clearly_and_leaves_the_store_as_it_was(
    existing: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    design = tmp_path / "bad_design.yaml"
    design.write_text("instructions:\n  - official\n  - no_such_template\n")
    model, design_arg, message = {
        "unknown spec": ("gpt4:turbo", "minimal", "unknown backend 'gpt4'"),
        "missing key": ("openai:gpt-4o-mini", "minimal", "OPENAI_API_KEY"),
        "unreachable server": (f"openai-compatible:http://127.0.0.1:{_closed_port()}/v1#m", "minimal",
                               "cannot connect"),
        "invalid design file": (SIM, str(design), "bad_design.yaml:3.*instructions\\[1\\].*no_such_template"),
    }[case]
    before = sha(existing)
    capsys.readouterr()
    for out in (existing, tmp_path / "fresh.db"):
        rc = main(["administer", "-i", "svs56", "-m", model, "--design", design_arg, "--out", str(out),
                   "--no-progress", "--max-items", "6"])
        err = capsys.readouterr().err
        assert rc == 1
        assert err.startswith("error: ") and len(err.strip().splitlines()) == 1
        assert pytest.importorskip("re").search(message, err), err
    assert sha(existing) == before
    assert not (tmp_path / "fresh.db").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad_design.yaml", "study.db"]


def test_runs_list_and_export(existing: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["administer", "-i", "svs56", "-m", SIM, "--design", "minimal", "--max-items", "6", "--out",
                 str(existing), "--no-progress"]) == 0  # a rerun: served from the store
    capsys.readouterr()
    assert main(["runs", "list", str(existing)]) == 0
    text = capsys.readouterr().out
    with store_mod.open(existing) as s:
        run_ids = list(s.runs()["run_id"])
    assert len(run_ids) == 2 and all(r in text for r in run_ids)
    assert "from store 6" in text and "answered 6" in text

    for name in ("long.csv", "long.parquet"):
        assert main(["export", str(existing), "-o", str(tmp_path / name)]) == 0
    long_csv = pd.read_csv(tmp_path / "long.csv")
    long_pq = pd.read_parquet(tmp_path / "long.parquet")
    assert len(long_csv) == len(long_pq) == 6
    assert {"model", "item", "variant", "sample", "value", "status", "instruction"} <= set(long_pq.columns)
    assert main(["export", str(existing), "-o", str(tmp_path / "wide.parquet"), "--wide"]) == 0
    wide = pd.read_parquet(tmp_path / "wide.parquet")
    assert wide.shape == (1, 4 + 6) and list(wide.columns[4:]) == [f"svs0{i}" for i in range(1, 7)]

    capsys.readouterr()
    assert main(["export", str(tmp_path / "missing.db"), "-o", str(tmp_path / "x.csv")]) == 1
    assert "missing.db: response store not found" in capsys.readouterr().err
    assert main(["runs", "list", str(tmp_path / "long.csv")]) == 1
    assert "not a psychoml response store" in capsys.readouterr().err

    assert main(["administer", "-i", "mfq30", "-m", SIM, "--design", "minimal", "--max-items", "3", "--out",
                 str(existing), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["export", str(existing), "-o", str(tmp_path / "w2.csv"), "--wide"]) == 1
    err = capsys.readouterr().err
    assert "--instrument" in err and "mfq30, svs56" in err and not (tmp_path / "w2.csv").exists()
    assert main(["export", str(existing), "-o", str(tmp_path / "w2.csv"), "--wide", "-i", "mfq30"]) == 0
    assert pd.read_csv(tmp_path / "w2.csv").shape[1] == 4 + 3
    assert main(["export", str(existing), "-o", str(tmp_path / "w3.csv"), "--wide", "-i", "mfq30",
                 "--value", "argmax"]) == 0
    argmax = pd.read_csv(tmp_path / "w3.csv").iloc[:, 4:]
    with store_mod.open(existing) as s:
        expected = s.matrix(instrument="mfq30", value="argmax")
    assert np.array_equal(argmax.to_numpy(), expected.to_numpy())
    assert main(["export", str(existing), "-o", str(tmp_path / "w4.csv"), "--wide", "-i", "mfq30",
                 "--value", "mode"]) == 1
    assert "--value" in capsys.readouterr().err


def test_failures_left_after_retries_exit_non_zero(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "f.db"
    with FakeOpenAIServer(faults=Faults({"500": 0.5}, times=3)) as server:
        rc = main(["administer", "-i", "svs56", "-m", server.spec(), "--design", "minimal", "--max-items", "10",
                   "--out", str(out), "--max-retries", "0", "--no-progress"])
        assert rc == 1
        assert "rerun the same command to retry them" in capsys.readouterr().err
        rc = main(["administer", "-i", "svs56", "-m", server.spec(), "--design", "minimal", "--max-items", "10",
                   "--out", str(out), "--max-retries", "3", "--no-progress"])
        assert rc == 0
    with store_mod.open(out) as s:
        assert s.counts() == {"ok": 10}
