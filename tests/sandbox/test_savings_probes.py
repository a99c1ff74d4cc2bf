"""The cost optimizations' A/B probes on a real sandboxd: billed usage measured with and without.

Each side runs on a sandbox manager of its own, metered by a child of the caller's meter: the
sides' figures are apart, the run's total still counts them, and nothing is left alive.
"""

from __future__ import annotations

import asyncio

import pytest

from tasks import sandboxes
from tradeswarm.costmeter import CostMeter
from tradeswarm.sandbox import SandboxManager
from validation.cost import price_table, savings
from validation.spec import load_spec


def _run(work):
    async def main():
        meter = CostMeter()
        async with SandboxManager(meter=meter, keepalive=False) as mgr:
            out = await work(mgr)
        return out, meter.snapshot()

    return asyncio.run(main())


def test_a_warm_pool_bills_its_waiting_and_the_pool_saving_is_negative(sandboxd):
    out, total = _run(lambda mgr: sandboxes.pooling(mgr, pool_size=2, requests=2, gap_s=0.3))
    w, wo = out["with"], out["without"]
    # the same two sandboxes used either way; the pool's two waiting sandboxes (and the refills
    # that replace the handed-out ones) are billed while they wait
    assert out["sandboxes"]["created"] == (2 + 2) + 2 == out["sandboxes"]["killed"] and out["sandboxes"]["leaked"] == 0
    assert w["sandboxes"] == 4 and wo["sandboxes"] == 2
    assert w["sandbox_seconds"] > wo["sandbox_seconds"] > 0
    assert total["sandbox_seconds"] == pytest.approx(w["sandbox_seconds"] + wo["sandbox_seconds"], abs=0.01)  # the run saw both
    assert out["wait_ms"]["with"] < out["wait_ms"]["without"]  # what pooling does buy: waiting time
    spec = load_spec("smoke", overrides={"sandboxes": {"pool_size": 2}})
    row = savings(spec, price_table("e2b"), {"optimizations": {"pooling": out}})[0]
    assert row["saved_pct"] < 0 and row["saved_usd"] < 0 and row["in_use"]


def test_the_template_bills_less_set_up_time_than_an_upload(sandboxd):
    out, _ = _run(lambda mgr: sandboxes.template_caching(mgr, repeats=1))
    assert out["files_uploaded"] > 10 and out["sandboxes"]["leaked"] == 0
    assert 0 < out["with"]["sandbox_seconds"] < out["without"]["sandbox_seconds"]
    assert out["without"]["stored_bytes"] > 0 and out["with"]["stored_bytes"] == 0


def test_idle_lateness_is_read_from_the_provider(sandboxd):
    out, _ = _run(lambda mgr: sandboxes.idle_cleanup(mgr, idle_s=0.5, lifetime_s=2))
    late = out["late_s"]
    # the janitor ticks every idle_s/4; the provider's reaper ends a sandbox after its lifetime
    assert -0.5 < late["with"] < 2.0 and -1.0 < late["without"] < 5.0
    assert out["usage"]["sandbox_seconds"] > 0 and out["sandboxes"]["leaked"] == 0

