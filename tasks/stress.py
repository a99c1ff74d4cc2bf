"""The stress shard as a Prefect task: one task drives a whole shard (hundreds of tasks).

Prefect costs 10-16 ms per task run here, so the 1,000 stress tasks are never Prefect tasks;
a shard batches its share inside `tradeswarm.stress.shards.run_shard`. The task is sync and
runs its own event loop, so it works the same in the thread pool and on a Dask worker.
"""

from __future__ import annotations

import asyncio

from prefect import task


@task(name="stress-shard", retries=0)
def stress_shard(index: int, shards: int, spec: dict, swarm: dict, run_dir: str,
                 seed: int = 0, run_id: str | None = None) -> dict:
    """Deploy a sub-swarm, run shard `index` of `shards`, tear it down; the shard's result."""
    from tradeswarm.stress.shards import run_shard

    return asyncio.run(run_shard(index, shards, spec, swarm, run_dir, seed, run_id))
