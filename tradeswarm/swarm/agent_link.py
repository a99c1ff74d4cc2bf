"""The coordinator's handle on one running agent: its pipe, its pending tasks, its pulse.

All methods run on the coordinator's event loop (the e2b SDK calls the stdout callback there),
so nothing here locks. Outgoing task lines are coalesced: while one `send_stdin` call is in
flight, further lines queue and go out together in the next call, so a burst of tasks to one
agent costs a few RPCs, not one each. Answers are matched to their futures by task id.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from typing import Any, Callable

from tradeswarm.errors import describe
from tradeswarm.swarm import telemetry


class AgentDied(RuntimeError):
    """The agent stopped (process ended, sandbox killed, heartbeat lost) with the task pending."""


class AgentHandle:
    """One agent as the coordinator sees it."""

    def __init__(self, agent_id: str, spec: Any, sandbox_id: str | None = None, *,
                 on_late: Callable[[str, dict], None] | None = None) -> None:
        self.id = agent_id
        self.spec = spec
        self.type: str = spec.type
        self.symbols: tuple[str, ...] = tuple(spec.symbols)
        self.sandbox_id = sandbox_id
        self.proc: Any = None
        self.pid: int | None = None  # the process id sandboxd knows (for reconnecting)
        self.runner_pid: int | None = None  # the interpreter's own pid, from its ready line
        self.state = "deploying"
        self.death: str | None = None
        self.pending: dict[str, asyncio.Future] = {}
        self.served = 0
        self.errors = 0
        self.heartbeats = 0
        self.runner: dict = {}  # the counters of the last heartbeat
        self.deployed_at = time.time()
        self.deploy_ms: float | None = None
        self.last_seen = time.monotonic()
        self.latencies: deque[float] = deque(maxlen=256)
        self.stderr_tail: deque[str] = deque(maxlen=20)
        self.ready: asyncio.Future = asyncio.get_running_loop().create_future()
        self._on_late = on_late
        self.watcher: asyncio.Task | None = None
        self._buf = ""
        self._outbox: list[str] = []
        self._flushing = False

    @property
    def alive(self) -> bool:
        """Ready and accepting tasks."""
        return self.state == "ready"

    @property
    def inflight(self) -> int:
        return len(self.pending)

    # --- output side -------------------------------------------------------------------
    def feed(self, chunk: str) -> None:
        """The stdout callback: split the stream into lines, route each."""
        self._buf += chunk
        if "\n" not in self._buf:
            return
        *lines, self._buf = self._buf.split("\n")
        self.last_seen = time.monotonic()
        for line in lines:
            if line:
                self._route(line)

    def feed_stderr(self, chunk: str) -> None:
        """Keep the end of stderr: it explains a runner that failed to start."""
        self.stderr_tail.append(chunk)

    def _route(self, line: str) -> None:
        try:
            msg = json.loads(line)
        except ValueError:
            self.stderr_tail.append(f"(stdout, not JSON) {line[:200]}")
            return
        kind = msg.get("kind")
        if kind == "result":
            fut = self.pending.pop(msg.get("id"), None)
            if fut is None or fut.done():
                if self._on_late is not None:
                    self._on_late(self.id, msg)
                return
            fut.set_result(msg)
        elif kind == "hb":
            self.heartbeats += 1
            telemetry.HEARTBEATS.inc()
            self.runner = {k: msg.get(k) for k in ("seq", "served", "errors", "pending")}
        elif kind == "ready":
            self.runner_pid = msg.get("pid")
            if not self.ready.done():
                self.ready.set_result(msg)
        elif kind == "fatal" and not self.ready.done():
            err = msg.get("error") or {}
            self._refuse(RuntimeError(f"runner failed to start: {err.get('class')}: {err.get('message')}"))

    # --- input side --------------------------------------------------------------------
    def submit(self, task_id: str, line: str) -> asyncio.Future:
        """Queue one task line; the future resolves with the runner's answer."""
        fut = asyncio.get_running_loop().create_future()
        self.pending[task_id] = fut
        self.send(line)
        return fut

    def forget(self, task_id: str) -> None:
        """Stop waiting for a task (timed out): its answer, if it comes, counts as late."""
        self.pending.pop(task_id, None)

    def send(self, line: str) -> None:
        """Queue a raw protocol line."""
        self._outbox.append(line)
        if not self._flushing:
            self._flushing = True
            asyncio.get_running_loop().create_task(self._flush())

    async def _flush(self) -> None:
        try:
            while self._outbox and self.proc is not None:
                data = "".join(self._outbox)
                self._outbox.clear()
                await self.proc.send_stdin(data)
        except Exception as e:  # the pipe is gone: so is the agent
            self.die(f"stdin failed: {describe(e)}")
        finally:
            self._flushing = False

    # --- lifecycle ---------------------------------------------------------------------
    def mark_ready(self, deploy_ms: float) -> None:
        self.state = "ready"
        self.deploy_ms = deploy_ms
        self.last_seen = time.monotonic()

    def die(self, reason: str) -> list[str]:
        """Mark the agent dead and fail its pending tasks; returns their ids."""
        if self.state == "dead":
            return []
        self.state = "dead"
        self.death = reason
        lost = list(self.pending)
        for fut in self.pending.values():
            if not fut.done():
                fut.set_exception(AgentDied(f"agent {self.id}: {reason}"))
        self.pending.clear()
        if not self.ready.done():
            self._refuse(AgentDied(f"agent {self.id}: {reason}"))
        return lost

    def _refuse(self, exc: BaseException) -> None:
        self.ready.set_exception(exc)
        self.ready.exception()  # retrieved: nobody may be waiting for the handshake any more

    def silent_for(self, now: float | None = None) -> float:
        """Seconds since the agent last said anything."""
        return (now if now is not None else time.monotonic()) - self.last_seen

    def info(self) -> dict:
        """What `tradeswarm agents` shows and the registry persists."""
        lat = sorted(self.latencies)
        return {"agent_id": self.id, "type": self.type, "symbols": list(self.symbols),
                "params": dict(self.spec.params), "sandbox_id": self.sandbox_id, "pid": self.pid, "runner_pid": self.runner_pid,
                "state": self.state, "death": self.death, "inflight": self.inflight,
                "served": self.served, "errors": self.errors, "heartbeats": self.heartbeats,
                "silent_s": round(self.silent_for(), 3), "deploy_ms": self.deploy_ms,
                "p50_ms": lat[len(lat) // 2] if lat else None,
                "p95_ms": lat[min(len(lat) - 1, int(len(lat) * 0.95))] if lat else None,
                "runner": self.runner}
