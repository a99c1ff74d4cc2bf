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

    >>> clock = iter([0.0, 10.0, 10.0]).__next__
    >>> m = CostMeter(clock=clock)
    >>> m.sandbox_started("sb1", vcpu=2, memory_mb=512)
    >>> m.sandbox_stopped("sb1")
    >>> m.snapshot()["vcpu_seconds"]
    20.0

    A `child()` meters one experiment apart (its own totals) while the parent still sees
    everything; `since(before)` is what was billed between two snapshots (e.g. the stress stage).
    """

    clock: Callable[[], float] = time.monotonic
    parent: "CostMeter | None" = None
    _sandboxes: dict[str, _Sandbox] = field(default_factory=dict)
    _calls: dict[str, int] = field(default_factory=dict)
    _items: dict[str, int] = field(default_factory=dict)
    _stored_bytes: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def child(self) -> "CostMeter":
        """A meter of its own whose every record also reaches this one."""
        return CostMeter(clock=self.clock, parent=self)

    def sandbox_started(self, sandbox_id: str, *, vcpu: float, memory_mb: float) -> None:
        with self._lock:
            self._sandboxes[sandbox_id] = _Sandbox(vcpu, memory_mb, self.clock())
        if self.parent is not None:
            self.parent.sandbox_started(sandbox_id, vcpu=vcpu, memory_mb=memory_mb)

    def sandbox_stopped(self, sandbox_id: str) -> None:
        with self._lock:
            sb = self._sandboxes.get(sandbox_id)
            if sb is not None and sb.ended is None:
                sb.ended = self.clock()
        if self.parent is not None:
            self.parent.sandbox_stopped(sandbox_id)

    def api_call(self, kind: str, n: int = 1) -> None:
        with self._lock:
            self._calls[kind] = self._calls.get(kind, 0) + n
        if self.parent is not None:
            self.parent.api_call(kind, n)

    def batched(self, kind: str, items: int) -> None:
        """`items` (e.g. task lines) went out in one API call of `kind`: unbatched, `items` calls."""
        with self._lock:
            self._items[kind] = self._items.get(kind, 0) + int(items)
        if self.parent is not None:
            self.parent.batched(kind, items)

    def stored(self, nbytes: int) -> None:
        with self._lock:
            self._stored_bytes += int(nbytes)
        if self.parent is not None:
            self.parent.stored(nbytes)

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
                "api_items": dict(self._items),
                "stored_bytes": self._stored_bytes,
            }

    def since(self, before: dict) -> dict:
        """What was billed since the snapshot `before`: sandbox time, calls and bytes in between.

        >>> clock = iter([0.0, 4.0, 10.0]).__next__
        >>> m = CostMeter(clock=clock)
        >>> m.sandbox_started("sb1", vcpu=1, memory_mb=1024)
        >>> before = m.snapshot()              # at t=4
        >>> m.api_call("stdin", 3)
        >>> d = m.since(before)                # at t=10
        >>> d["sandbox_seconds"], d["api_calls"]
        (6.0, {'stdin': 3})
        """
        now = self.snapshot()

        def diff(key: str) -> dict[str, int]:
            d = {k: n - before.get(key, {}).get(k, 0) for k, n in now[key].items()}
            return {k: n for k, n in d.items() if n}

        out = {k: now[k] - before.get(k, 0) for k in ("sandbox_seconds", "vcpu_seconds", "gib_seconds",
                                                      "stored_bytes")}
        calls = diff("api_calls")
        return {**out, "api_calls": calls, "api_calls_total": sum(calls.values()), "api_items": diff("api_items")}
