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
it still moves as shards finish. The merged
accounting is counted by SQL from the merged shard ledgers.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

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
                run_dir: str = "stress-run", seed: int = 0, run_id: str | None = None,
                dask_address: str | None = None) -> dict:
    """Run `shards` shards in parallel (Prefect tasks on the flow's runner, or straight on a
    Dask cluster) and merge them; afterwards every sandbox still carrying the run's id is
    killed and counted as leaked, as the provider reports it."""
    from tradeswarm.settings import Settings
    from tradeswarm.sandbox.runlabel import reap, run_labels
    from tradeswarm.stress.config import StressConfig
    from tradeswarm.stress.shards import merge_shards

    total = StressConfig.of(spec).tasks
    run_id = run_id or f"stress-{uuid.uuid4().hex[:12]}"
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    artifact = create_progress_artifact(progress=0.0, key="stress-progress",
                                        description=f"stress test: {shards} shards")
    client = None
    try:
        if dask_address:
            from tradeswarm.stress import dask_shards

            client = dask_shards.connect(dask_address)
            futures, wait_some = dask_shards.submit(client, shards, spec, swarm or {}, run_dir,
                                                    seed, run_id), dask_shards.wait_some
        else:
            futures = [stress_shard.submit(i, shards, spec, swarm or {}, run_dir, seed, run_id)
                       for i in range(shards)]
            wait_some = _prefect_wait
        results, pending, shown = [], futures, 0.0
        while pending:
            done, pending = wait_some(list(pending), PROGRESS_POLL_S)
            results += [fut.result() for fut in done]
            pct = min(progress_pct(run_dir, shards, total, len(results)), 100.0 if not pending else 99.9)
            if pct > shown:  # one API call per change, not per poll
                update_progress_artifact(artifact, progress=pct)
                shown = pct
    finally:
        if client is not None:
            client.close()
        leaked = reap((swarm or {}).get("settings") or Settings(), run_labels(run_id))
    merged = merge_shards(results, run_dir, seed)
    merged["shard_sandboxes"]["leaked"] = len(leaked)
    merged["run_id"] = run_id
    return merged


def _prefect_wait(pending: list, timeout: float) -> tuple[list, list]:
    done, not_done = wait(pending, timeout=timeout)
    return list(done), list(not_done)


def run_stress_flow(spec: dict, *, shards: int = 2, swarm: dict | None = None,
                    run_dir: str = "stress-run", seed: int = 0,
                    dask_address: str | None = None, run_id: str | None = None,
                    recorder: Any = None) -> dict:
    """Run the flow, its shards on a Dask cluster when `dask_address` is given; the shards'
    latency samples go into `recorder` (a run's samples.json and charts) when one is given."""
    merged = stress_flow(spec, shards=shards, swarm=swarm, run_dir=str(run_dir), seed=seed,
                         run_id=run_id, dask_address=dask_address)
    samples = merged.pop("samples")
    if recorder is not None:
        for op, values in samples.items():
            for ms in values:
                recorder.record(op, ms)
    return merged
