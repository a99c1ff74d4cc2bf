"""CPU and memory sampled during a run: the coordinator process (psutil) and each sandbox.

Sandbox figures come from a `sandbox_metrics()` coroutine returning
`{sandbox_id: {"cpu_pct": float, "mem_bytes": int}}` — against sandboxd or E2B that is the
SDK's metrics endpoint (see `tradeswarm.stress.swarm.SwarmTarget.sandbox_metrics`).
A sampling error is counted, not raised: resource figures must not end a stress run.

Sampling a sandbox is not free: against sandboxd one metrics round costs ~5 ms of the
server's event loop per sandbox (measured: 21 ms for 4), time in which no agent output is
relayed. Sampled every 0.5 s that moved P99 at 200 tasks/s from ~20 ms to ~55 ms, so sandboxes
are sampled every `sandbox_interval_s` (2 s by default) and the coordinator, which costs
nothing to read, every `interval_s`.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Awaitable, Callable

import psutil

SandboxMetrics = Callable[[], Awaitable[dict[str, dict]]]
_MB = 1024 * 1024


def _stats(cpu: list[float], mem: list[float]) -> dict:
    return {"samples": len(cpu),
            "cpu_pct_mean": round(sum(cpu) / len(cpu), 2) if cpu else None,
            "cpu_pct_max": round(max(cpu), 2) if cpu else None,
            "mem_mb_mean": round(sum(mem) / len(mem) / _MB, 2) if mem else None,
            "mem_mb_max": round(max(mem) / _MB, 2) if mem else None}


class ResourceSampler:
    """Samples every `interval_s` while running as an async context manager."""

    def __init__(self, interval_s: float = 0.5, sandbox_metrics: SandboxMetrics | None = None,
                 sandbox_interval_s: float = 2.0):
        self.interval_s = interval_s
        self.sandbox_interval_s = sandbox_interval_s
        self._next_sandbox_sample = 0.0
        self.sandbox_metrics = sandbox_metrics
        self._proc = psutil.Process()
        self._cpu: list[float] = []
        self._rss: list[float] = []
        self._sb_cpu: dict[str, list[float]] = defaultdict(list)
        self._sb_mem: dict[str, list[float]] = defaultdict(list)
        self._errors = 0
        self._task: asyncio.Task | None = None

    async def __aenter__(self) -> "ResourceSampler":
        self._proc.cpu_percent(None)  # the first call only sets the reference point
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc) -> None:
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass
        await self.sample(sandboxes=True)  # the last interval counts too

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            await self.sample()

    async def sample(self, sandboxes: bool | None = None) -> None:
        """Sample the coordinator, and the sandboxes when their interval is due (or forced)."""
        self._cpu.append(self._proc.cpu_percent(None))
        self._rss.append(float(self._proc.memory_info().rss))
        now = asyncio.get_running_loop().time()
        if sandboxes is None:
            sandboxes = now >= self._next_sandbox_sample
        if self.sandbox_metrics is None or not sandboxes:
            return
        self._next_sandbox_sample = now + self.sandbox_interval_s
        try:
            for sid, m in (await self.sandbox_metrics()).items():
                self._sb_cpu[sid].append(float(m["cpu_pct"]))
                self._sb_mem[sid].append(float(m["mem_bytes"]))
        except Exception:
            self._errors += 1

    def summary(self) -> dict:
        """`{coordinator: {...}, sandboxes: {id: {...}}, sandbox_sample_errors}`."""
        return {"coordinator": {**_stats(self._cpu, self._rss), "pid": self._proc.pid},
                "sandboxes": {sid: _stats(self._sb_cpu[sid], self._sb_mem[sid])
                              for sid in sorted(self._sb_cpu)},
                "sandbox_sample_errors": self._errors}
