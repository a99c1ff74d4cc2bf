"""A sharded stress run from start to merge: submit, watch, sweep, merge (no Prefect needed).

```python
ev = run_sharded({"tasks": 1000, "rate": 200}, shards=2, swarm={"agents": 2},
                 run_dir="runs/x", dask_address="tcp://127.0.0.1:8786",
                 on_progress=lambda pct: print(pct))
```

The shards run on the Dask cluster at `dask_address` (`tradeswarm.stress.dask_shards`), or
through `local=(submit, wait_some)` (the stress flow's Prefect tasks). Whatever happened to
them, every sandbox still carrying the run's id is then killed and counted as `leaked`, as
the provider reports it (`tradeswarm.sandbox.runlabel`); the merged accounting is counted by
SQL from the shard ledgers (`tradeswarm.stress.shards.merge_shards`).
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from tradeswarm.latency import LatencyRecorder

PROGRESS_POLL_S = 0.5


def progress_pct(run_dir: str | Path, shards: int, total: int, shards_done: int) -> float:
    """Per cent done: tasks with a final state in the shard ledgers, or shards done if more."""
    from tradeswarm.stress.ledger import finished_tasks

    tasks = sum(finished_tasks(Path(run_dir) / f"stress-shard{i}.db") for i in range(shards))
    return round(100.0 * max(tasks / max(total, 1), shards_done / shards), 1)


def run_sharded(spec: dict, *, shards: int, swarm: dict | None, run_dir: str | Path, seed: int = 0,
                run_id: str | None = None, dask_address: str | None = None,
                local: tuple[Callable, Callable] | None = None,
                on_progress: Callable[[float], None] | None = None) -> dict:
    """Run the shards, report progress as it changes, sweep the run's sandboxes, merge."""
    from tradeswarm.sandbox.runlabel import reap, shard_labels
    from tradeswarm.settings import Settings
    from tradeswarm.stress import dask_shards
    from tradeswarm.stress.config import StressConfig
    from tradeswarm.stress.shards import merge_shards

    total, swarm = StressConfig.of(spec).tasks, swarm or {}
    run_id = run_id or f"stress-{uuid.uuid4().hex[:12]}"
    run_dir = str(run_dir)
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    client = None
    try:
        if dask_address:
            client = dask_shards.connect(dask_address)
            pending = dask_shards.submit(client, shards, spec, swarm, run_dir, seed, run_id)
            wait_some = dask_shards.wait_some
        else:
            submit, wait_some = local
            pending = [submit(i, shards, spec, swarm, run_dir, seed, run_id) for i in range(shards)]
        results, shown = [], 0.0
        while pending:
            done, pending = wait_some(list(pending), PROGRESS_POLL_S)
            results += [fut.result() for fut in done]
            pct = min(progress_pct(run_dir, shards, total, len(results)), 100.0 if not pending else 99.9)
            if pct > shown and on_progress is not None:  # one call per change, not per poll
                on_progress(pct)
                shown = pct
    finally:
        if client is not None:
            client.close()
        # the shards' sandboxes only: a certification's main swarm, same run id, is still running
        leaked = reap(swarm.get("settings") or Settings(), shard_labels(run_id))
    merged = merge_shards(results, run_dir, seed)
    merged["shard_sandboxes"]["leaked"] = len(leaked)
    merged["run_id"] = run_id
    return merged


def record_samples(merged: dict, recorder: LatencyRecorder | None) -> dict:
    """Move the shards' latency samples out of the evidence into `recorder` (if any)."""
    samples = merged.pop("samples")
    if recorder is not None:
        for op, values in samples.items():
            for ms in values:
                recorder.record(op, ms)
    return merged
