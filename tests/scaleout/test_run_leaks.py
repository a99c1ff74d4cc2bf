"""Leaks counted from the provider by the run's label, not from a manager's memory.

Issue 14: a shard whose worker died left its sandboxes alive (1 h lifetime) while the report
said 0 leaked — the count came from managers that died with the worker.
"""

from __future__ import annotations

import pytest
from e2b import Sandbox

from tradeswarm.sandbox.runlabel import alive, reap, run_labels, shard_labels


def _orphan(sandboxd, labels: dict) -> str:
    """A sandbox no live manager knows of, as a killed worker's shard leaves it."""
    return Sandbox.create("base", metadata=labels, timeout=600, **sandboxd.sdk_params).sandbox_id


def test_the_run_finds_and_kills_its_own_sandboxes_and_no_other_runs(sandboxd):
    mine, shard, other = (_orphan(sandboxd, labels) for labels in
                          (run_labels("run-a"), shard_labels("run-a", shard=1), run_labels("run-b")))
    try:
        assert alive(sandboxd.settings, shard_labels("run-a", shard=1)) == [shard]
        assert alive(sandboxd.settings, shard_labels("run-a")) == [shard]  # not the run's main swarm
        assert reap(sandboxd.settings, run_labels("run-a")) == sorted([mine, shard])
        assert alive(sandboxd.settings, run_labels("run-a")) == []
        assert alive(sandboxd.settings, run_labels("run-b")) == [other]  # another run's: untouched
    finally:
        Sandbox.kill(other, **sandboxd.sdk_params)


@pytest.mark.slow
def test_a_dead_shards_sandbox_is_killed_at_the_runs_end_and_counted_as_leaked(sandboxd, prefect_api, tmp_path):
    from flows.stress import run_stress_flow

    spec = {"tasks": 40, "rate": 80, "symbols": ["SYN1"], "consensus_share": 0.0}
    swarm = {"agents": 1, "symbols": ["SYN1"]}
    clean = run_stress_flow(spec, shards=1, swarm=swarm, run_dir=str(tmp_path / "a"), run_id="leak-a")
    assert clean["shard_sandboxes"]["leaked"] == 0
    # shard 7 of run leak-b died on a worker: nothing in this process remembers its sandbox
    left = _orphan(sandboxd, shard_labels("leak-b", shard=7))
    # regression: the stress sweep killed the certification's main swarm (same run id), still
    # running for the trade stage, and counted its 3 agents as leaked
    main = _orphan(sandboxd, run_labels("leak-b"))
    try:
        leaky = run_stress_flow(spec, shards=1, swarm=swarm, run_dir=str(tmp_path / "b"), run_id="leak-b")
        assert leaky["shard_sandboxes"]["leaked"] == 1
        assert leaky["lost"] == 0 and leaky["submitted"] == 40
        assert left not in alive(sandboxd.settings, {})
        assert alive(sandboxd.settings, run_labels("leak-b")) == [main]
    finally:
        Sandbox.kill(main, **sandboxd.sdk_params)
