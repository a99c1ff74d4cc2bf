"""A swarm for the stress test, and the real levers its faults pull.

```python
async with stress_swarm(agents=4, symbols=["SPX"]) as target:
    evidence = await run_stress(target.coordinator, cfg, ledger_path=..., fault_target=target,
                                sandbox_metrics=target.sandbox_metrics)
# every agent stopped, every sandbox killed, also on errors and cancellation
```

`SwarmTarget` implements `tradeswarm.stress.faults.FaultTarget` against the live system:
sandboxes are killed through the sandbox manager (the busiest first), create failures and 429s are injected through sandboxd's admin endpoint
(local provider only: E2B's cloud has no such lever), and a scale-up by one agent gives those
two faults a create to hit mid-run. `stress_swarm(faults=...)` arms those at `@0` before its
agents deploy instead, and records what they did in `SwarmTarget.provisioned`. Sandbox
CPU/memory come from the SDK's metrics endpoint.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, AsyncIterator, Iterable, Sequence

from tradeswarm.errors import describe
from tradeswarm.stress.faults import as_faults, before_deploy, server_counter

if TYPE_CHECKING:
    from tradeswarm.latency import LatencyRecorder
    from tradeswarm.sandbox import SandboxManager
    from tradeswarm.settings import Settings
    from tradeswarm.swarm import Coordinator

DEFAULT_TYPES = ("momentum", "mean_reversion", "breakout", "sma_crossover")


async def arm_server_fault(settings: Any, kind: str, params: dict) -> None:
    """Make sandboxd fail the next `count` creates (`create-fail`) or answer 429 (`rate-limit`).

    Only this fault's own field is sent: sandboxd changes only the faults it is given, so a
    create-fail then a rate-limit leave both armed.
    """
    from tradeswarm.sandbox.fault_injection import inject_faults

    field = {"fail_next": params["count"]} if kind == "create-fail" else {"throttle_s": params["seconds"]}
    await asyncio.to_thread(inject_faults, settings, **field)


async def server_faults_injected(settings: Any) -> int | None:
    """sandboxd's count of injected faults that bit, or None where no server can tell (E2B)."""
    if settings.provider != "local":
        return None
    from tradeswarm.sandbox.fault_injection import fault_state

    return int((await asyncio.to_thread(fault_state, settings))["faults_injected"])


class SwarmTarget:
    """The fault levers and sandbox metrics of one deployed swarm."""

    def __init__(self, coordinator: Coordinator, mgr: SandboxManager, settings: Settings) -> None:
        self.coordinator = coordinator
        self.mgr = mgr
        self.settings = settings
        self._params: dict | None = None
        self.expected_agents = len(coordinator.live())
        self.sandboxes: dict[str, int] = {}  # the manager's counters and leaks, once torn down
        self.provisioned: list[dict] = []  # faults armed before the deploy, and what they did

    async def kill_sandboxes(self, count: int, busy_wait_s: float = 2.0) -> dict:
        """Kill `count` of the swarm's sandboxes under its agents, the busiest first (the
        coordinator must notice, re-dispatch their tasks and replace the agents).

        Waits up to `busy_wait_s` for a sandbox with a task in flight, so that the kill has
        tasks to strand; `in_flight` names them (for the re-dispatch check).
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + busy_wait_s
        while True:
            load = Counter({sid: 0 for sid in self.coordinator.sandbox_ids()})
            for a in self.coordinator.live():
                if a.sandbox_id in load:
                    load[a.sandbox_id] += a.inflight
            if any(load.values()) or loop.time() >= deadline:
                break
            await asyncio.sleep(0.005)
        victims = [sid for sid, _ in load.most_common(count)]
        in_flight = [tid for a in self.coordinator.live() if a.sandbox_id in victims for tid in a.pending]
        await asyncio.gather(*(self.mgr.kill(sid) for sid in victims))
        return {"killed": victims, "in_flight": in_flight}

    async def fail_next_creates(self, count: int) -> None:
        await arm_server_fault(self.settings, "create-fail", {"count": count})

    async def rate_limit(self, seconds: float) -> None:
        await arm_server_fault(self.settings, "rate-limit", {"seconds": seconds})

    async def server_faults_injected(self) -> int | None:
        return await server_faults_injected(self.settings)

    async def add_agent(self) -> dict:
        """Deploy one more agent like a running one; `ok` when it came up despite create faults.

        (A deploy of a copied spec rather than `scale`: it names the one agent this fault adds.)
        """
        spec = next(iter(self.coordinator.live())).spec
        try:
            added = await self.coordinator.deploy(spec.type, list(spec.symbols), dict(spec.params),
                                                  count=1, fail_rate=spec.fail_rate)
        except Exception as e:
            return {"ok": False, "error": describe(e)}
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

        from tradeswarm.sandbox.provider import connection_params

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


async def _count_or_none(settings: Any) -> int | None:
    try:
        return await server_faults_injected(settings)
    except Exception:  # an unreadable counter is "not observable", not a failed deploy
        return None


async def _arm_before_deploy(early: list, settings: Settings, mgr: SandboxManager) -> dict:
    """Arm the `@0` server faults; the counters they are judged against afterwards."""
    before = await _count_or_none(settings)
    errors = {}
    for f in early:
        try:
            await arm_server_fault(settings, f.kind, f.params)
        except Exception as e:  # not armed: the fault says why instead of the run failing
            errors[f.kind] = describe(e)
    return {"before": before, "errors": errors, "retries": mgr.counters["retries"]}


async def _provisioned(early: list, armed: dict, target: SwarmTarget, t0: float,
                       agents: int) -> list[dict]:
    """What the `@0` faults did to the deploy: the server's count, the creates retried, the time.

    Faults armed together share one window, so each reports the same counter change.
    """
    counter = server_counter(armed["before"], await _count_or_none(target.settings))
    came_up = {"ok": target.expected_agents >= agents, "agents": target.expected_agents,
               "deploy_s": round(time.monotonic() - t0, 3),
               "create_retries": target.mgr.counters["retries"] - armed["retries"]}
    out = []
    for f in early:
        detail = {"phase": "before deploy", "provisioning": came_up, "server_faults_injected": counter}
        error = armed["errors"].get(f.kind)
        if error:
            detail["error"] = error
        bit = counter["delta"] is None or counter["delta"] > 0
        out.append({"kind": f.kind, "params": dict(f.params), "injected": not error and bit,
                    "detail": detail})
    return out


def _type_counts(agents: int, types: Sequence[str]) -> dict[str, int]:
    return dict(Counter(types[i % len(types)] for i in range(agents)))


@asynccontextmanager
async def stress_swarm(*, agents: int = 4, agent_types: Sequence[str] = DEFAULT_TYPES,
                       symbols: Sequence[str] = ("SPX",), settings: Settings | None = None,
                       recorder: LatencyRecorder | None = None, task_timeout_s: float = 5.0,
                       heartbeat_timeout_s: float = 2.0, fail_rate: float = 0.0,
                       spare: int = 4, faults: Iterable[Any] = (),
                       labels: dict[str, str] | None = None) -> AsyncIterator[SwarmTarget]:
    """Deploy `agents` agents (types in turn) in their own sandboxes; tear all down on exit.

    `spare` leaves room under the concurrency cap for replacements and fault scale-ups.
    Of `faults` (the run's, as `run_stress` takes them), the sandbox-server ones at `@0` are
    armed before the deploy, so the first creations fail and provisioning retries through them.
    `labels`: metadata on every sandbox (a run's id, see `tradeswarm.sandbox.runlabel`).
    """
    from tradeswarm.sandbox import SandboxManager
    from tradeswarm.settings import Settings
    from tradeswarm.swarm.coordinator import Coordinator

    settings = settings or Settings()
    mgr = SandboxManager(settings=settings, recorder=recorder, max_concurrency=agents + spare,
                         labels=labels)
    target = None
    try:
        async with mgr:
            coord = Coordinator(mgr, recorder=recorder, task_timeout_s=task_timeout_s,
                                heartbeat_timeout_s=heartbeat_timeout_s)
            async with coord:
                early = [f for f in as_faults(faults) if before_deploy(f)]
                armed = await _arm_before_deploy(early, settings, mgr) if early else None
                t0 = time.monotonic()
                await asyncio.gather(*(coord.deploy(t, list(symbols), count=n, fail_rate=fail_rate)
                                       for t, n in _type_counts(agents, agent_types).items()))
                target = SwarmTarget(coord, mgr, settings)
                if early:
                    target.provisioned = await _provisioned(early, armed, target, t0, agents)
                yield target
    finally:
        if target is not None:  # asked of the service after the teardown, as a run's own leaks are
            target.sandboxes = {"created": mgr.counters["created"], "killed": mgr.counters["killed"],
                                "leaked": await _leaked_or_none(mgr)}


async def _leaked_or_none(mgr: SandboxManager) -> int | None:
    """Sandboxes still alive after the teardown; None when the server cannot be asked (it
    died: what is left cannot be verified, and a leak check must not pass on that)."""
    try:
        return len(await mgr.leaked())
    except Exception:
        return None
