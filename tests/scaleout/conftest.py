"""A real multi-process Dask cluster on loopback: `dask scheduler` + 2 `dask worker` processes.

The binaries are the project's (.venv/bin). Each worker runs under its nanny (the default),
which restarts it when it is killed, as in production. The workers reach the test's sandboxd
through TRADESWARM_STATE_DIR and import the project through PYTHONPATH; no PREFECT_API_URL is
given to them on purpose (shard work must not need Prefect). The flow's own Prefect server is
the session's (`prefect_api`, tests/conftest.py).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class DaskCluster:
    address: str


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


@pytest.fixture
def dask_cluster(sandboxd_env, tmp_path):
    """Scheduler + 2 single-threaded worker processes (each under a nanny), on loopback."""
    from tests.support.dask_cluster import dask_cluster as cluster

    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    with cluster(tmp_path, workers=2, env=env) as address:
        yield DaskCluster(address=address)
