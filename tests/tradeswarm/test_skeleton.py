"""The shared pieces every layer uses: settings, atomic writes, the latency recorder, the cost meter, the CLI frame."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tradeswarm._io import atomic_write_json, atomic_write_text
from tradeswarm.costmeter import CostMeter
from tradeswarm.metrics import LatencyRecorder
from tradeswarm.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def test_settings_mask_secrets_and_pick_provider():
    s = Settings(E2B_API_KEY="canary-e2b-123", ALPACA_API_KEY="canary-k", ALPACA_API_SECRET="canary-s")
    assert s.provider == "e2b" and s.has_alpaca
    assert "canary" not in repr(s) and "canary" not in str(s.model_dump())
    assert sorted(s.secret_values()) == ["canary-e2b-123", "canary-k", "canary-s"]
    assert Settings().provider in {"local", "e2b"}
    assert Settings(E2B_API_KEY=None).provider == "local"


def test_blank_keys_count_as_unset():
    """Regression: `E2B_API_KEY=""` selected E2B's cloud and hung resolving its host."""
    s = Settings(E2B_API_KEY="", ALPACA_API_KEY="  ", ALPACA_API_SECRET="x")
    assert s.provider == "local" and not s.has_alpaca and s.secret_values() == ["x"]


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


def test_latency_recorder_records_failures_too_and_is_thread_safe():
    rec = LatencyRecorder()
    with pytest.raises(ValueError):
        with rec.time("op"):
            raise ValueError
    threads = [threading.Thread(target=lambda: [rec.record("x", 1.0) for _ in range(1000)]) for _ in range(4)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert rec.count("op") == 1 and rec.count("x") == 4000
    assert rec.operations() == ["op", "x"]


def test_cost_meter_counts_running_sandboxes_up_to_now():
    t = [0.0]
    m = CostMeter(clock=lambda: t[0])
    m.sandbox_started("a", vcpu=2, memory_mb=1024)
    t[0] = 10.0
    m.sandbox_stopped("a")
    m.sandbox_started("b", vcpu=1, memory_mb=512)
    t[0] = 14.0
    m.api_call("create", 2)
    m.stored(100)
    snap = m.snapshot()
    assert snap["sandbox_seconds"] == pytest.approx(14.0)
    assert snap["vcpu_seconds"] == pytest.approx(24.0)
    assert snap["gib_seconds"] == pytest.approx(10.0 + 2.0)
    assert snap["api_calls_total"] == 2 and snap["stored_bytes"] == 100


def _cli(*args, env=None):
    e = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-m", "tradeswarm", *args], capture_output=True, text=True, env=e, cwd=ROOT, timeout=120)


def test_cli_bad_flag_is_one_line_exit_2_and_json_error_document():
    r = _cli("--no-such-flag")
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("tradeswarm: error:")
    assert "Traceback" not in r.stderr
    r = _cli("no-such-command", "--json")
    assert r.returncode == 2
    assert json.loads(r.stdout)["exit_code"] == 2


def test_cli_help_lists_every_command_group():
    r = _cli("--help")
    assert r.returncode == 0
    for name in ("certify", "report", "create", "backtest", "stress", "spec", "deploy"):
        assert name in r.stdout
