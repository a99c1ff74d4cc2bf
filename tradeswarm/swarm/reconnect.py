"""Agents that outlive one CLI call: attach to the recorded ones, detach without stopping them
(a part of `Coordinator`; the records are `tradeswarm.swarm.agent_records`)."""

from __future__ import annotations

import asyncio
from typing import Iterable

from e2b.exceptions import NotFoundException

from tradeswarm.agents.deploy import AgentSpec, watch
from tradeswarm.sandbox import SandboxNotFound
from tradeswarm.swarm.agent_link import AgentHandle
from tradeswarm.swarm.placement import SandboxSlot


class Reconnecting:
    """`attach` and `detach`. A mixin of `Coordinator`."""

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
            slot = self._slots[handle.sandbox_id] = SandboxSlot(create=asyncio.ensure_future(
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
