"""A Dask worker SIGKILLed mid-shard: the run completes with exact accounting and no sandbox left.

Issue 14: the nanny restarted the killed worker, Dask re-ran shard 0, the re-run hit
FileExistsError on its partial ledger, the whole stress stage failed (shard 1's finished
tasks discarded with it), and the dead shard's sandboxes outlived the run while the report
said 0 leaked.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest

from tradeswarm.sandbox.runlabel import alive, run_labels
from tradeswarm.stress.ledger import Ledger, finished_tasks

pytestmark = pytest.mark.slow
TASKS = 400
SPEC = {"tasks": TASKS, "rate": 60, "symbols": ["SYN1"], "consensus_share": 0.0,
        "sample_interval_s": 0.5}
SWARM = {"agents": 2, "symbols": ["SYN1"]}


def _worker_pid(run_dir: Path, shard: int, timeout_s: float = 120) -> int:
    """The pid of the worker process running `shard`'s first attempt, once it has finished
    some tasks (its ledger is partial when it dies)."""
    marks, ledger = run_dir / f"stress-shard{shard}.attempts", run_dir / f"stress-shard{shard}.db"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if marks.exists() and finished_tasks(ledger) >= 20:
            return int(marks.read_text().split()[0])
        time.sleep(0.05)
    raise AssertionError(f"shard {shard} never got going")


def test_a_worker_killed_mid_shard_leaves_exact_accounting_and_no_sandbox(
        dask_cluster, sandboxd_env, prefect_api, tmp_path):
    from distributed import Client

    from flows.stress import run_stress_flow

    run_dir, run_id = tmp_path / "run", "killtest-1"
    out: dict = {}

    def go():
        try:
            out["ev"] = run_stress_flow(SPEC, shards=2, swarm=SWARM, run_dir=str(run_dir), seed=3,
                                        dask_address=dask_cluster.address, run_id=run_id)
        except BaseException as e:  # re-raised in the test's thread
            out["error"] = e

    flow = threading.Thread(target=go)
    flow.start()
    victim = _worker_pid(run_dir, 0)
    assert victim != os.getpid()
    os.kill(victim, signal.SIGKILL)
    flow.join(300)
    assert not flow.is_alive(), "the run did not finish"
    if "error" in out:
        raise out["error"]
    ev = out["ev"]

    # exact accounting over all attempts: one final state per task id
    assert ev["lost"] == 0 and ev["duplicated"] == 0 and ev["orphaned"] == 0 and ev["not_submitted"] == 0
    assert ev["submitted"] == TASKS == ev["completed"] + ev["failed"] + ev["timed_out"]
    # the report counts what happened: shard 0 ran twice, its dead attempt's partial ledger kept aside
    assert ev["shard_attempts"] == {"0": 2, "1": 1}
    (dead,) = ev["replaced_attempts"]
    assert dead["shard"] == 0 and dead["attempt"] == 1 and 20 <= dead["submitted"] < TASKS // 2
    assert dead["status"] == "running"  # it never got to write its end: it was killed
    with Ledger.open_existing(dead["ledger"]) as led:
        assert led.counts()["submitted"] == dead["submitted"]
    # the dead attempt's sandboxes were found by the run's label and killed by its re-run
    assert ev["shard_sandboxes"]["reaped"] == SWARM["agents"]
    # finished shard 1's evidence is kept: its ledger was merged, not re-run
    assert {a.split("/")[0] for a in ev["per_agent"]} == {"s0", "s1"}
    assert ev["latency"]["stress_task"]["count"] >= TASKS
    # nothing of the run is left on the provider, and it says so
    assert alive(sandboxd_env, run_labels(run_id)) == [] and ev["shard_sandboxes"]["leaked"] == 0
    assert alive(sandboxd_env, {}) == []
    # the workers ran shard work without Prefect: no temporary Prefect server per worker
    with Client(dask_cluster.address, timeout=30, set_as_default=False) as c:
        imported = c.run(lambda: sorted(m for m in sys.modules if m.startswith("prefect")))
    assert imported and not any(imported.values()), imported
