"""Placing agents in sandboxes: deploy, share or create a sandbox, lose and replace an agent,
scale and retire (a part of `Coordinator`, see `tradeswarm.swarm.coordinator`).

A `SandboxSlot` is one sandbox the swarm places agents in; a sandbox the swarm created is
killed once its last agent is gone, a sandbox it was given (`sandbox_id=`) never is.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Iterable

from tradeswarm.agents.deploy import AgentSpec, start_agent, upload_runner, validate_spec
from tradeswarm.sandbox import SandboxNotFound
from tradeswarm.swarm.agent_link import AgentHandle

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
class SandboxSlot:
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


class AgentPlacement:
    """Deploying, losing, replacing, scaling and retiring agents over sandbox slots.

    A mixin of `Coordinator`: the state it uses (`agents`, `_slots`, `counters`, ...) is set up
    by `Coordinator.__init__`.
    """

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

    def _place(self, agent_id: str, sandbox_id: str | None) -> tuple[str | None, SandboxSlot]:
        """Reserve a place for an agent: the named sandbox, a sandbox with room, or a new one."""
        if sandbox_id is not None:
            slot = self._slots.get(sandbox_id)
            if slot is None:
                slot = SandboxSlot(create=asyncio.ensure_future(
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
            key, slot = None, SandboxSlot(create=asyncio.ensure_future(
                self.mgr.create(self.template, metadata={"tradeswarm": "agent"},
                                timeout_s=self.sandbox_timeout_s)))
            self._pending_slots.append(slot)
        slot.agents.add(agent_id)
        return key, slot

    async def _release_if_empty(self, key: str | None, slot: SandboxSlot) -> None:
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

    async def _kill_created(self, slot: SandboxSlot) -> None:
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

    def _mark_lost(self, handle: AgentHandle, reason: str, sandbox_suspect: bool) -> tuple[SandboxSlot | None, bool] | None:
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

    async def _after_loss(self, handle: AgentHandle, slot: SandboxSlot | None, was_ready: bool) -> None:
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
