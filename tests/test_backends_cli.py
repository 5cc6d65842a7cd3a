"""Bad model specs through the CLI: a clear one-line error, exit status 1, and the store left as it was."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from psychoml.cli import main


def administer(tmp_path: Path, model: str) -> tuple[int, Path]:
    out = tmp_path / "study.db"
    code = main(["administer", "--instrument", "mfq30", "--model", model, "--out", str(out), "--design", "minimal",
                 "--max-items", "1", "--no-progress"])
    return code, out


@pytest.mark.parametrize(
    ("model", "env", "expected"),
    [
        ("gemini:pro", {}, "unknown backend 'gemini'; known: openai, openai-compatible, anthropic, hf, local"),
        ("openai:gpt-4o-mini", {"OPENAI_API_KEY": None}, "set the environment variable OPENAI_API_KEY"),
        ("anthropic:claude-test", {"ANTHROPIC_API_KEY": None}, "set the environment variable ANTHROPIC_API_KEY"),
        ("local:llama-70b", {}, "unknown local model 'llama-70b'; known: smollm2"),
    ],
)
def test_bad_model_spec_exits_1_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], model: str,
    env: dict[str, str | None], expected: str,
) -> None:
    for name, value in env.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    code, out = administer(tmp_path, model)
    err = capsys.readouterr().err
    assert code == 1
    assert expected in err
    assert "Traceback" not in err
    assert not out.exists()  # nothing was asked, so no store was created


def test_missing_optional_dependency_exits_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setitem(sys.modules, "openai", None)  # as if the [api] extra were not installed
    code, out = administer(tmp_path, "openai:gpt-4o-mini")
    assert code == 1
    assert "pip install 'psychoml[api]'" in capsys.readouterr().err
    assert not out.exists()
