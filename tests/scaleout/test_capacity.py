"""Capacity planned before a run starts: room made or one clear line, before any sandbox exists.

Issue 14: nightly on Dask needed 8 agents + 2 × 4 shard agents under sandboxd's default cap of
10, and failed mid-run with the cause in a worker's log.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest

from tradeswarm.sandbox.capacity import CapacityError, ensure, plan
from validation.spec import load_spec

ROOT = Path(__file__).resolve().parents[2]


def _stats(state: Path) -> dict:
    from tradeswarm.sandbox.sandboxd import daemon

    ep = daemon.running(state)
    return httpx.get(f"{ep.url}/admin/stats", headers={"X-API-KEY": ep.token}, timeout=5).json()


def test_the_plan_counts_agents_shard_agents_and_the_scale_up():
    nightly = load_spec("nightly")
    alone, sharded = plan(nightly), plan(nightly, shards=2)
    strategy_agents = sum(a.count for a in nightly.agents if a.type != "risk_manager")
    assert sharded["shard_agents"] == 2 * (strategy_agents // 2) and alone["shard_agents"] == 0
    # the case: nightly on Dask does not fit under sandboxd's default cap of 10
    assert alone["peak"] <= 10 < sharded["peak"]
    calm = plan(load_spec("nightly", overrides={"stress": {"faults": {"create_failures": 0,
                                                                          "rate_limit_s": 0}}}))
    assert alone["scale_up"] == 1 and calm["peak"] == alone["peak"] - 1


@pytest.mark.parametrize("plan_name, fits", [("hobby", False), ("pro", True)])
def test_on_e2b_the_plan_is_checked_against_the_accounts_concurrency(plan_name, fits, monkeypatch):
    monkeypatch.delenv("TRADESWARM_E2B_MAX_SANDBOXES", raising=False)
    monkeypatch.setenv("TRADESWARM_E2B_PLAN", plan_name)
    spec = load_spec("smoke", overrides={"sandboxes": {"pool_size": 25}})  # 25 + ... > Hobby's 20
    e2b = SimpleNamespace(provider="e2b")
    if fits:
        assert ensure(spec, e2b)["cap"] == 100
    else:
        with pytest.raises(CapacityError, match=r"needs \d+ sandboxes at once.*allows 20"):
            ensure(spec, e2b)
    monkeypatch.setenv("TRADESWARM_E2B_MAX_SANDBOXES", "500")  # configurable
    assert ensure(spec, e2b)["cap"] == 500


def test_the_embedded_sandboxd_is_started_with_room_for_the_plan(tmp_path):
    from tradeswarm.sandbox.sandboxd import daemon
    from tradeswarm.settings import Settings

    state = tmp_path / "state"
    settings = Settings(TRADESWARM_STATE_DIR=str(state), E2B_API_KEY=None)
    spec = load_spec("nightly")
    try:
        got = ensure(spec, settings, shards=2)
        assert got["started"] and got["cap"] == got["peak"] > 10
        assert _stats(state)["max_sandboxes"] == got["peak"]
        assert not ensure(spec, settings, shards=2)["started"]  # running with room: kept as is
    finally:
        daemon.stop(state)


def test_a_plan_over_a_running_sandboxds_cap_is_refused_in_one_line_before_anything_is_created(tmp_path):
    from tradeswarm.sandbox.sandboxd import daemon

    state = tmp_path / "state"
    daemon.start(state, extra_args=["--max-sandboxes", "3"])
    env = {k: v for k, v in os.environ.items() if not k.startswith(("E2B_", "PREFECT_API"))}
    env.update(TRADESWARM_STATE_DIR=str(state), PYTHONPATH=str(ROOT))
    try:
        out = subprocess.run([sys.executable, "-m", "tradeswarm", "certify", "--profile", "smoke",
                              "--out", str(tmp_path / "run")], env=env, cwd=ROOT,
                             capture_output=True, text=True, timeout=300)
        stats = _stats(state)
    finally:
        daemon.stop(state)
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "needs" in lines[0] and "allows 3" in lines[0], out.stderr
    assert "--max-sandboxes" in lines[0]
    assert stats["counters"]["created"] == 0 and stats["counters"]["create_rejected"] == 0
    assert not (tmp_path / "run").exists()
