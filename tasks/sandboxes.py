"""Sandbox tasks: the lifecycle probe and the cost-optimization measurements."""

from __future__ import annotations

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
    """Measure the 'without' side of pooling, template caching and batching in this run."""
    return {
        "pooling": await probes.pooling(mgr),
        "template_caching": await probes.template_caching(mgr),
        "spawn_per_task_ms": await probes.spawn_per_task(mgr, symbol=symbol, strategy=strategy, end=end,
                                                         window=window),
    }
