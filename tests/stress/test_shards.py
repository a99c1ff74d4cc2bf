"""How a sharded run shares out its tasks and faults (pure logic: no swarm, no Prefect)."""

import pytest

from tradeswarm.stress.shards import shard_config

FAULTS = ["kill-sandbox=5", "create-fail=3@0", "rate-limit=0.5", "answer-fail=0.2", "latency=0.1:50"]


def _faults(shards):
    return [shard_config({"tasks": 100, "faults": FAULTS}, i, shards).faults for i in range(shards)]


@pytest.mark.parametrize("shards", [1, 2, 3])
def test_count_faults_are_split_so_the_run_injects_what_the_spec_says(shards):
    per_shard = _faults(shards)
    kills = [sum(f.params["count"] for f in fs if f.kind == "kill-sandbox") for fs in per_shard]
    # copied into every shard, kill-sandbox=5 would kill 5 × shards sandboxes
    assert sum(kills) == 5 and kills == sorted(kills, reverse=True) and max(kills) - min(kills) <= 1
    # the sandbox server is one for all shards: its faults are injected once, by shard 0
    for kind, params in (("create-fail", {"count": 3, "at": 0.0}), ("rate-limit", {"seconds": 0.5, "at": 0.3})):
        hits = [[f.params for f in fs if f.kind == kind] for fs in per_shard]
        assert hits[0] == [params] and not any(hits[1:])
    # fractions stay fractions in every shard
    for fs in per_shard:
        by_kind = {f.kind: f.params for f in fs}
        assert by_kind["answer-fail"] == {"fraction": 0.2}
        assert by_kind["latency"] == {"fraction": 0.1, "ms": 50.0}


def test_a_shard_without_a_share_of_the_kills_has_no_kill_fault():
    per_shard = [shard_config({"tasks": 90, "faults": ["kill-sandbox=2@0.5"]}, i, 3).faults for i in range(3)]
    assert [[(f.params["count"], f.params["at"]) for f in fs] for fs in per_shard] == [[(1, 0.5)], [(1, 0.5)], []]


def test_the_chaos_and_recovery_phases_are_split_like_the_steady_tasks():
    cfgs = [shard_config({"tasks": 90, "faults": ["answer-fail=0.1"],
                          "chaos": {"tasks": 31, "recovery_tasks": 10}}, i, 3) for i in range(3)]
    assert [c.chaos.tasks for c in cfgs] == [11, 10, 10]
    assert sum(c.chaos.recovery_tasks for c in cfgs) == 10
def test_a_shard_run_again_retires_its_partial_ledger_instead_of_failing_on_it(tmp_path):
    """Regression (issue 14): the re-run of a shard whose worker died hit FileExistsError on its
    partial ledger and failed the whole stress stage. Now each start counts as an attempt and a
    previous attempt's ledger is moved aside (kept, never merged) before the new one is written."""
    from tradeswarm.stress.ledger import Ledger
    from tradeswarm.stress.shards import begin_attempt

    first = begin_attempt(0, tmp_path)
    assert first == {"attempt": 1, "replaced": [], "sandboxes_reaped": 0}
    led = Ledger(tmp_path / "stress-shard0.db")  # the dead attempt: left open, mid-run
    led.plan(["a", "b", "c"])
    for t in "abc":
        led.submitted(t, "signal")
    led.finished("a", "completed")
    led.set_meta(status="running")
    second = begin_attempt(0, tmp_path)
    (dead,) = second["replaced"]
    assert second["attempt"] == 2 and dead["attempt"] == 1 and dead["status"] == "running"
    assert (dead["submitted"], dead["completed"], dead["lost"]) == (3, 1, 2)
    assert not (tmp_path / "stress-shard0.db").exists()  # the re-run writes a fresh one
    with Ledger.open_existing(dead["ledger"]) as kept:
        assert kept.counts()["completed"] == 1
    led.close()
    # a third start (the re-run died before writing a ledger) still counts, and keeps attempt 1's file
    assert begin_attempt(0, tmp_path) == {"attempt": 3, "replaced": [], "sandboxes_reaped": 0}
    assert (tmp_path / "stress-shard0.attempt1.db").exists()
