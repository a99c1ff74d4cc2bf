"""Fixtures of the report tests: the crafted golden run (results.json + samples.json)."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import pytest

GOLDEN = Path(__file__).parent / "golden"
_RESULTS = json.loads((GOLDEN / "results.json").read_text(encoding="utf-8"))
_SAMPLES = json.loads((GOLDEN / "samples.json").read_text(encoding="utf-8"))


@pytest.fixture
def results() -> dict:
    """A fresh deep copy of the golden results.json (tests mutate it)."""
    return copy.deepcopy(_RESULTS)


@pytest.fixture
def samples() -> dict:
    return copy.deepcopy(_SAMPLES)


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    """A run directory holding copies of the golden results.json and samples.json."""
    d = tmp_path / "runs" / _RESULTS["run_id"]
    d.mkdir(parents=True)
    shutil.copy(GOLDEN / "results.json", d / "results.json")
    shutil.copy(GOLDEN / "samples.json", d / "samples.json")
    return d
