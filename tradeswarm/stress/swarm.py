"""A swarm for the stress test, and the real levers its faults pull.

```python
async with stress_swarm(agents=4, symbols=["SPX"]) as target:
    evidence = await run_stress(target.coordinator, cfg, ledger_path=..., fault_target=target,
                                sandbox_metrics=target.sandbox_metrics)
# every agent stopped, every sandbox killed, also on errors and cancellation
```

`SwarmTarget` implements `tradeswarm.stress.faults.FaultTarget` against the live system:
sandboxes are killed through the sandbox manager, answer failures are switched on in the
running agents, create failures and 429s are injected through sandboxd's admin endpoint
(local provider only: E2B's cloud has no such lever), and a scale-up by one agent gives those
two faults a create to hit mid-run. Sandbox CPU/memory come from the SDK's metrics endpoint.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Sequence

DEFAULT_TYPES = ("momentum", "mean_reversion", "breakout", "sma_crossover")


class SwarmTarget:
    """The fault levers and sandbox metrics of one deployed swarm."""

    def __init__(self, coordinator: Any, mgr: Any, settings: Any) -> None:
        self.coordinator = coordinator
        self.mgr = mgr
        self.settings = settings
        self._params: dict | None = None
        self.expected_agents = len(coordinator.live())
        self.sandboxes: dict[str, int] = {}  # the manager's counters and leaks, once torn down

    async def kill_sandboxes(self, count: int) -> list[str]:
        """Kill `count` of the swarm's sandboxes under its agents (the coordinator must notice)."""
        victims = self.coordinator.sandbox_ids()[:count]
        await asyncio.gather(*(self.mgr.kill(sid) for sid in victims))
        return victims

    async def set_answer_fail(self, fraction: float) -> None:
        await self.coordinator.set_fail_rate(fraction)

    async def fail_next_creates(self, count: int) -> None:
        from tradeswarm.sandbox.faults import inject_faults

        await asyncio.to_thread(inject_faults, self.settings, fail_next=count)

    async def rate_limit(self, seconds: float) -> None:
        from tradeswarm.sandbox.faults import inject_faults

        await asyncio.to_thread(inject_faults, self.settings, throttle_s=seconds)

    async def add_agent(self) -> dict:
        """Deploy one more agent like a running one; `ok` when it came up despite create faults.

        (A deploy of a copied spec rather than `scale`: it names the one agent this fault adds.)
        """
        spec = next(iter(self.coordinator.live())).spec
        try:
            added = await self.coordinator.deploy(spec.type, list(spec.symbols), dict(spec.params),
                                                  count=1, fail_rate=spec.fail_rate)
        except Exception as e:
            return {"ok": False, "error": f"{type(e).__name__}: {e}"}
        self.expected_agents += len(added)
        return {"ok": bool(added), "added": [a.id for a in added]}

    async def wait_recovered(self, timeout_s: float) -> dict:
        """Wait until the swarm has its expected number of live agents again (replacements)."""
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        while len(self.coordinator.live()) < self.expected_agents and loop.time() - t0 < timeout_s:
            await asyncio.sleep(0.05)
        live = len(self.coordinator.live())
        return {"ok": live >= self.expected_agents, "live": live, "expected": self.expected_agents,
                "waited_s": round(loop.time() - t0, 3),
                "replaced": self.coordinator.evidence()["agents"]["replaced"]}

    async def sandbox_metrics(self) -> dict[str, dict]:
        """CPU % and memory of each of the swarm's sandboxes, from the SDK's metrics call."""
        from e2b import AsyncSandbox

        from tradeswarm.sandbox._provider import connection_params

        if self._params is None:  # a sync probe: off the loop, once, so sampling never stalls it
            self._params = await asyncio.to_thread(connection_params, self.settings, False)
        params = self._params
        ids = self.coordinator.sandbox_ids()
        answers = await asyncio.gather(*(AsyncSandbox.get_metrics(sid, **params) for sid in ids),
                                       return_exceptions=True)
        out = {}
        for sid, m in zip(ids, answers):
            if isinstance(m, BaseException) or not m:
                continue  # killed mid-sample (a fault) or not yet reporting
            out[sid] = {"cpu_pct": m[-1].cpu_used_pct, "mem_bytes": m[-1].mem_used}
        return out


def _type_counts(agents: int, types: Sequence[str]) -> dict[str, int]:
    return dict(Counter(types[i % len(types)] for i in range(agents)))


@asynccontextmanager
async def stress_swarm(*, agents: int = 4, agent_types: Sequence[str] = DEFAULT_TYPES,
                       symbols: Sequence[str] = ("SPX",), settings: Any = None,
                       recorder: Any = None, task_timeout_s: float = 5.0,
                       heartbeat_timeout_s: float = 2.0, fail_rate: float = 0.0,
                       spare: int = 4) -> AsyncIterator[SwarmTarget]:
    """Deploy `agents` agents (types in turn) in their own sandboxes; tear all down on exit.

    `spare` leaves room under the concurrency cap for replacements and fault scale-ups.
    """
    from tradeswarm.sandbox import SandboxManager
    from tradeswarm.settings import Settings
    from tradeswarm.swarm.coordinator import Coordinator

    settings = settings or Settings()
    mgr = SandboxManager(settings=settings, recorder=recorder, max_concurrency=agents + spare)
    target = None
    try:
        async with mgr:
            coord = Coordinator(mgr, recorder=recorder, task_timeout_s=task_timeout_s,
                                heartbeat_timeout_s=heartbeat_timeout_s)
            async with coord:
                await asyncio.gather(*(coord.deploy(t, list(symbols), count=n, fail_rate=fail_rate)
                                       for t, n in _type_counts(agents, agent_types).items()))
                target = SwarmTarget(coord, mgr, settings)
                yield target
    finally:
        if target is not None:  # asked of the service after the teardown, as a run's own leaks are
            target.sandboxes = {"created": mgr.counters["created"], "killed": mgr.counters["killed"],
                                "leaked": len(await mgr.leaked())}
