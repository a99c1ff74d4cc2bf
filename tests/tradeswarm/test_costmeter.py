"""The cost meter: running sandboxes billed up to now."""

from __future__ import annotations

import pytest

from tradeswarm.costmeter import CostMeter



def test_cost_meter_counts_running_sandboxes_up_to_now():
    t = [0.0]
    m = CostMeter(clock=lambda: t[0])
    m.sandbox_started("a", vcpu=2, memory_mb=1024)
    t[0] = 10.0
    m.sandbox_stopped("a")
    m.sandbox_started("b", vcpu=1, memory_mb=512)
    t[0] = 14.0
    m.api_call("create", 2)
    m.stored(100)
    snap = m.snapshot()
    assert snap["sandbox_seconds"] == pytest.approx(14.0)
    assert snap["vcpu_seconds"] == pytest.approx(24.0)
    assert snap["gib_seconds"] == pytest.approx(10.0 + 2.0)
    assert snap["api_calls_total"] == 2 and snap["stored_bytes"] == 100
