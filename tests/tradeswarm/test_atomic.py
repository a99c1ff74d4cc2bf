"""Atomic writes: no temp file left, the old file kept on failure, the mode set."""

from __future__ import annotations

import json

import pytest

from tradeswarm.atomic import atomic_write_json, atomic_write_text



def test_atomic_write_leaves_no_temp_and_keeps_old_file_on_failure(tmp_path):
    target = tmp_path / "state.json"
    atomic_write_json(target, {"a": 1})
    assert json.loads(target.read_text()) == {"a": 1}

    class Boom:
        def __str__(self):
            raise RuntimeError("cannot serialise")

    with pytest.raises(RuntimeError):
        atomic_write_json(target, {"a": Boom()})
    assert json.loads(target.read_text()) == {"a": 1}, "a failed write must not touch the old file"
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"], "no temp file may remain"


def test_atomic_write_mode(tmp_path):
    p = atomic_write_text(tmp_path / "token", "x", mode=0o600)
    assert (p.stat().st_mode & 0o777) == 0o600
