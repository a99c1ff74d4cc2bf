"""The stress flow: a few shard tasks (each batching hundreds of stress tasks), merged.

```python
from flows.stress import run_stress_flow
evidence = run_stress_flow({"tasks": 1000, "rate": 200}, shards=2,
                           swarm={"agents": 2}, run_dir="runs/x", dask_address=None)
```

With `dask_address` the shards are submitted straight to that Dask cluster, without Prefect on
the workers (`tradeswarm.stress.dask_shards`); each worker process then deploys its own
sub-swarm against the sandbox server named in its environment, its sandboxes labelled with the
run's id, and a shard whose worker dies is run again, replacing its dead attempt. A progress
artifact (`stress-progress`) moves as tasks finish: the flow polls the shard ledgers
(read-only) every `PROGRESS_POLL_S`, and where it cannot see them (workers on other machines)
it still moves as shards finish. The run itself is `tradeswarm.stress.fanout.run_sharded`
(`tradeswarm stress --dask` calls it without Prefect); the merged accounting is counted by
SQL from the merged shard ledgers.
"""

from __future__ import annotations

from typing import Any

from prefect import flow
from prefect.artifacts import create_progress_artifact, update_progress_artifact
from prefect.futures import wait

from tasks.stress import stress_shard
from tradeswarm.stress.fanout import PROGRESS_POLL_S, progress_pct, record_samples, run_sharded

__all__ = ["PROGRESS_POLL_S", "progress_pct", "run_stress_flow", "stress_flow"]


@flow(name="stress")
def stress_flow(spec: dict, shards: int = 2, swarm: dict | None = None,
                run_dir: str = "stress-run", seed: int = 0, run_id: str | None = None,
                dask_address: str | None = None) -> dict:
    """Run `shards` shards in parallel (Prefect tasks on the flow's runner, or straight on a
    Dask cluster) and merge them; afterwards every sandbox still carrying the run's id is
    killed and counted as leaked, as the provider reports it."""
    artifact = create_progress_artifact(progress=0.0, key="stress-progress",
                                        description=f"stress test: {shards} shards")
    return run_sharded(spec, shards=shards, swarm=swarm, run_dir=run_dir, seed=seed, run_id=run_id,
                       dask_address=dask_address, local=(stress_shard.submit, _prefect_wait),
                       on_progress=lambda pct: update_progress_artifact(artifact, progress=pct))


def _prefect_wait(pending: list, timeout: float) -> tuple[list, list]:
    done, not_done = wait(pending, timeout=timeout)
    return list(done), list(not_done)


def run_stress_flow(spec: dict, *, shards: int = 2, swarm: dict | None = None,
                    run_dir: str = "stress-run", seed: int = 0,
                    dask_address: str | None = None, run_id: str | None = None,
                    recorder: Any = None) -> dict:
    """Run the flow, its shards on a Dask cluster when `dask_address` is given; the shards'
    latency samples go into `recorder` (a run's samples.json and charts) when one is given."""
    return record_samples(stress_flow(spec, shards=shards, swarm=swarm, run_dir=str(run_dir),
                                      seed=seed, run_id=run_id, dask_address=dask_address), recorder)
