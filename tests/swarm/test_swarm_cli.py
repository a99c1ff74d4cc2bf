"""`tradeswarm deploy|agents|health|execute|monitor|scale` end to end: separate CLI processes,
agents living on in sandboxd between them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.sandbox._servers import signal_sandbox_process

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str, check: int | None = 0) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    res = subprocess.run([sys.executable, "-m", "tradeswarm", *args], capture_output=True, text=True,
                         env=env, timeout=120, cwd=ROOT)
    if check is not None:
        assert res.returncode == check, (args, res.returncode, res.stdout, res.stderr)
    return res


def doc(*args: str, check: int | None = 0) -> dict:
    res = cli(*args, "--json", check=check)
    return json.loads(res.stdout)


def ctrl_c_monitor() -> subprocess.CompletedProcess:
    """`tradeswarm monitor` until its first table, then SIGINT (what Ctrl-C sends)."""
    import threading
    import time

    proc = subprocess.Popen([sys.executable, "-m", "tradeswarm", "monitor", "--interval", "300ms"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True)
    reader.start()
    deadline = time.monotonic() + 60
    while not any("PROBE_MS" in line for line in lines) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    try:
        err = proc.stderr.read()
        proc.wait(timeout=30)
    finally:
        proc.kill()
    reader.join(5)
    return subprocess.CompletedProcess(proc.args, proc.returncode, "".join(lines), err)


def server_ids(sandboxd) -> set[str]:
    from e2b import Sandbox

    return {s.sandbox_id for s in Sandbox.list(**sandboxd.sdk_params).next_items()}


@pytest.mark.slow
def test_bad_input_is_one_line_and_exit_2(sandboxd):
    for args in (["deploy", "--agent", "astrology", "--symbols", "SPX"],
                 ["deploy", "--agent", "momentum", "--symbols", "SPX", "--params", "{nope"],
                 ["deploy", "--agent", "sma_crossover", "--symbols", "SPX", "--params", '{"fast": 50, "slow": 10}'],
                 ["monitor", "--interval", "soon"]):
        before = server_ids(sandboxd)
        res = cli(*args, check=2)
        assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr
        assert server_ids(sandboxd) == before
    err = doc("deploy", "--agent", "astrology", "--symbols", "SPX", check=2)
    assert err["exit_code"] == 2 and "unknown strategy" in err["error"]


@pytest.mark.slow
def test_agents_outlive_each_command(sandboxd):
    out = doc("deploy", "--agent", "sma_crossover", "--symbols", "SPX", "--params", '{"fast": 5, "slow": 20}', "--count", "2")
    ids = {a["agent_id"] for a in out["deployed"]}
    assert len(ids) == 2 and all(a["state"] == "ready" for a in out["deployed"])
    doc("deploy", "--agent", "risk_manager", "--symbols", "SPX")
    try:
        listed = doc("agents")["agents"]
        assert ids <= {a["agent_id"] for a in listed} and all(a["state"] == "ready" for a in listed)

        health = doc("health", "--detailed")
        assert health["ok"] and health["healthy"] == 3

        ex = doc("execute", "--strategy", "sma_crossover", "--symbols", "SPX", "--end", "2018-06-01")
        dec = ex["decisions"][0]
        assert dec["asked"] == 3 and len(dec["votes"]) == 3 and dec["action"] in ("BUY", "SELL", "HOLD")
        assert ex["broker"] == "paper" and ex["equity"] == pytest.approx(ex["cash"] + sum(
            p["market_value"] for p in ex["positions"].values()))
        nope = cli("execute", "--strategy", "breakout", "--symbols", "SPX", check=1)
        assert "no live breakout agent" in nope.stderr

        mon = doc("monitor", "--interval", "300ms", "--duration", "0.6s")
        assert len(mon["samples"]) >= 2
        assert all(r["probe_ms"] is not None and r["probe_ms"] > 0 for r in mon["samples"][-1]["agents"])
        interrupted = ctrl_c_monitor()
        assert interrupted.returncode == 0 and "Traceback" not in interrupted.stderr
        assert "3 agent(s)" in interrupted.stdout and "PROBE_MS" in interrupted.stdout
        assert [a["state"] for a in doc("agents")["agents"]] == ["ready"] * 3  # Ctrl-C stopped no agent

        # the opposite case: a stopped agent fails the health check; --replace replaces it
        victim = next(a for a in listed if a["type"] == "risk_manager")
        assert signal_sandbox_process(victim["sandbox_id"], victim["runner_pid"], signal.SIGSTOP)
        try:
            sick = doc("health", "--timeout", "2s", check=1)
            assert not sick["ok"] and sick["healthy"] == 2
            fixed = doc("health", "--timeout", "2s", "--replace")
        finally:
            try:
                signal_sandbox_process(victim["sandbox_id"], victim["runner_pid"], signal.SIGCONT)
            except ProcessLookupError:
                pass  # replaced: killed
        (entry,) = fixed["replaced"]
        assert entry["agent_id"] == victim["agent_id"] and "heartbeat" in entry["reason"] and fixed["ok"]
        now = {a["agent_id"]: a for a in doc("agents")["agents"]}
        assert victim["agent_id"] not in now and now[entry["replacement"]]["type"] == "risk_manager"
        assert victim["sandbox_id"] not in server_ids(sandboxd)
        calm = doc("health", "--replace")  # a healthy swarm: nothing to replace
        assert calm["ok"] and calm["healthy"] == 3 and calm["replaced"] == []
        listed += list(now.values())

        down = doc("scale", "--count", "1")
        assert down["agents"] == 1 and len(down["removed"]) == 2
    finally:
        final = doc("scale", "--count", "0")
    assert final["agents"] == 0 and doc("agents")["agents"] == []
    assert not {a["sandbox_id"] for a in listed} & server_ids(sandboxd)


@pytest.mark.slow
def test_execute_trades_one_paper_account_across_calls(sandboxd):
    doc("deploy", "--agent", "sma_crossover", "--symbols", "SPX", "--params", '{"fast": 5, "slow": 20}')
    ex = ("execute", "--strategy", "sma_crossover", "--symbols", "SPX")
    try:
        # sma(5, 20) on SPX crosses up on 2018-05-09 and down on 2018-06-25
        buy = doc(*ex, "--end", "2018-05-09", "--reset")
        (bought,) = buy["orders"]
        assert buy["decisions"][0]["action"] == "BUY" and bought["status"] == "filled"
        assert bought["fee"] == pytest.approx(0.001 * bought["qty"] * bought["filled_avg_price"]) and bought["fee"] > 0
        assert buy["positions"]["SPX"]["qty"] == bought["qty"]
        sell = doc(*ex, "--end", "2018-06-25")  # a new process, the same paper account
        (sold,) = sell["orders"]
        assert sell["decisions"][0]["action"] == "SELL" and (sold["side"], sold["status"]) == ("sell", "filled")
        assert sold["qty"] == bought["qty"] and sell["positions"] == {} and sell["fills"] == 2
        proceeds = sold["qty"] * sold["filled_avg_price"] - sold["fee"]
        assert sell["cash"] == pytest.approx(buy["cash"] + proceeds) and sold["fee"] > 0
        # the opposite case: a fresh account has nothing to sell on the same decision
        fresh = doc(*ex, "--end", "2018-06-25", "--reset")
        assert fresh["decisions"][0]["action"] == "SELL" and fresh["orders"] == [] and fresh["cash"] == 100_000.0
    finally:
        doc("scale", "--count", "0")
