"""Study files: shipped ones validate; invalid ones give located errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from psychoml.errors import ValidationError
from psychoml.study import load_study

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("path", sorted((ROOT / "analyses").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_study_files_validate(path):
    spec, base = load_study(path)
    assert spec.instruments and spec.models and base == path.parent.resolve()


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "study.yaml"
    p.write_text(text)
    return p


GOOD = """\
name: t
store: t.db
instruments: [bfi]
models: ["simulated:grm"]
"""


def test_unknown_field_is_located(tmp_path):
    p = write(tmp_path, GOOD.replace("name: t", "name: t\nsampels: 3"))
    with pytest.raises(ValidationError) as exc:
        load_study(p)
    assert str(exc.value).startswith(f"{p}:2 sampels: unknown field 'sampels'")


def test_bad_value_is_located(tmp_path):
    p = write(tmp_path, GOOD + "samples: 0\n")
    with pytest.raises(ValidationError) as exc:
        load_study(p)
    assert f"{p}:5 samples:" in str(exc.value) and "greater than or equal to 1" in str(exc.value)


def test_model_without_backend_prefix(tmp_path):
    p = write(tmp_path, GOOD.replace('["simulated:grm"]', '["gpt-4o"]'))
    with pytest.raises(ValidationError, match=r"models: .*needs a backend prefix"):
        load_study(p)


def test_unknown_instrument_is_located(tmp_path):
    p = write(tmp_path, GOOD)
    with pytest.raises(ValidationError) as exc:
        load_study(p)
    assert f"{p}:3 instruments[0]: unknown instrument 'bfi'" in str(exc.value)


def test_yaml_error_is_located(tmp_path):
    p = write(tmp_path, GOOD + "analyses: {reliability: [\n")
    with pytest.raises(ValidationError, match=rf"{p}:\d+: could not parse YAML"):
        load_study(p)
