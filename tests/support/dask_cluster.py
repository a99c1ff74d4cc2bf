"""A real multi-process Dask cluster on loopback: `dask scheduler` + N `dask worker` processes.

The project's binaries (.venv/bin); each worker single-threaded under its nanny (the default),
which restarts it when it is killed, as in production. Used by tests/scaleout and bench/.

```python
with dask_cluster(tmp_path, workers=2, env=os.environ.copy()) as address:
    ...  # tcp://127.0.0.1:<port>
```
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

BIN = Path(sys.executable).parent


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


@contextmanager
def dask_cluster(workdir: Path, *, workers: int = 2, env: dict | None = None,
                 start_timeout_s: float = 90) -> Iterator[str]:
    """Start the scheduler and `workers` worker processes; yield the scheduler's address."""
    from distributed import Client

    sched_file = Path(workdir) / "scheduler.json"
    log = open(Path(workdir) / "dask.log", "ab")
    common = dict(env=env, cwd=workdir, start_new_session=True, stdout=log, stderr=subprocess.STDOUT)
    procs = [subprocess.Popen([str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", "0",
                               "--no-dashboard", "--scheduler-file", str(sched_file)], **common)]
    try:
        deadline = time.monotonic() + start_timeout_s
        while not sched_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        address = json.loads(sched_file.read_text())["address"]
        for i in range(workers):
            procs.append(subprocess.Popen(
                [str(BIN / "dask"), "worker", address, "--nthreads", "1", "--nworkers", "1",
                 "--no-dashboard", "--host", "127.0.0.1", "--name", f"w{i}"], **common))
        with Client(address, timeout=30, set_as_default=False) as c:
            c.wait_for_workers(workers, timeout=start_timeout_s)
        yield address
    finally:
        for p in reversed(procs):
            _stop(p)
        log.close()
