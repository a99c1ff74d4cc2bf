"""A real multi-process Dask cluster on loopback: `dask scheduler` + 2 `dask worker` processes.

The binaries are the project's (.venv/bin). Each worker runs under its nanny (the default),
which restarts it when it is killed, as in production. The workers reach the test's sandboxd
through TRADESWARM_STATE_DIR and import the project through PYTHONPATH; no PREFECT_API_URL is
given to them on purpose (shard work must not need Prefect).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


@dataclass
class DaskCluster:
    address: str
    procs: list


@pytest.fixture
def sandboxd_env(tmp_path, monkeypatch):
    """A local sandboxd named by env, so the Dask worker processes reach it too."""
    from tradeswarm.sandbox.sandboxd import daemon
    from tradeswarm.settings import Settings

    state = tmp_path / "state"
    monkeypatch.setenv("TRADESWARM_STATE_DIR", str(state))
    for k in ("E2B_API_KEY", "E2B_DOMAIN", "PREFECT_API_URL"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    daemon.start(state, extra_args=["--max-sandboxes", "20", "--create-rate", "500"])
    try:
        yield Settings(TRADESWARM_STATE_DIR=str(state), E2B_API_KEY=None)
    finally:
        daemon.stop(state)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


@pytest.fixture
def dask_cluster(sandboxd_env, tmp_path):
    """Scheduler + 2 single-threaded worker processes (each under a nanny), on loopback."""
    sched_file = tmp_path / "scheduler.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    common = dict(env=env, cwd=tmp_path, start_new_session=True,
                  stdout=open(tmp_path / "dask.log", "ab"), stderr=subprocess.STDOUT)
    procs = [subprocess.Popen([str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", "0",
                               "--no-dashboard", "--scheduler-file", str(sched_file)], **common)]
    try:
        deadline = time.monotonic() + 60
        while not sched_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        address = json.loads(sched_file.read_text())["address"]
        for i in range(2):
            procs.append(subprocess.Popen(
                [str(BIN / "dask"), "worker", address, "--nthreads", "1", "--nworkers", "1",
                 "--no-dashboard", "--host", "127.0.0.1", "--name", f"w{i}"], **common))
        from distributed import Client

        with Client(address, timeout=30, set_as_default=False) as c:
            c.wait_for_workers(2, timeout=90)
        yield DaskCluster(address=address, procs=procs)
    finally:
        for p in reversed(procs):
            _stop(p)


@pytest.fixture(scope="session")
def prefect_api(tmp_path_factory):
    """The flow's Prefect server (the Dask workers are not told of it: they do not need it)."""
    from tests.support.prefect_harness import prefect_harness

    with prefect_harness(tmp_path_factory.mktemp("prefect_home")):
        yield
