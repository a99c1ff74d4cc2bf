"""Driving a stress run through a real swarm on a local sandboxd (shared by the swarm tests)."""

from __future__ import annotations

import asyncio

import httpx

from tradeswarm.stress.engine import run_stress
from tradeswarm.stress.swarm import stress_swarm

SYMBOLS = ["SYN1"]


def live_sandboxes(settings) -> int:
    from tradeswarm.sandbox.sandboxd import daemon

    ep = daemon.running(settings.state_dir)
    return httpx.get(f"{ep.url}/admin/stats", headers={"X-API-KEY": ep.token}, timeout=5).json()["sandboxes"]


def stress(settings, tmp_path, name, own_target=False, seed=3, during=None, check_leaks=True, **cfg):
    """Deploy a swarm, run the stress test through it, tear it down; (evidence, swarm evidence).

    `own_target`: the swarm's own fault target (it knows the faults armed before its deploy)
    rather than the one the engine makes from the coordinator, as the pipeline calls it.
    `during(target, ledger_path)`: a coroutine run beside the stress test (an outside fault);
    `check_leaks=False` where that fault leaves no server to ask.
    """
    cfg = {"tasks": 100, "rate": 200, "symbols": SYMBOLS, "consensus_share": 0.1,
           "consensus_k": 3, "sample_interval_s": 0.25,
           "chaos": {"tasks": 200, "recovery_tasks": 50}, **cfg}
    ledger = tmp_path / f"{name}.db"

    async def go():
        async with stress_swarm(agents=3, symbols=SYMBOLS, settings=settings, heartbeat_timeout_s=1.0,
                                faults=cfg.get("faults", ()) if own_target else ()) as target:
            outside = asyncio.create_task(during(target, ledger)) if during else None
            try:
                ev = await run_stress(target.coordinator, cfg, ledger_path=ledger,
                                      seed=seed, fault_target=target if own_target else None)
            finally:
                if outside is not None:
                    outside.cancel()
                    await asyncio.gather(outside, return_exceptions=True)
            return ev, target.coordinator.evidence()

    ev, swarm = asyncio.run(go())
    assert not check_leaks or live_sandboxes(settings) == 0, "the stress swarm leaked sandboxes"
    return ev, swarm


def assert_exact(ev):
    assert ev["lost"] == 0 and ev["duplicated"] == 0 and ev["orphaned"] == 0
    assert ev["submitted"] == ev["completed"] + ev["failed"] + ev["timed_out"]
    assert ev["submitted"] + ev["not_submitted"] == ev["tasks"]


async def when_phase(ledger, phase: str, timeout_s: float = 120.0) -> None:
    """Wait until the stress run writing `ledger` has entered `phase`."""
    from tradeswarm.stress.ledger import current_phase

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while current_phase(ledger) != phase:
        assert loop.time() < deadline, f"the run never reached its {phase} phase"
        await asyncio.sleep(0.01)


def agent_killer(period_s: float = 0.05):
    """An outside fault: from the chaos phase on, kill every sandbox of the swarm every
    `period_s`, faster than the coordinator can replace the agents (a deploy takes ~1 s)."""
    async def kill(target, ledger) -> None:
        await when_phase(ledger, "chaos")
        while True:
            await asyncio.gather(*(target.mgr.kill(sid) for sid in target.coordinator.sandbox_ids()),
                                 return_exceptions=True)
            await asyncio.sleep(period_s)

    return kill


def sandboxd_killer(state_dir):
    """An outside fault: SIGKILL the sandbox server once the chaos phase starts."""
    async def kill(target, ledger) -> None:
        import os
        import signal

        from tradeswarm.sandbox.sandboxd import daemon

        await when_phase(ledger, "chaos")
        os.kill(daemon.running(state_dir).pid, signal.SIGKILL)

    return kill
