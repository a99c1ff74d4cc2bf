"""`tradeswarm stress --dask ADDRESS`: the stress command's shards on a real Dask cluster."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _stress(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tradeswarm", "stress", *args], cwd=ROOT,
                          env=env or os.environ.copy(), capture_output=True, text=True, timeout=400)


def test_no_scheduler_at_the_address_is_one_line_and_exit_2(tmp_path):
    out = _stress("--dask", "tcp://127.0.0.1:9", "--tasks", "10", "--agents", "2", "--symbols", "SYN1",
                  "--consensus-share", "0", "--out", str(tmp_path / "r"))
    assert out.returncode == 2, out.stderr
    (line,) = out.stderr.strip().splitlines()
    assert line.startswith("tradeswarm: error: --dask tcp://127.0.0.1:9: no Dask scheduler answers"), line


@pytest.mark.slow
def test_stress_runs_as_shards_on_the_cluster(dask_cluster, tmp_path):
    out = _stress("--dask", dask_cluster.address, "--shards", "2", "--agents", "2", "--tasks", "80",
                  "--rate", "80", "--symbols", "SYN1", "--consensus-share", "0", "--json",
                  "--out", str(tmp_path / "r"))
    assert out.returncode == 0, out.stderr
    ev = json.loads(out.stdout)
    assert ev["shards"] == 2 and len(set(ev["shard_pids"])) == 2
    assert ev["submitted"] == 80 == ev["completed"] + ev["failed"] + ev["timed_out"] and ev["lost"] == 0
    assert ev["shard_sandboxes"]["leaked"] == 0 and ev["shard_attempts"] == {"0": 1, "1": 1}
    assert "samples" not in ev and ev["latency"]["stress_task"]["count"] == 80
