"""The agent runner as a real local process speaking JSON lines (the sandbox tests run it in sandboxd)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import tradeswarm.agents.runner as runner_module
from tradeswarm.agents.strategies import latest_signal
from tradeswarm.marketdata.shipped import load_symbol
from tradeswarm.marketdata.synthetic import synthetic_frame

ROOT = Path(__file__).resolve().parents[2]


class Runner:
    """A runner subprocess with a line reader that skips heartbeats unless asked for them."""

    def __init__(self, tmp_path: Path, **cfg) -> None:
        cfg = {"agent_id": "a1", "type": "sma_crossover", "params": {"fast": 5, "slow": 20},
               "symbols": ["SPX", "SYN1"], "heartbeat_s": 0.2, **cfg}
        path = tmp_path / f"{cfg['agent_id']}.json"
        path.write_text(json.dumps(cfg))
        env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen([sys.executable, runner_module.__file__, "--config", str(path)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        self.heartbeats: list[dict] = []

    def send(self, **msg) -> None:
        self.proc.stdin.write(json.dumps(msg) + "\n")
        self.proc.stdin.flush()

    def read(self, kinds=("ready", "result", "fatal")) -> dict:
        while True:
            line = self.proc.stdout.readline()
            assert line, "runner closed its output"
            msg = json.loads(line)
            if msg["kind"] == "hb":
                self.heartbeats.append(msg)
            if msg["kind"] in kinds:
                return msg

    def close(self) -> int:
        if self.proc.poll() is None:
            self.send(op="stop")
        try:
            return self.proc.wait(timeout=10)
        finally:
            self.proc.kill()


@pytest.fixture
def runner(tmp_path):
    made: list[Runner] = []

    def make(**cfg) -> Runner:
        made.append(Runner(tmp_path, **cfg))
        return made[-1]

    yield make
    for r in made:
        r.close()


def test_ready_handshake_reports_loaded_data(runner):
    r = runner()
    ready = r.read()
    assert ready["kind"] == "ready" and ready["agent"] == "a1" and ready["pid"] == r.proc.pid
    assert ready["bars"] == {"SPX": len(load_symbol("SPX")), "SYN1": 2000}


def test_answers_equal_latest_signal_on_the_same_window(runner):
    r = runner()
    r.read()
    spx, syn = load_symbol("SPX"), synthetic_frame("SYN1", 2000, 7)
    cases = [("SPX", "2018-06-01", 250), ("SPX", "2008-10-10", 60), ("SYN1", None, 100), ("SPX", "1999-01-20", 250)]
    for i, (symbol, end, window) in enumerate(cases):
        r.send(id=f"t{i}", symbol=symbol, end=end, window=window)
        ans = r.read()
        frame = spx if symbol == "SPX" else syn
        expected = latest_signal("sma_crossover", (frame.loc[:end] if end else frame).tail(window), {"fast": 5, "slow": 20})
        assert ans["id"] == f"t{i}" and ans["signal"] == expected


def test_errors_are_answers_and_counted_in_heartbeats(runner):
    r = runner()
    r.read()
    r.send(id="x1", symbol="GOOG")          # not served by this agent
    r.send(id="x2", symbol="SPX", end="1990-01-01")  # before the first bar
    r.proc.stdin.write("not json\n")
    r.proc.stdin.flush()
    r.send(id="ok", symbol="SPX")
    answers = [r.read() for _ in range(4)]
    assert [a["error"]["class"] for a in answers[:3]] == ["ValueError", "ValueError", "BadRequest"]
    assert "signal" in answers[3]
    deadline = time.monotonic() + 5
    while not (r.heartbeats and r.heartbeats[-1]["errors"] == 3):
        assert time.monotonic() < deadline, r.heartbeats
        r.read(kinds=("hb",))
    assert r.heartbeats[-1]["served"] == 1


def test_fail_dice_depend_on_seed_and_task_not_on_the_agent_id_built_from_pid_and_clock(runner):
    def failures(seed: int, rate: float, agent: str) -> dict[str, bool]:
        r = runner(agent_id=agent, fail_rate=rate, fail_seed=seed)
        r.read()
        for i in range(200):
            r.send(id=str(i), symbol="SPX")
        out = {a["id"]: "error" in a for a in (r.read() for _ in range(200))}
        r.close()
        return out

    a, b = failures(1, 0.3, "ag1"), failures(1, 0.3, "ag2")
    assert a == b                                 # another agent, same seed: the same tasks fail
    assert 0.2 < sum(a.values()) / 200 < 0.4
    assert failures(2, 0.3, "ag1") != a           # another seed: other tasks
    assert sum(failures(1, 0.0, "ag1").values()) == 0  # and the opposite case: no faults at rate 0


def test_delay_holds_one_answer_without_blocking_the_next(runner):
    r = runner()
    r.read()
    t0 = time.monotonic()
    r.send(id="slow", symbol="SPX", delay_ms=400)
    r.send(id="fast", symbol="SPX")
    first, second = r.read(), r.read()
    assert (first["id"], second["id"]) == ("fast", "slow")
    assert time.monotonic() - t0 >= 0.4


def test_unknown_type_is_a_fatal_line_and_exit_1(runner):
    r = runner(type="astrology")
    msg = r.read()
    assert msg["kind"] == "fatal" and "unknown strategy" in msg["error"]["message"]
    assert r.proc.wait(timeout=10) == 1


def test_stop_drains_delayed_answers_then_exits_0(runner):
    r = runner()
    r.read()
    r.send(id="late", symbol="SPX", delay_ms=200)
    r.send(op="stop")
    assert r.read()["id"] == "late"
    assert r.proc.wait(timeout=10) == 0
