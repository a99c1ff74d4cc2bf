"""Capacity per agent, measured through the real swarm, moves the cost projection.

One small swarm in sandboxes of a local sandboxd; two stress runs through it, the second with
every answer held back in the agent for longer than the first run's mean service time. The
measured tasks/s per agent at least halves, and the projected production day (the same declared
load and price table) rises with the sandboxes it now needs.
"""

from __future__ import annotations

import asyncio

import pytest

from tradeswarm.stress.engine import run_stress
from tradeswarm.stress.swarm import stress_swarm
from tradeswarm.swarm.task import Task
from validation.cost import capacity, price_table, projection
from validation.spec import load_spec

pytestmark = pytest.mark.slow
BILLED = {"sandbox_seconds": 10.0, "vcpu_seconds": 10.0, "gib_seconds": 20.0, "stored_bytes": 0,
          "api_calls": {"stdin": 50}, "api_calls_total": 50}


def test_injected_latency_that_halves_capacity_raises_the_projection(sandbox_settings, tmp_path):
    cfg = {"tasks": 60, "rate": 60, "symbols": ["SYN1"], "consensus_share": 0.0, "sample_interval_s": 0.25}

    async def go():
        async with stress_swarm(agents=2, symbols=["SYN1"], settings=sandbox_settings) as target:
            fast = await run_stress(target.coordinator, cfg, ledger_path=tmp_path / "fast.db", seed=3)
            hold_ms = max(2 * fast["latency"]["stress_service"]["mean"], 50.0)
            slow = await run_stress(target.coordinator, cfg, ledger_path=tmp_path / "slow.db", seed=3,
                                    task_factory=lambda **f: Task(**{**f, "delay_ms": hold_ms}))
            return fast, slow

    fast, slow = asyncio.run(go())
    assert fast["completed"] == slow["completed"] == 60
    cf, cs = capacity(fast)["per_agent_tps"], capacity(slow)["per_agent_tps"]
    assert cs <= cf / 2

    spec = load_spec("smoke", overrides={"cost": {"production": {
        "tasks_per_day": 100_000, "peak_tasks_per_s": round(10 * cf, 1), "hours_per_day": 6.5}}})
    prices = price_table("e2b")
    pf = projection(spec, prices, {**fast, "billed": BILLED})
    ps = projection(spec, prices, {**slow, "billed": BILLED})
    assert ps["sandboxes"] > pf["sandboxes"] >= 10 + 1
    assert ps["usd"] > pf["usd"] > 0
