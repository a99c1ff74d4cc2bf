"""Stress shards on a Dask cluster, submitted straight to its scheduler (no Prefect on workers).

```python
with connect("tcp://127.0.0.1:8786") as client:
    futures = submit(client, 2, spec, swarm, run_dir, seed=0, run_id="r1")
    done, pending = wait_some(futures, timeout=0.5)
```

Why not prefect-dask's task runner: a Prefect task on a Dask worker needs the flow's API, and
a worker without `PREFECT_API_URL` started a temporary Prefect server of its own (57 s instead
of 4.5 s for smoke, task runs outside the flow's server, an orphaned server per killed
worker). The shard's work needs no Prefect: the flow keeps the progress artifact and the
merge, the workers run `run_shard_sync` and nothing else.

A worker that dies mid-shard (SIGKILL, OOM, lost machine) makes the scheduler run the shard
again elsewhere (up to `distributed.scheduler.allowed-failures` times, 3 by default); an
exception in the shard is retried `RETRIES` times. Each re-run is idempotent
(`tradeswarm.stress.shards.begin_attempt`).
"""

from __future__ import annotations

import time
from typing import Any

RETRIES = 1  # a shard that raised (not one whose worker died) runs once more
CONNECT_TIMEOUT_S = 10


def connect(address: str) -> Any:
    """A client of the scheduler at `address`; a clear error when there is none."""
    from distributed import Client

    try:
        return Client(address, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
    except (OSError, TimeoutError) as e:
        raise ConnectionError(f"no Dask scheduler answers at {address}: {e}") from None


def submit(client: Any, shards: int, spec: dict, swarm: dict, run_dir: str, seed: int,
           run_id: str) -> list[Any]:
    """One future per shard, keyed by the run so two runs on one cluster never share results."""
    from tradeswarm.stress.shards import run_shard_sync

    return [client.submit(run_shard_sync, i, shards, spec, swarm, run_dir, seed, run_id,
                          key=f"stress-shard-{run_id}-{i}", pure=False, retries=RETRIES)
            for i in range(shards)]


def wait_some(pending: list[Any], timeout: float) -> tuple[list[Any], list[Any]]:
    """The futures done within `timeout` and those still pending (as `prefect.futures.wait`)."""
    deadline = time.monotonic() + timeout
    while True:
        finished = [f.done() for f in pending]  # read once: a future may finish meanwhile
        if any(finished) or time.monotonic() >= deadline:
            return ([f for f, d in zip(pending, finished) if d],
                    [f for f, d in zip(pending, finished) if not d])
        time.sleep(0.05)
