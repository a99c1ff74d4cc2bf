"""Sandbox tasks: the lifecycle probe and the cost-optimization measurements."""

from __future__ import annotations

import asyncio
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from tradeswarm import probes


@task(name="sandbox-lifecycle", cache_policy=NO_CACHE)
async def lifecycle(mgr: Any, cycles: int, concurrency: int, timeout_s: int) -> dict:
    """Create, exec, status and kill `cycles` sandboxes through the e2b SDK."""
    return await probes.sandbox_lifecycle(mgr, cycles=cycles, concurrency=concurrency, timeout_s=timeout_s)


@task(name="optimization-probes", cache_policy=NO_CACHE)
async def optimizations(mgr: Any, *, symbol: str, strategy: str, end: str | None, window: int) -> dict:
    """Measure pooling, template caching, idle cleanup and batching's 'without' side in this run."""
    async def timed_in_turn() -> dict:
        return {
            "pooling": await probes.pooling(mgr),
            "template_caching": await probes.template_caching(mgr),
            "spawn_per_task_ms": await probes.spawn_per_task(mgr, symbol=symbol, strategy=strategy, end=end,
                                                             window=window),
        }

    # the idle-cleanup probe mostly waits for a lifetime to run out: alongside, not in turn
    timed, idle = await asyncio.gather(timed_in_turn(), probes.idle_cleanup(mgr))
    return {**timed, "idle_cleanup": idle}
