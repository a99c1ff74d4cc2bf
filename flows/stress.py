"""The stress flow: a few shard tasks (each batching hundreds of stress tasks), merged.

```python
from flows.stress import run_stress_flow
evidence = run_stress_flow({"tasks": 1000, "rate": 200}, shards=2,
                           swarm={"agents": 2}, run_dir="runs/x", dask_address=None)
```

With `dask_address` the shards run on that Dask cluster through prefect-dask's
`DaskTaskRunner(address=...)`; each worker process then deploys its own sub-swarm against the
sandbox server named in its environment. A progress artifact (`stress-progress`) moves as
tasks finish: the flow polls the shard ledgers (read-only) every `PROGRESS_POLL_S`, and where it
cannot see them (workers on other machines) it still moves as shards finish. The merged
accounting is counted by SQL from the merged shard ledgers.
"""

from __future__ import annotations

from pathlib import Path

from prefect import flow
from prefect.artifacts import create_progress_artifact, update_progress_artifact
from prefect.futures import wait

from tasks.stress import stress_shard

PROGRESS_POLL_S = 0.5


def progress_pct(run_dir: str | Path, shards: int, total: int, shards_done: int) -> float:
    """Per cent done: tasks with a final state in the shard ledgers, or shards done if more."""
    from tradeswarm.stress.ledger import finished_tasks

    tasks = sum(finished_tasks(Path(run_dir) / f"stress-shard{i}.db") for i in range(shards))
    return round(100.0 * max(tasks / max(total, 1), shards_done / shards), 1)


@flow(name="stress")
def stress_flow(spec: dict, shards: int = 2, swarm: dict | None = None,
                run_dir: str = "stress-run", seed: int = 0) -> dict:
    """Run `shards` shard tasks in parallel on the flow's task runner and merge them."""
    from tradeswarm.stress.config import StressConfig
    from tradeswarm.stress.shards import merge_shards

    total = StressConfig.of(spec).tasks
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    artifact = create_progress_artifact(progress=0.0, key="stress-progress",
                                        description=f"stress test: {shards} shards")
    futures = [stress_shard.submit(i, shards, spec, swarm or {}, run_dir, seed)
               for i in range(shards)]
    results, pending, shown = [], futures, 0.0
    while pending:
        done, pending = wait(list(pending), timeout=PROGRESS_POLL_S)
        results += [fut.result() for fut in done]
        pct = min(progress_pct(run_dir, shards, total, len(results)), 100.0 if not pending else 99.9)
        if pct > shown:  # one API call per change, not per poll
            update_progress_artifact(artifact, progress=pct)
            shown = pct
    return merge_shards(results, run_dir, seed)


def run_stress_flow(spec: dict, *, shards: int = 2, swarm: dict | None = None,
                    run_dir: str = "stress-run", seed: int = 0,
                    dask_address: str | None = None) -> dict:
    """Run the flow, on a Dask cluster when `dask_address` is given."""
    runner_flow = stress_flow
    if dask_address:
        from prefect_dask import DaskTaskRunner

        runner_flow = stress_flow.with_options(task_runner=DaskTaskRunner(address=dask_address))
    return runner_flow(spec, shards=shards, swarm=swarm, run_dir=str(run_dir), seed=seed)
