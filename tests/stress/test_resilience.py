"""Reproducible faults and the resilience checks, on real runs through the swarm and sandboxd.

The same seed must inject the same faults (the same tasks per fault kind); another seed other
tasks. Each resilience check (validation.checks: `rel.chaos.final_states`,
`rel.chaos.redispatch`, `rel.chaos.recovery_latency`, `rel.stress.abort_rule`) is judged on
a run where the swarm recovers (it passes) and on runs where it cannot: agents killed from
outside faster than the coordinator replaces them, and sandboxd itself killed mid-chaos.
"""

from __future__ import annotations

import pytest

from tests.stress._swarm import agent_killer, assert_exact, sandboxd_killer, stress
from tradeswarm.stress.ledger import Ledger
from validation import load_spec
from validation.checks import Loaded, reliability_checks

pytestmark = pytest.mark.slow
CHAOS = {"tasks": 120, "recovery_tasks": 30}
FAULTS = ["kill-sandbox=1@0.3", "answer-fail=0.15", "latency=0.1:30"]
RESILIENCE = ("rel.chaos.final_states", "rel.chaos.redispatch", "rel.chaos.recovery_latency",
              "rel.stress.abort_rule")


def judged(ev: dict, *, abort_error_rate: float = 0.5, kill: int = 1) -> dict:
    """The reliability checks of the smoke spec, with this run's phases and faults."""
    faults = {"kill_sandboxes": kill, "fail_rate": 0.15, "latency_ms": 30, "latency_fraction": 0.1, **CHAOS}
    spec = load_spec("smoke", overrides={"stress": {"tasks": 30, "faults": faults,
                                                    "abort": {"error_rate": abort_error_rate, "warmup_tasks": 20}}})
    checks = reliability_checks(spec, Loaded.of({"stress": ev, "latency": ev["latency"]}))
    return {c.id: c for c in checks}


def faulted(ev: dict) -> dict:
    """What each fault was injected on: the tasks it picked, or the task it fired at."""
    return {f["kind"]: f.get("tasks", f.get("at_task")) for f in ev["faults"]}


@pytest.fixture(scope="module")
def seeded(sandbox_settings, tmp_path_factory):
    """Three runs with the same faults: seed 7 twice, seed 8 once."""
    tmp = tmp_path_factory.mktemp("seeded")
    return [stress(sandbox_settings, tmp, name, seed=seed, tasks=30, faults=FAULTS, chaos=CHAOS,
                   consensus_share=0.0)[0]
            for name, seed in (("a", 7), ("b", 7), ("c", 8))]


def test_two_runs_of_the_same_seed_inject_the_same_faults_and_another_seed_others(seeded):
    a, b, c = seeded
    assert faulted(a) == faulted(b)
    assert faulted(a)["kill-sandbox"] == "000065"  # 0.3 × 120 chaos tasks after 30 steady ones
    assert len(faulted(a)["answer-fail"]) >= 5 and len(faulted(a)["latency"]) >= 5
    assert faulted(c)["answer-fail"] != faulted(a)["answer-fail"]
    assert faulted(c)["latency"] != faulted(a)["latency"]

    def injected(ev) -> list[str]:  # from the ledger: the tasks whose agent answered an injected error
        with Ledger.open_existing(ev["ledger"]) as led:
            rows = led._db.execute("SELECT task_id FROM outcomes WHERE error_class = 'InjectedFault'")
            return sorted(r[0].rsplit("-", 1)[1] for r in rows)

    # whichever agent served them and in whatever order they finished, the same tasks failed
    assert injected(a) == injected(b) == faulted(a)["answer-fail"] != injected(c)


def test_the_resilience_checks_pass_when_a_killed_agent_is_replaced(seeded):
    for ev in seeded:
        assert_exact(ev)
        checks = judged(ev)
        assert {cid: checks[cid].status for cid in RESILIENCE} == dict.fromkeys(RESILIENCE, "pass"), \
            {cid: checks[cid].details for cid in RESILIENCE}
        assert checks["rel.chaos.redispatch"].details["stranded"] >= 1


def test_agents_killed_faster_than_they_are_replaced_fail_redispatch_and_recovery(sandbox_settings, tmp_path):
    # the engine's own abort rule is off (1.0 never fires), so the recovery phase runs
    ev, swarm = stress(sandbox_settings, tmp_path, "storm", tasks=30, faults=FAULTS, chaos=CHAOS,
                       consensus_share=0.0, abort={"error_rate": 1.0, "warmup_tasks": 20},
                       during=agent_killer())
    assert_exact(ev)
    # every agent lost, and its replacements killed while they deployed
    assert swarm["agents"]["lost"] == 3 and swarm["agents"]["replace_failures"] >= 1, swarm["agents"]
    checks = judged(ev, abort_error_rate=1.0)
    # when the storm has already killed every agent, the spec's own kill finds none to kill: no
    # re-dispatch to show, nodata, which blocks like a failure (missing evidence is never a pass)
    assert checks["rel.chaos.redispatch"].status in ("fail", "nodata"), checks["rel.chaos.redispatch"].details
    recovery = checks["rel.chaos.recovery_latency"]
    assert recovery.status == "fail" and "did not complete" in recovery.details["reason"]
    assert checks["rel.chaos.final_states"].status == "pass"  # failed, but each exactly once
    assert checks["rel.stress.abort_rule"].status == "pass"  # the rule the run had never fires
    # judged by a spec whose rule is 50 %: the storm crossed it and the run went on
    strict = judged(ev, abort_error_rate=0.5)["rel.stress.abort_rule"]
    assert strict.status == "fail" and strict.details["should_fire"] and not strict.details["fired"]


@pytest.fixture
def own_sandboxd(tmp_path):
    """A sandboxd of this test's own: it is going to be killed."""
    from tradeswarm.sandbox.sandboxd import daemon
    from tradeswarm.settings import Settings

    state = tmp_path / "state"
    daemon.start(state)
    try:
        yield Settings(TRADESWARM_STATE_DIR=str(state), E2B_API_KEY=None), state
    finally:
        daemon.stop(state)


def test_sandboxd_killed_during_the_chaos_phase_fails_the_resilience_checks(own_sandboxd, tmp_path):
    settings, state = own_sandboxd
    ev, _ = stress(settings, tmp_path, "no-server", tasks=30, faults=FAULTS, chaos=CHAOS,
                   consensus_share=0.0, abort={"error_rate": 1.0, "warmup_tasks": 20},
                   during=sandboxd_killer(state), check_leaks=False)
    assert_exact(ev)
    checks = judged(ev, abort_error_rate=1.0)
    statuses = {cid: checks[cid].status for cid in (*RESILIENCE, "rel.faults.kill_sandboxes")}
    assert statuses["rel.chaos.recovery_latency"] == "fail", checks["rel.chaos.recovery_latency"].details
    assert statuses["rel.chaos.redispatch"] in ("fail", "nodata"), checks["rel.chaos.redispatch"].details
    assert statuses["rel.chaos.final_states"] == "pass", statuses
