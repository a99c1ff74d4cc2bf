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
async def optimizations(mgr: Any, *, pool_size: int) -> dict:
    """Pooling, template caching and idle cleanup, each with and without, as billed usage.

    The pool is the spec's `pool_size`, or one sandbox when the spec pools none (the figure is
    then reported, not judged: validation.cost). `sandboxes` adds up the probes' own managers.
    """
    async def in_turn() -> dict:
        return {"pooling": await probes.pooling(mgr, pool_size=max(pool_size, 1)),
                "template_caching": await probes.template_caching(mgr)}

    # the idle-cleanup probe mostly waits for a lifetime to run out: alongside, not in turn
    timed, idle = await asyncio.gather(in_turn(), probes.idle_cleanup(mgr))
    out = {**timed, "idle_cleanup": idle}
    tallies = [m.pop("sandboxes") for m in out.values()]
    out["sandboxes"] = {k: sum(t.get(k, 0) for t in tallies) for k in ("created", "killed", "create_failures", "leaked")}
    return out
