"""`tradeswarm stress`: bad input exits 2 in one line, a real run prints one JSON document."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tradeswarm.cli import run_cli
from tradeswarm.stress.ledger import Ledger

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("argv,msg", [
    (["stress", "--rate", "10", "--concurrency", "4"], "mutually exclusive"),
    (["stress", "--fault", "meteor=1"], "unknown fault 'meteor'"),
    (["stress", "--fault", "kill-sandbox=0"], ">= 1"),
    (["stress", "--agents", "2", "--consensus-k", "3"], "exceeds --agents"),
    (["stress", "--inspect", "/nonexistent/ledger.db"], "no ledger"),
])
def test_bad_input_exits_2_with_one_line(argv, msg, capsys):
    assert run_cli(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and msg in err and "Traceback" not in err


def test_inspect_a_crashed_ledger_shows_the_lost_tasks(tmp_path, capsys):
    led = Ledger(tmp_path / "l.db")
    led.plan(["a", "b", "c"])
    for t in "abc":
        led.submitted(t, "signal")
    led.finished("a", "completed")
    led.close()  # no final state for b and c: the run "crashed"
    assert run_cli(["stress", "--inspect", str(tmp_path / "l.db"), "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["counts"]["lost"] == 2 and doc["lost_ids"] == ["b", "c"]
    # and a clean ledger inspects as exit 0
    led = Ledger(tmp_path / "ok.db")
    led.submitted("x", "signal")
    led.finished("x", "completed")
    led.close()
    assert run_cli(["stress", "--inspect", str(tmp_path / "ok.db")]) == 0


@pytest.mark.slow
def test_real_run_prints_one_json_document_and_leaves_its_ledger(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TRADESWARM_STATE_DIR": str(tmp_path / "state")}
    env.pop("E2B_API_KEY", None)
    out = tmp_path / "run"
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "tradeswarm", "stress", "--tasks", "150", "--rate", "150",
             "--agents", "3", "--symbols", "SYN1", "--fault", "latency=0.1:50", "--out", str(out),
             "--json"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    finally:
        subprocess.run([sys.executable, "-m", "tradeswarm", "sandboxd", "stop", "--state-dir",
                        str(tmp_path / "state")], cwd=ROOT, env=env, capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)  # exactly one document
    # with a fault: 150 steady tasks, then the default 100 chaos and 50 recovery tasks
    assert doc["submitted"] == 300 and doc["lost"] == 0 and doc["duplicated"] == 0
    assert [p["submitted"] for p in doc["phases"].values()] == [150, 100, 50]
    assert doc["faults"][0]["kind"] == "latency" and doc["faults"][0]["injected"]
    assert doc["swarm"]["agents"]["deployed"] == 3
    assert json.loads((out / "stress.json").read_text())["submitted"] == 300
    assert Ledger.open_existing(out / "stress.db").counts()["completed"] == doc["completed"]
    # a second run into the same directory is refused instead of double-counting
    again = subprocess.run([sys.executable, "-m", "tradeswarm", "stress", "--out", str(out)],
                           cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert again.returncode == 2 and "fresh --out" in again.stderr


@pytest.mark.slow
def test_ctrl_c_mid_run_kills_every_sandbox_and_leaves_an_inspectable_ledger(tmp_path):
    import signal

    import httpx

    from tradeswarm.sandbox.sandboxd import daemon

    state = tmp_path / "state"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TRADESWARM_STATE_DIR": str(state)}
    env.pop("E2B_API_KEY", None)
    out = tmp_path / "run"
    daemon.start(state)
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tradeswarm", "stress", "--tasks", "5000", "--rate", "100",
             "--agents", "2", "--consensus-share", "0", "--symbols", "SYN1", "--out", str(out)],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for line in proc.stderr:  # plain progress lines: the run is under way
            if "stress:" in line and not line.strip().endswith(" 1/5000"):
                break
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 130, err
        ep = daemon.running(state)
        stats = httpx.get(f"{ep.url}/admin/stats", headers={"X-API-KEY": ep.token}, timeout=5).json()
        assert stats["sandboxes"] == 0 and stats["counters"]["created"] == stats["counters"]["killed"]
    finally:
        daemon.stop(state)
    inspect = subprocess.run([sys.executable, "-m", "tradeswarm", "stress", "--inspect",
                              str(out / "stress.db"), "--json"], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=60)
    doc = json.loads(inspect.stdout)
    assert doc["meta"]["status"] == "interrupted"
    c = doc["counts"]
    assert c["submitted"] == c["completed"] + c["failed"] + c["timed_out"] + c["lost"]
    assert c["not_submitted"] > 0
