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
import json
import logging
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

from e2b.exceptions import NotFoundException

from tradeswarm.agents.deploy import AgentSpec, start_agent, upload_runner, validate_spec, watch
from tradeswarm.sandbox import SandboxNotFound
from tradeswarm.swarm import telemetry
from tradeswarm.swarm.agent_link import AgentDied, AgentHandle
from tradeswarm.swarm.consensus import Decision, Rule, Vote, decide
from tradeswarm.swarm.dispatch import Dispatcher, NoAgentError
from tradeswarm.swarm.task import Task, TaskOutcome

log = logging.getLogger(__name__)


class DeployError(RuntimeError):
    """Some agents of a deploy could not be started; `.deployed` holds the ones that were."""

    def __init__(self, message: str, deployed: list[AgentHandle]) -> None:
        super().__init__(message)
        self.deployed = deployed

    def __reduce__(self):
        # a Dask shard's error reaches the flow pickled; its handles are live processes of the shard
        return type(self), (str(self), [])


@dataclass
class _Slot:
    """A sandbox the swarm places agents in."""

    create: asyncio.Task | None = None
    sandbox: Any = None
    agents: set[str] = field(default_factory=set)
    usable: bool = True
    owned: bool = True
    uploaded: asyncio.Task | None = None

    async def get(self) -> Any:
        if self.sandbox is None:
            # shielded: a deploy cancelled mid-create must not orphan a sandbox the service made
            self.sandbox = await asyncio.shield(self.create)
        return self.sandbox


class Coordinator:
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

    def __init__(self, mgr: Any, *, recorder: Any = None, dispatch: str = "least_loaded",
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
        self._slots: dict[str, _Slot] = {}
        self._pending_slots: list[_Slot] = []
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

    # --- deploy ------------------------------------------------------------------------
    def live(self) -> list[AgentHandle]:
        """Agents ready for tasks."""
        return [a for a in self.agents.values() if a.alive]

    def _record(self, op: str, ms: float) -> None:
        telemetry.observe(op, ms)
        if self.recorder is not None:
            self.recorder.record(op, ms)

    async def deploy(self, agent_type: str, symbols: Iterable[str] | str, params: dict | None = None,
                     count: int = 1, *, sandbox_id: str | None = None, fail_rate: float = 0.0,
                     fail_seed: int = 0) -> list[AgentHandle]:
        """Deploy `count` agents after validating the spec; returns them once each is ready.

        `ValueError` (nothing started) for an unknown type, invalid params or symbols, or a
        count past the cap; `DeployError` if some agents failed (the others stay deployed).
        """
        spec = validate_spec(agent_type, symbols, params, fail_rate=fail_rate, fail_seed=fail_seed)
        if count < 1:
            raise ValueError(f"count must be >= 1, got {count}")
        if len(self._occupied()) + count > self.max_agents:
            raise ValueError(f"deploying {count} would exceed the cap of {self.max_agents} agents "
                             f"({len(self._occupied())} running)")
        return await self._deploy_spec(spec, count, sandbox_id=sandbox_id)

    def _occupied(self) -> list[AgentHandle]:
        return [a for a in self.agents.values() if a.state in ("deploying", "ready")]

    async def _deploy_spec(self, spec: AgentSpec, count: int, *, sandbox_id: str | None = None) -> list[AgentHandle]:
        if self._closing:
            raise RuntimeError("coordinator is shut down")
        self.counters["agents_requested"] += count
        results = await asyncio.gather(*(self._deploy_one(spec, sandbox_id) for _ in range(count)),
                                       return_exceptions=True)
        ok = [r for r in results if isinstance(r, AgentHandle)]
        bad = [r for r in results if not isinstance(r, AgentHandle)]
        for r in bad:
            if isinstance(r, asyncio.CancelledError):
                raise r
        self._ensure_monitor()
        if bad and not ok and sandbox_id is not None and isinstance(bad[0], SandboxNotFound):
            raise bad[0]  # the sandbox asked for does not exist: bad input, not a failed deploy
        if bad:
            first = bad[0]
            raise DeployError(f"{len(bad)} of {count} agents failed to deploy: {first or type(first).__name__}", ok)
        return ok

    async def _deploy_one(self, spec: AgentSpec, sandbox_id: str | None = None) -> AgentHandle:
        agent_id = f"{self._prefix}-{next(self._ids)}"
        t0 = time.perf_counter()
        slot_key, slot = self._place(agent_id, sandbox_id)
        handle: AgentHandle | None = None
        try:
            sb = await slot.get()
            if slot_key is None:  # a new sandbox: file it under its id (once, for all sharers)
                slot_key = sb.id
                if slot in self._pending_slots:
                    self._pending_slots.remove(slot)
                    self._slots[slot_key] = slot
            if slot.uploaded is None:
                slot.uploaded = asyncio.ensure_future(upload_runner(sb))
            await asyncio.shield(slot.uploaded)
            handle = await start_agent(sb, agent_id, spec, heartbeat_s=self.heartbeat_s,
                                       ready_timeout_s=self.ready_timeout_s, synthetic=self.synthetic,
                                       on_late=self._late, on_exit=self._exited, upload=False)
            self.agents[agent_id] = handle
        except BaseException:
            self.counters["deploy_failures"] += 1
            slot.agents.discard(agent_id)
            if slot in self._pending_slots:
                self._pending_slots.remove(slot)
            await self._release_if_empty(slot_key, slot)
            raise
        finally:
            self._record("agent_deploy", (time.perf_counter() - t0) * 1000.0)
        self.counters["agents_deployed"] += 1
        self._changed.set()
        self._changed = asyncio.Event()
        return handle

    def _place(self, agent_id: str, sandbox_id: str | None) -> tuple[str | None, _Slot]:
        """Reserve a place for an agent: the named sandbox, a sandbox with room, or a new one."""
        if sandbox_id is not None:
            slot = self._slots.get(sandbox_id)
            if slot is None:
                slot = _Slot(create=asyncio.ensure_future(
                    self.mgr.connect(sandbox_id, timeout_s=self.sandbox_timeout_s)), owned=False)
                self._slots[sandbox_id] = slot
            slot.agents.add(agent_id)
            return sandbox_id, slot
        candidates = [(k, s) for k, s in self._slots.items()
                      if s.usable and s.owned and len(s.agents) < self.agents_per_sandbox]
        candidates += [(None, s) for s in self._pending_slots if len(s.agents) < self.agents_per_sandbox]
        if candidates:
            key, slot = min(candidates, key=lambda ks: len(ks[1].agents))
        else:
            key, slot = None, _Slot(create=asyncio.ensure_future(
                self.mgr.create(self.template, metadata={"tradeswarm": "agent"},
                                timeout_s=self.sandbox_timeout_s)))
            self._pending_slots.append(slot)
        slot.agents.add(agent_id)
        return key, slot

    async def _release_if_empty(self, key: str | None, slot: _Slot) -> None:
        """Kill a sandbox the swarm created once no agent lives in it."""
        if key is None:  # another agent sharing the slot may have filed it meanwhile
            key = next((k for k, s in self._slots.items() if s is slot), None)
        if slot.agents or key is None or self._slots.get(key) is not slot:
            if key is None and slot.owned and not slot.agents:  # never filed: may still be creating
                await self._kill_created(slot)
            return
        del self._slots[key]
        if slot.owned:
            await self._kill_created(slot)

    async def _kill_created(self, slot: _Slot) -> None:
        if slot.create is None:
            return
        try:
            sb = slot.sandbox or await asyncio.shield(slot.create)
            await self.mgr.kill(sb.id)
            self.counters["sandboxes_killed"] += 1
        except Exception as e:  # already gone (killed from outside) or never created
            log.debug("sandbox kill: %s", e)

    # --- agent loss, heartbeats, replacement --------------------------------------------
    def _late(self, agent_id: str, msg: dict) -> None:
        self.counters["late_answers"] += 1

    def _exited(self, handle: AgentHandle, reason: str) -> None:
        if handle.state == "retiring" or self._closing:
            handle.die(reason)
            return
        self._lose(handle, reason, sandbox_suspect=True)

    def _lose(self, handle: AgentHandle, reason: str, *, sandbox_suspect: bool = False) -> None:
        lost = self._mark_lost(handle, reason, sandbox_suspect)
        if lost is not None:
            self._spawn(self._after_loss(handle, *lost))

    def _mark_lost(self, handle: AgentHandle, reason: str, sandbox_suspect: bool) -> tuple[_Slot | None, bool] | None:
        """Declare an agent lost, once; its slot and whether it had been ready (None: nothing to do)."""
        # An agent that died by its own hand (its stdin failed: its sandbox was killed under a
        # burst of tasks) still needs its loss handled and a replacement, once; any other
        # dead agent (retired, shut down, already lost) is left alone as before.
        self_inflicted = handle.state == "dead" and (handle.death or "").startswith("stdin failed")
        if (handle.state == "dead" and not self_inflicted) or getattr(handle, "loss_handled", False):
            return None
        handle.loss_handled = True
        was_ready = handle.state == "ready" or (self_inflicted and handle.deploy_ms is not None)
        handle.die(reason)
        self.counters["agents_lost"] += 1
        slot = self._slots.get(handle.sandbox_id or "")
        if slot is not None:
            slot.agents.discard(handle.id)
            if sandbox_suspect:
                slot.usable = False
        return slot, was_ready

    async def replace(self, handle: AgentHandle, reason: str) -> AgentHandle:
        """Replace one agent now: declare it lost (a silent one's process is killed, its emptied
        sandbox freed) and deploy an agent of the same spec; returns the new agent.

        For callers without the heartbeat watch (`tradeswarm health --replace`); `DeployError`
        if the replacement fails (counted in `replace_failures`).
        """
        lost = self._mark_lost(handle, reason, sandbox_suspect=True)
        await self._after_loss(handle, lost[0] if lost else None, was_ready=False)
        self.agents.pop(handle.id, None)
        try:
            (new,) = await self._deploy_spec(handle.spec, 1)
        except DeployError:
            self.counters["replace_failures"] += 1
            raise
        self.counters["agents_replaced"] += 1
        return new

    async def _after_loss(self, handle: AgentHandle, slot: _Slot | None, was_ready: bool) -> None:
        try:
            await handle.proc.kill()  # a stopped (SIGSTOP) process is still killable
        except Exception:
            pass
        if slot is not None and handle.sandbox_id is not None:
            await self._release_if_empty(handle.sandbox_id, slot)
        if was_ready and self.replace_dead and not self._closing:
            try:
                await self._deploy_spec(handle.spec, 1)
                self.counters["agents_replaced"] += 1
            except Exception as e:
                self.counters["replace_failures"] += 1
                log.warning("replacing agent %s failed: %s", handle.id, e)

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

    # --- tasks -------------------------------------------------------------------------
    async def execute(self, task: Task) -> TaskOutcome:
        """Run one task to its final state (completed, failed or timed_out), exactly once per id."""
        done = self._final.get(task.id)
        if done is not None:
            self.counters["duplicate_submissions"] += 1
            return done
        running = self._running.get(task.id)
        if running is not None:
            self.counters["duplicate_submissions"] += 1
            return await asyncio.shield(running)
        fut = asyncio.get_running_loop().create_future()
        self._running[task.id] = fut
        self.counters["tasks_submitted"] += 1
        try:
            outcome = await self._run(task)
        except BaseException:
            del self._running[task.id]
            fut.cancel()  # a duplicate submission waiting on it sees the cancellation
            raise
        self._final[task.id] = outcome
        del self._running[task.id]
        fut.set_result(outcome)
        self.counters[f"tasks_{outcome.status}"] += 1
        telemetry.TASKS.labels(outcome.status).inc()
        self._record("task", outcome.latency_ms)
        return outcome

    async def _wait_for_agents(self, seconds: float) -> bool:
        """Wait until an agent becomes ready (a replacement), up to `seconds`."""
        if seconds <= 0 or self._closing:
            return False
        try:
            await asyncio.wait_for(self._changed.wait(), seconds)
            return True
        except asyncio.TimeoutError:
            return False

    async def _run(self, task: Task) -> TaskOutcome:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        deadline = t0 + self.task_timeout_s
        tried: set[str] = set()
        attempts = 0
        agent: AgentHandle | None = None

        def outcome(status: str, error_class: str | None = None, signal: dict | None = None,
                    error: str | None = None) -> TaskOutcome:
            return TaskOutcome(task.id, status, agent.id if agent else None, attempts,
                               (loop.time() - t0) * 1000.0, error_class, signal, error)

        line = task.line()
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return outcome("timed_out", "Timeout", error=f"no answer within {self.task_timeout_s:g}s")
            try:
                agent = self.dispatcher.choose(list(self.agents.values()), symbol=task.symbol,
                                               agent_type=task.agent_type, exclude=tried)
            except NoAgentError as e:
                replacing = any(a.state == "deploying" for a in self.agents.values()) or self._background
                if replacing and await self._wait_for_agents(remaining):
                    continue
                agent = None
                return outcome("failed", "NoAgent", error=str(e))
            attempts += 1
            tried.add(agent.id)
            fut = agent.submit(task.id, line)
            try:
                async with asyncio.timeout(remaining):
                    msg = await fut
            except TimeoutError:
                agent.forget(task.id)
                return outcome("timed_out", "Timeout", error=f"no answer within {self.task_timeout_s:g}s")
            except AgentDied:
                self.counters["tasks_redispatched"] += 1
                continue
            agent.latencies.append((loop.time() - t0) * 1000.0)
            if "error" in msg:
                agent.errors += 1
                err = msg["error"] or {}
                return outcome("failed", err.get("class", "AgentError"), error=err.get("message"))
            agent.served += 1
            return outcome("completed", signal=msg.get("signal"))

    # --- consensus ---------------------------------------------------------------------
    async def consensus(self, symbol: str, end: str | None = None, k: int = 3, *, window: int = 250,
                        rule: Rule | None = None, timeout_s: float | None = None,
                        agent_types: Sequence[str] | None = None) -> Decision:
        """Ask `k` agents (least loaded, or in turn) for their vote on one bar and decide.

        The quorum counts the agents actually asked: with fewer than `k` eligible agents, all
        of them are asked and 2/3 of those must answer (`Decision.requested` keeps `k`).
        Errors and missing answers are not votes.
        """
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        round_id = f"c{next(self._rounds)}"
        pool = [a for a in self.agents.values() if agent_types is None or a.type in agent_types]
        asked = self.dispatcher.pick(pool, k, symbol=symbol)
        futures = {}
        answered: dict[str, float] = {}
        for a in asked:
            tid = f"{round_id}:{a.id}"
            fut = a.submit(tid, Task(id=tid, symbol=symbol, end=end, window=window).line())
            fut.add_done_callback(lambda _f, aid=a.id: answered.setdefault(aid, loop.time()))
            futures[a] = (tid, fut)
        if futures:
            await asyncio.wait([f for _, f in futures.values()],
                               timeout=timeout_s if timeout_s is not None else self.consensus_timeout_s)
        votes: list[Vote] = []
        errors: list[dict] = []
        for a, (tid, fut) in futures.items():
            if not fut.done():
                a.forget(tid)
                fut.cancel()
                errors.append({"agent_id": a.id, "error_class": "Timeout"})
                continue
            if fut.exception() is not None:
                errors.append({"agent_id": a.id, "error_class": type(fut.exception()).__name__})
                continue
            msg = fut.result()
            if "error" in msg:
                a.errors += 1
                errors.append({"agent_id": a.id, "error_class": (msg["error"] or {}).get("class")})
                continue
            a.served += 1
            s = msg["signal"]
            votes.append(Vote(a.id, a.type, s["action"], float(s["confidence"]), bool(s.get("veto")),
                              s.get("bar"), round((answered[a.id] - t0) * 1000.0, 3)))
        dec = decide(votes, asked=len(asked), rule=rule or self.rule)
        dec.requested = k
        dec.latency_ms = (loop.time() - t0) * 1000.0
        dec.symbol = symbol
        dec.errors = errors
        self._record("consensus", dec.latency_ms)
        self.counters["consensus_rounds"] += 1
        self.counters["consensus_errors"] += len(errors)
        self.counters[f"consensus_{dec.reason}"] += 1
        self.counters["consensus_holds"] += dec.action == "HOLD"
        return dec

    # --- reconnecting (agents that outlive one CLI call) ---------------------------------
    async def attach(self, records: Iterable[dict]) -> list[AgentHandle]:
        """Reconnect to agents a previous process deployed (registry records).

        An agent whose sandbox or process the service no longer knows comes back dead; any
        other failure (the service unreachable) raises, so the caller keeps its records.
        """
        handles = await asyncio.gather(*(self._attach_one(r) for r in records))
        self._ensure_monitor()
        return list(handles)

    async def _attach_one(self, rec: dict) -> AgentHandle:
        spec = AgentSpec(rec["type"], dict(rec.get("params") or {}), tuple(rec.get("symbols") or ()),
                         float(rec.get("fail_rate") or 0.0), int(rec.get("fail_seed") or 0))
        handle = AgentHandle(rec["agent_id"], spec, rec["sandbox_id"], on_late=self._late)
        handle.pid, handle.runner_pid = rec.get("pid"), rec.get("runner_pid")
        handle.deployed_at = rec.get("deployed_at") or handle.deployed_at
        self.agents[handle.id] = handle
        slot = self._slots.get(handle.sandbox_id)
        if slot is None:
            slot = self._slots[handle.sandbox_id] = _Slot(create=asyncio.ensure_future(
                self.mgr.connect(handle.sandbox_id, timeout_s=self.sandbox_timeout_s)))
        slot.agents.add(handle.id)
        try:
            sb = await slot.get()
            handle.proc = await sb.attach(handle.pid, handle.feed, handle.feed_stderr)
        except (NotFoundException, SandboxNotFound) as e:  # anything else is not proof it is gone
            handle.die(f"gone ({type(e).__name__})")
            slot.agents.discard(handle.id)
            slot.usable = False
            if slot.sandbox is not None:  # the sandbox lives on without its agent: do not leak it
                await self._release_if_empty(handle.sandbox_id, slot)
            return handle
        handle.mark_ready(rec.get("deploy_ms"))
        watch(handle, self._exited)
        return handle

    async def detach(self) -> list[AgentHandle]:
        """Stop following every agent without stopping it; returns the live ones (to record)."""
        self._closing = True
        for t in [self._monitor, *self._background]:
            if t is not None:
                t.cancel()
        live = self.live()
        for a in self.agents.values():
            if a.watcher is not None:
                a.watcher.cancel()
            if a.proc is not None:
                while a._flushing:  # let queued lines (e.g. a retire's stop) reach the agent
                    await asyncio.sleep(0.005)
                await a.proc.disconnect()
        self._slots.clear()
        self._pending_slots.clear()
        return live

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

    # --- scale, fault levers, shutdown ---------------------------------------------------
    async def scale(self, count: int) -> dict:
        """Grow (copies of the running specs, in turn) or shrink (least busy first) to `count`."""
        if not 0 <= count <= self.max_agents:
            raise ValueError(f"count must be within 0..{self.max_agents} (the cap), got {count}")
        current = self._occupied()
        added, removed = [], []
        if count > len(current):
            specs = [a.spec for a in current] or [a.spec for a in self.agents.values()]
            if not specs:
                raise ValueError("nothing to scale: deploy an agent first")
            need = count - len(current)
            by_spec: dict[str, list] = {}
            for i in range(need):
                s = specs[i % len(specs)]
                by_spec.setdefault(json.dumps(s.to_dict(), sort_keys=True), [s, 0])[1] += 1
            groups = await asyncio.gather(*(self._deploy_spec(s, n) for s, n in by_spec.values()),
                                          return_exceptions=True)
            for g in groups:
                if isinstance(g, BaseException):
                    if isinstance(g, DeployError):
                        added += g.deployed
                    raise g
                added += g
        elif count < len(current):
            victims = sorted(current, key=lambda a: (a.inflight, a.served, -a.deployed_at))[: len(current) - count]
            await asyncio.gather(*(self.retire(a) for a in victims))
            removed = victims
        return {"agents": len(self._occupied()), "added": [a.id for a in added],
                "removed": [a.id for a in removed]}

    async def retire(self, handle: AgentHandle, drain_s: float | None = None) -> None:
        """Stop one agent: no new tasks, wait for its pending ones, stop it, free its sandbox."""
        if handle.state == "dead":
            return
        handle.state = "retiring"
        deadline = time.monotonic() + (drain_s if drain_s is not None else self.task_timeout_s)
        while handle.pending and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        handle.die("retired")
        try:
            await handle.proc.kill()
        except Exception:
            pass
        slot = self._slots.get(handle.sandbox_id or "")
        if slot is not None:
            slot.agents.discard(handle.id)
            await self._release_if_empty(handle.sandbox_id, slot)
        self.agents.pop(handle.id, None)
        self.counters["agents_retired"] += 1

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
