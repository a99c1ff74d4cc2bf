"""The stress flow: shards as Prefect tasks, on the thread pool and on a real Dask cluster.

Each shard deploys its own sub-swarm against the test's sandboxd (reached through
TRADESWARM_STATE_DIR, which the Dask worker processes inherit) and keeps its own ledger; the
merged accounting, counted by SQL from the merged ledgers, must be as exact as a
single-process run's.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tradeswarm.stress.ledger import Ledger

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
SPEC = {"tasks": 240, "rate": 160, "symbols": ["SYN1"], "consensus_share": 0.1, "consensus_k": 2,
        "sample_interval_s": 0.25}
SWARM = {"agents": 2, "symbols": ["SYN1"]}


@pytest.fixture
def sandboxd_env(tmp_path, monkeypatch):
    """A local sandboxd, named by env so Dask worker processes reach it too."""
    from tradeswarm.sandbox.sandboxd import daemon

    state = tmp_path / "state"
    monkeypatch.setenv("TRADESWARM_STATE_DIR", str(state))
    monkeypatch.delenv("E2B_API_KEY", raising=False)
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    daemon.start(state)
    try:
        yield state
    finally:
        daemon.stop(state)


def _assert_exact(ev: dict, tasks: int) -> None:
    assert ev["lost"] == 0 and ev["duplicated"] == 0 and ev["orphaned"] == 0
    assert ev["submitted"] == tasks == ev["completed"] + ev["failed"] + ev["timed_out"]


def _shard_totals(ev: dict, run_dir: Path) -> dict:
    totals: dict[str, int] = {}
    for i in range(ev["shards"]):
        with Ledger.open_existing(run_dir / f"stress-shard{i}.db") as led:
            for k, v in led.counts().items():
                totals[k] = totals.get(k, 0) + v
    return totals


def test_sharded_flow_on_dask_gives_the_single_process_accounting(sandboxd_env, tmp_path):
    from distributed import LocalCluster

    from flows.stress import run_stress_flow

    single = run_stress_flow(SPEC, shards=1, swarm=SWARM, run_dir=str(tmp_path / "single"), seed=5)
    _assert_exact(single, 240)

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster:
        sharded = run_stress_flow(SPEC, shards=2, swarm=SWARM, run_dir=str(tmp_path / "dask"),
                                  seed=5, dask_address=cluster.scheduler_address)
        # under a fault too: kill-sandbox=2 over two shards kills 2 sandboxes, not 2 per shard
        faulted = run_stress_flow({**SPEC, "tasks": 120, "faults": ["kill-sandbox=2@0.3"]}, shards=2,
                                  swarm=SWARM, run_dir=str(tmp_path / "fault"), seed=5,
                                  dask_address=cluster.scheduler_address)
    _assert_exact(faulted, 270)  # 120 steady, then the default 100 chaos and 50 recovery tasks
    kills = sorted((f["shard"], len(f["detail"]["killed"])) for f in faulted["faults"])
    assert kills == [(0, 1), (1, 1)], faulted["faults"]
    assert all(f["detail"]["recovery"]["ok"] for f in faulted["faults"]), faulted["faults"]
    # the phases merge by SQL too: every phase's tasks of every shard, each shard's outcomes
    assert [p["submitted"] for p in faulted["phases"].values()] == [120, 100, 50]
    assert faulted["phases"]["chaos"]["outcomes"].count("|") == 1
    assert faulted["swarm"]["duplicate_submissions"] == 0
    _assert_exact(sharded, 240)
    assert sharded["shards"] == 2
    # the shards ran in the cluster's two worker processes, not here
    pids = sharded["shard_pids"]
    assert len(set(pids)) == 2 and os.getpid() not in pids
    # each shard's sub-swarm sandboxes are accounted for, and gone
    boxes = sharded["shard_sandboxes"]
    assert boxes["created"] >= 2 * SWARM["agents"] and boxes["killed"] == boxes["created"] and boxes["leaked"] == 0
    keys = ("submitted", "completed", "failed", "timed_out", "lost", "duplicated")
    assert {k: sharded[k] for k in keys} == {k: single[k] for k in keys}
    # the merged ledger holds exactly the rows of the shard ledgers
    totals = _shard_totals(sharded, tmp_path / "dask")
    assert {k: totals[k] for k in keys} == {k: sharded[k] for k in keys}
    # two sub-swarms really ran: each shard's agents served its tasks
    assert {a.split("/")[0] for a in sharded["per_agent"]} == {"s0", "s1"}
    assert sharded["latency"]["stress_task"]["count"] == 240


def test_progress_is_read_from_the_shard_ledgers_as_tasks_finish(tmp_path):
    from flows.stress import progress_pct

    assert progress_pct(tmp_path, 2, 10, 0) == 0.0  # no ledger yet: none is created by looking
    assert not list(tmp_path.iterdir())
    led = Ledger(tmp_path / "stress-shard1.db")  # still open, as a running shard's is
    for t in "abc":
        led.submitted(t, "signal")
    led.finished("a", "completed")
    led.finished("b", "failed")
    assert progress_pct(tmp_path, 2, 10, 0) == 20.0
    assert progress_pct(tmp_path, 2, 10, 1) == 50.0  # a finished shard counts when it says more
    led.close()


def test_progress_artifact_reaches_100(sandboxd_env, tmp_path):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    from flows.stress import run_stress_flow

    run_stress_flow({**SPEC, "tasks": 60}, shards=2, swarm=SWARM, run_dir=str(tmp_path / "p"))
    with get_client(sync_client=True) as client:
        arts = client.read_artifacts(artifact_filter=ArtifactFilter(
            key=ArtifactFilterKey(any_=["stress-progress"])))
    assert arts and max(float(a.data) for a in arts) == 100.0
