"""The coordinator: agents in sandboxes, task dispatch with re-dispatch, heartbeats, consensus.

```python
async with SandboxManager() as mgr, Coordinator(mgr, recorder=rec) as coord:
    await coord.deploy("momentum", ["SPX"], count=3)
    out = await coord.execute(Task(id="t1", symbol="SPX", end="2018-06-01"))
    dec = await coord.consensus(symbol="SPX", end="2018-06-01", k=3)
# leaving the block stops every agent and kills every sandbox the coordinator created
```

Exactly one final state per task id: a task whose agent dies is re-dispatched to another
agent (the dead agent is excluded for that task); a resubmitted id returns the first
outcome; an answer that arrives after its task was finalised or moved is dropped and
counted (`late_answers`). An agent silent for `heartbeat_timeout_s` is declared dead and
replaced by a new agent of the same spec.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from collections import Counter
from typing import TYPE_CHECKING, Any

from tradeswarm.swarm import telemetry
from tradeswarm.swarm.agent_link import AgentDied, AgentHandle
from tradeswarm.swarm.consensus import Rule
from tradeswarm.swarm.consensus_rounds import ConsensusRounds
from tradeswarm.swarm.dispatch import Dispatcher
from tradeswarm.swarm.placement import AgentPlacement, DeployError, SandboxSlot
from tradeswarm.swarm.reconnect import Reconnecting
from tradeswarm.swarm.task import Task, TaskOutcome
from tradeswarm.swarm.task_running import TaskRunning

if TYPE_CHECKING:
    from tradeswarm.latency import LatencyRecorder
    from tradeswarm.sandbox import SandboxManager

__all__ = ["Coordinator", "DeployError"]
class Coordinator(AgentPlacement, TaskRunning, ConsensusRounds, Reconnecting):
    """Deploys agents over sandboxes and serves tasks and consensus rounds through them.

    - `dispatch`: `round_robin`, `least_loaded` or `capability` (see `tradeswarm.swarm.dispatch`).
    - `agents_per_sandbox`: how many agents share one sandbox.
    - `max_agents`: the concurrency cap `scale` and `deploy` keep within (default: the
      manager's `max_concurrency` × `agents_per_sandbox`).
    - `heartbeat_s`: how often runners beat; `heartbeat_timeout_s`: silence that kills.
    - `rule`: the consensus `Rule`; `consensus_timeout_s`: how long votes are collected.
    - `sandbox_timeout_s`: the lifetime asked for each sandbox; `monitor=False` turns off the
      heartbeat watch (a CLI call that only looks must not declare agents dead).
    """

    def __init__(self, mgr: SandboxManager, *, recorder: LatencyRecorder | None = None, dispatch: str = "least_loaded",
                 task_timeout_s: float = 5.0, heartbeat_timeout_s: float = 5.0,
                 heartbeat_s: float | None = None, agents_per_sandbox: int = 1,
                 max_agents: int | None = None, template: str = "trading", rule: Rule | None = None,
                 consensus_timeout_s: float | None = None, replace_dead: bool = True,
                 ready_timeout_s: float = 30.0, synthetic: dict | None = None,
                 sandbox_timeout_s: int = 3600, monitor: bool = True) -> None:
        if agents_per_sandbox < 1:
            raise ValueError("agents_per_sandbox must be >= 1")
        self.mgr = mgr
        self.recorder = recorder
        self.dispatcher = Dispatcher(dispatch)
        self.task_timeout_s = float(task_timeout_s)
        self.heartbeat_timeout_s = float(heartbeat_timeout_s)
        self.heartbeat_s = float(heartbeat_s if heartbeat_s is not None else min(1.0, heartbeat_timeout_s / 4))
        self.agents_per_sandbox = agents_per_sandbox
        cap = getattr(mgr, "max_concurrency", None) or 10
        self.max_agents = int(max_agents if max_agents is not None else cap * agents_per_sandbox)
        self.template = template
        self.rule = rule or Rule()
        self.consensus_timeout_s = float(consensus_timeout_s if consensus_timeout_s is not None else task_timeout_s)
        self.replace_dead = replace_dead
        self.ready_timeout_s = ready_timeout_s
        self.synthetic = synthetic
        self.sandbox_timeout_s = sandbox_timeout_s
        self.monitor = monitor
        self.agents: dict[str, AgentHandle] = {}
        self._slots: dict[str, SandboxSlot] = {}
        self._pending_slots: list[SandboxSlot] = []
        self._final: dict[str, TaskOutcome] = {}
        self._running: dict[str, asyncio.Future] = {}
        self._background: set[asyncio.Task] = set()
        self._changed = asyncio.Event()
        self._monitor: asyncio.Task | None = None
        self._closing = False
        self._ids = itertools.count(1)
        self._prefix = f"ag{os.getpid() % 10000:04d}{int(time.time() * 1000) % 100000:05d}"
        self._rounds = itertools.count(1)
        self.counters: Counter = Counter()
        telemetry.track(self)

    # --- context manager ---------------------------------------------------------------
    async def __aenter__(self) -> "Coordinator":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.shutdown()

    def live(self) -> list[AgentHandle]:
        """Agents ready for tasks."""
        return [a for a in self.agents.values() if a.alive]

    def _record(self, op: str, ms: float) -> None:
        telemetry.observe(op, ms)
        if self.recorder is not None:
            self.recorder.record(op, ms)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _ensure_monitor(self) -> None:
        if not self.monitor:
            return
        if self._monitor is None or self._monitor.done():
            self._monitor = asyncio.get_running_loop().create_task(self._watch_heartbeats())

    async def _watch_heartbeats(self) -> None:
        period = max(0.05, min(0.5, self.heartbeat_timeout_s / 5))
        while not self._closing:
            await asyncio.sleep(period)
            now = time.monotonic()
            for a in list(self.agents.values()):
                if a.alive and a.silent_for(now) > self.heartbeat_timeout_s:
                    self.counters["heartbeat_timeouts"] += 1
                    telemetry.HEARTBEAT_TIMEOUTS.inc()
                    self._lose(a, f"silent for {a.silent_for(now):.1f}s (heartbeat timeout)")

    async def probe_heartbeats(self, wait_s: float) -> list[dict]:
        """Wait up to `wait_s` for a heartbeat from every live agent; rows with `healthy`."""
        deadline = time.monotonic() + wait_s
        start = {a.id: a.heartbeats for a in self.agents.values()}
        while time.monotonic() < deadline and any(
                a.alive and a.heartbeats <= start[a.id] for a in self.agents.values()):
            await asyncio.sleep(0.05)
        return [{**a.info(), "healthy": a.alive and a.heartbeats > start[a.id]} for a in self.agents.values()]

    async def probe_latency(self, timeout_s: float = 2.0) -> list[dict]:
        """Send each live agent one task on its first symbol; rows with `probe_ms` (None: no answer)."""
        loop = asyncio.get_running_loop()

        async def one(a: AgentHandle) -> dict:
            tid = f"probe{next(self._rounds)}:{a.id}"
            t0 = loop.time()
            fut = a.submit(tid, Task(id=tid, symbol=a.symbols[0]).line())
            try:
                async with asyncio.timeout(timeout_s):
                    msg = await fut
                ms = round((loop.time() - t0) * 1000.0, 3) if "signal" in msg else None
            except (TimeoutError, AgentDied):
                a.forget(tid)
                ms = None
            return {**a.info(), "probe_ms": ms}

        live = self.live()
        rows = await asyncio.gather(*(one(a) for a in live))
        return [*rows, *({**a.info(), "probe_ms": None} for a in self.agents.values() if a not in live)]

    # --- fault levers, shutdown ---------------------------------------------------------
    async def set_fail_rate(self, fraction: float) -> None:
        """Change the injected answer-failure rate of every live agent (a stress-test lever)."""
        if not 0.0 <= fraction <= 1.0:
            raise ValueError(f"fraction must be within [0, 1], got {fraction}")
        for a in self.live():
            a.send(f'{{"op":"set","fail_rate":{float(fraction)}}}\n')

    def sandbox_ids(self) -> list[str]:
        """The sandboxes this coordinator created and still holds."""
        return [k for k, s in self._slots.items() if s.owned]

    async def shutdown(self) -> None:
        """Stop every agent and kill every sandbox this coordinator created (idempotent)."""
        if self._closing and not self._slots and not self._pending_slots:
            return
        self._closing = True
        await asyncio.shield(self._teardown())

    async def _teardown(self) -> None:
        for t in [self._monitor, *self._background]:
            if t is not None:
                t.cancel()
        for a in self.agents.values():
            a.die("shutdown")
            if a.watcher is not None:
                a.watcher.cancel()
        foreign = [a for a in self.agents.values() if a.sandbox_id in self._slots
                   and not self._slots[a.sandbox_id].owned and a.proc is not None]
        await asyncio.gather(*(a.proc.kill() for a in foreign), return_exceptions=True)
        slots = [*self._slots.values(), *self._pending_slots]
        self._slots.clear()
        self._pending_slots.clear()
        await asyncio.gather(*(self._kill_created(s) for s in slots if s.owned), return_exceptions=True)

    # --- evidence ------------------------------------------------------------------------
    def evidence(self) -> dict:
        """The `agents` and `consensus` evidence (docs/contracts.md §5) plus task accounting."""
        c = self.counters
        live = self.live()
        now = time.monotonic()
        healthy = [a for a in live if a.silent_for(now) <= self.heartbeat_timeout_s]
        return {
            "agents": {"requested": c["agents_requested"], "deployed": c["agents_deployed"],
                       "healthy": len(healthy), "replaced": c["agents_replaced"],
                       "deploy_failures": c["deploy_failures"],
                       "by_type": dict(Counter(a.type for a in live)),
                       "lost": c["agents_lost"], "heartbeat_timeouts": c["heartbeat_timeouts"],
                       "retired": c["agents_retired"], "replace_failures": c["replace_failures"]},
            "consensus": {"rounds": c["consensus_rounds"], "decided": c["consensus_decided"],
                          "holds": c["consensus_holds"], "no_quorum": c["consensus_no_quorum"],
                          "vetoed": c["consensus_vetoed"], "errors": c["consensus_errors"]},
            "tasks": {"submitted": c["tasks_submitted"], "completed": c["tasks_completed"],
                      "failed": c["tasks_failed"], "timed_out": c["tasks_timed_out"],
                      "redispatched": c["tasks_redispatched"], "late_answers": c["late_answers"],
                      "duplicate_submissions": c["duplicate_submissions"]},
        }
