"""The wheel ships every subpackage and the instrument files; the architecture contract holds."""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_every_subpackage_is_listed_in_pyproject():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {
        ".".join(p.parent.relative_to(ROOT).parts)
        for p in (ROOT / "psychoml").rglob("__init__.py")
        if "__pycache__" not in p.parts
    }
    assert found - listed == set(), "add these packages to [tool.setuptools] packages in pyproject.toml"


@pytest.mark.slow
def test_wheel_contains_instruments_and_packages(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), str(ROOT)],
        capture_output=True, text=True, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    wheel = next(tmp_path.glob("psychoml-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = sorted(p.name for p in (ROOT / "instruments").glob("*.yaml"))
    for name in shipped:
        assert f"psychoml/_instrument_data/{name}" in names
    for p in (ROOT / "psychoml").rglob("*.py"):
        if "__pycache__" not in p.parts:
            assert p.relative_to(ROOT).as_posix() in names
    for p in (ROOT / "psychoml").rglob("data/*.*"):
        assert p.relative_to(ROOT).as_posix() in names


def test_import_contracts_hold():
    lint = Path(sys.executable).with_name("lint-imports")
    if not lint.exists():
        pytest.fail("import-linter is not installed in this environment (it is a test extra)")
    proc = subprocess.run([str(lint), "--config", str(ROOT / "pyproject.toml")], capture_output=True, text=True, cwd=ROOT,
                          check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
