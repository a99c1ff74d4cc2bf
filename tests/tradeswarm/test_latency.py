"""The latency recorder: failures recorded too, thread-safe."""

from __future__ import annotations

import threading

import pytest

from tradeswarm.latency import LatencyRecorder



def test_latency_recorder_records_failures_too_and_is_thread_safe():
    rec = LatencyRecorder()
    with pytest.raises(ValueError):
        with rec.time("op"):
            raise ValueError
    threads = [threading.Thread(target=lambda: [rec.record("x", 1.0) for _ in range(1000)]) for _ in range(4)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert rec.count("op") == 1 and rec.count("x") == 4000
    assert rec.operations() == ["op", "x"]
