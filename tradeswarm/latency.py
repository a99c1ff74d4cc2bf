"""Latency samples per operation, recorded where the operation happens.

The sandbox layer, the agent deploy path, the coordinator and the stress engine all record
into one `LatencyRecorder`; the judge reads the raw samples. Nothing here summarises: the
stress engine's statistics module turns samples into percentiles with confidence intervals.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from contextlib import contextmanager
from typing import Iterator


class LatencyRecorder:
    """Thread-safe store of latency samples in milliseconds, keyed by operation name.

    >>> rec = LatencyRecorder()
    >>> with rec.time("sandbox_create"):
    ...     pass
    >>> rec.count("sandbox_create")
    1
    """

    def __init__(self) -> None:
        self._samples: dict[str, list[float]] = defaultdict(list)
        self._lock = threading.Lock()

    def record(self, operation: str, ms: float) -> None:
        with self._lock:
            self._samples[operation].append(float(ms))

    @contextmanager
    def time(self, operation: str) -> Iterator[None]:
        """Record the wall time of the block, also when it raises (a failure took time too)."""
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.record(operation, (time.perf_counter() - t0) * 1000.0)

    def samples(self, operation: str) -> list[float]:
        with self._lock:
            return list(self._samples.get(operation, ()))

    def count(self, operation: str) -> int:
        with self._lock:
            return len(self._samples.get(operation, ()))

    def operations(self) -> list[str]:
        with self._lock:
            return sorted(self._samples)

    def snapshot(self) -> dict[str, list[float]]:
        with self._lock:
            return {op: list(v) for op, v in self._samples.items()}
