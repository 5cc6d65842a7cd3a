"""`psychoml run` / `psychoml report` on bad input: located errors, non-zero exit, stores untouched."""

from __future__ import annotations

import hashlib
from pathlib import Path

from psychoml.cli import main


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_invalid_study_file_is_located_and_touches_no_store(tmp_path, capsys):
    store = tmp_path / "study.db"
    store.write_bytes(b"existing store contents that must survive")
    before = digest(store)
    study = tmp_path / "study.yaml"
    study.write_text("name: t\nstore: study.db\ninstruments: [svs56]\nmodels: ['simulated:grm']\nsamples: zero\n")
    code, _out, err = run(capsys, "run", str(study))
    assert code == 1
    assert f"{study}:5 samples" in err and "Traceback" not in err
    assert digest(store) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["study.db", "study.yaml"]


def test_study_with_unknown_model_backend_touches_no_store(tmp_path, capsys):
    study = tmp_path / "study.yaml"
    study.write_text("name: t\nstore: new.db\ninstruments: [svs56]\nmodels: ['nosuch:model']\n")
    code, _out, err = run(capsys, "run", str(study))
    assert code == 1 and "models" in err and "nosuch" in err
    assert not (tmp_path / "new.db").exists()


def test_report_on_missing_store(tmp_path, capsys):
    code, _out, err = run(capsys, "report", str(tmp_path / "nope.db"), "-o", str(tmp_path / "r.html"))
    assert code == 1 and "nope.db" in err and "not found" in err
    assert not (tmp_path / "r.html").exists()


def test_report_rejects_unknown_format(tmp_path, capsys):
    code, _out, err = run(capsys, "report", str(tmp_path / "x.db"), "--formats", "pdf")
    assert code == 1 and "--formats" in err and "pdf" in err
