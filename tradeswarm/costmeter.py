"""The cost meter: what a run consumed, recorded as it happens.

The sandbox layer reports each sandbox's start and end with its vCPUs and memory; clients
report API calls and stored bytes. The judge (`validation.cost`) prices these quantities with
a price table; nothing here knows a price.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Callable


@dataclass
class _Sandbox:
    vcpu: float
    memory_mb: float
    started: float
    ended: float | None = None


@dataclass
class CostMeter:
    """Accumulates sandbox-seconds (with resources), API calls and stored bytes.

    >>> clock = iter([0.0, 10.0]).__next__
    >>> m = CostMeter(clock=clock)
    >>> m.sandbox_started("sb1", vcpu=2, memory_mb=512)
    >>> m.sandbox_stopped("sb1")
    >>> m.snapshot()["vcpu_seconds"]
    20.0
    """

    clock: Callable[[], float] = time.monotonic
    _sandboxes: dict[str, _Sandbox] = field(default_factory=dict)
    _calls: dict[str, int] = field(default_factory=dict)
    _stored_bytes: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def sandbox_started(self, sandbox_id: str, *, vcpu: float, memory_mb: float) -> None:
        with self._lock:
            self._sandboxes[sandbox_id] = _Sandbox(vcpu, memory_mb, self.clock())

    def sandbox_stopped(self, sandbox_id: str) -> None:
        with self._lock:
            sb = self._sandboxes.get(sandbox_id)
            if sb is not None and sb.ended is None:
                sb.ended = self.clock()

    def api_call(self, kind: str, n: int = 1) -> None:
        with self._lock:
            self._calls[kind] = self._calls.get(kind, 0) + n

    def stored(self, nbytes: int) -> None:
        with self._lock:
            self._stored_bytes += int(nbytes)

    def snapshot(self) -> dict:
        """Totals so far; sandboxes still running are counted up to now."""
        with self._lock:
            now = self.clock()
            seconds = vcpu_s = gib_s = 0.0
            for sb in self._sandboxes.values():
                dur = (sb.ended if sb.ended is not None else now) - sb.started
                seconds += dur
                vcpu_s += dur * sb.vcpu
                gib_s += dur * sb.memory_mb / 1024.0
            return {
                "sandboxes": len(self._sandboxes),
                "sandbox_seconds": seconds,
                "vcpu_seconds": vcpu_s,
                "gib_seconds": gib_s,
                "api_calls": dict(self._calls),
                "api_calls_total": sum(self._calls.values()),
                "stored_bytes": self._stored_bytes,
            }
