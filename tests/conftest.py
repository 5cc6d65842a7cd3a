"""Shared pytest configuration."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# No test may reach a model hub: everything runs offline.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

DATA = Path(__file__).parent / "data"


@pytest.fixture
def data_dir() -> Path:
    return DATA
