"""The engine's own logic against plain async coordinators that really sleep and really fail.

These pin timing, abort and accounting rules of the engine itself; the accounting under
injected faults through the real swarm is in test_swarm_faults.py.
"""

import asyncio
import time
from types import SimpleNamespace as NS

import pytest

from tradeswarm.latency import LatencyRecorder
from tradeswarm.stress.engine import run_stress
from tradeswarm.stress.ledger import Ledger
from tradeswarm.swarm.task import Task, TaskOutcome


class SleepyCoordinator:
    """Answers after `service_ms`; fails tasks whose number is in `fail_every` multiples."""

    def __init__(self, service_ms=2.0, fail_every=0, stall_at=None, stall_s=0.0, hang=False):
        self.service_ms, self.fail_every = service_ms, fail_every
        self.stall_at, self.stall_s, self.hang = stall_at, stall_s, hang
        self.calls = 0

    async def execute(self, task: Task) -> TaskOutcome:
        self.calls += 1
        n = int(task.id[-6:])
        if n == self.stall_at:
            time.sleep(self.stall_s)  # blocks the event loop: the dispatcher stalls with it
        if self.hang:
            await asyncio.sleep(3600)
        await asyncio.sleep((self.service_ms + task.delay_ms) / 1000.0)
        failed = self.fail_every and n % self.fail_every == 0
        return TaskOutcome(task.id, "failed" if failed else "completed", f"a{n % 4}", 1,
                           self.service_ms, "Boom" if failed else None)

    async def consensus(self, symbol, end, k):
        await asyncio.sleep(self.service_ms / 1000.0)
        return NS(reason="decided", votes=[NS(agent_id=f"a{j}") for j in range(k)])


def run(coord, tmp_path, **cfg):
    cfg = {"consensus_share": 0.0, **cfg}
    return asyncio.run(run_stress(coord, cfg, ledger_path=tmp_path / "l.db", seed=1,
                                  recorder=LatencyRecorder()))


def test_open_loop_latency_from_intended_start_counts_a_dispatcher_stall(tmp_path):
    calm = run(SleepyCoordinator(), tmp_path / "a", tasks=300, rate=500)
    stalled = run(SleepyCoordinator(stall_at=50, stall_s=0.8), tmp_path / "b", tasks=300, rate=500)
    # tasks 51..299 were due 0.1-0.6 s in, but nothing could start before the 0.8 s stall ended:
    # each carries its wait from its intended start (>= 300 ms for most of them)
    assert stalled["latency"]["stress_task"]["p50"] >= 250
    assert stalled["latency"]["stress_task"]["max"] >= 700
    # service time (from actual start) hides the stall: the median task's wait before it could
    # start (intended-start latency minus service time) is the stall's doing. Compared as
    # differences, because a busy shared machine inflates both latencies alike.
    def wait(res):
        return res["latency"]["stress_task"]["p50"] - res["latency"]["stress_service"]["p50"]

    assert wait(stalled) >= 250
    assert wait(calm) < wait(stalled) - 200
    assert stalled["lost"] == 0 and stalled["completed"] == 300


def test_closed_loop_keeps_fixed_concurrency_and_counts_everything(tmp_path):
    coord = SleepyCoordinator(service_ms=5)
    r = run(coord, tmp_path, tasks=200, mode="closed", concurrency=8)
    assert r["mode"] == "closed" and r["concurrency"] == 8 and r["rate"] is None
    assert r["submitted"] == r["completed"] == coord.calls == 200
    # 8 in flight × 5 ms: ~1600/s at best, so 200 tasks take at least 125 ms
    assert r["duration_s"] >= 0.12


def test_abort_rule_fires_on_errors_and_leaves_the_rest_unsubmitted(tmp_path):
    r = run(SleepyCoordinator(fail_every=2), tmp_path, tasks=400, rate=400,
            abort={"error_rate": 0.3, "warmup_tasks": 40})
    assert r["aborted"] and "error rate" in r["abort_reason"] and "warm-up 40" in r["abort_reason"]
    assert r["not_submitted"] > 0
    assert r["submitted"] + r["not_submitted"] == 400
    assert r["lost"] == 0 and r["submitted"] == r["completed"] + r["failed"] + r["timed_out"]
    assert r["errors_by_class"] == {"Boom": r["failed"]}
    finals = r["completed"] + r["failed"] + r["timed_out"]
    assert r["error_rates_by_class"] == {"Boom": round(r["failed"] / finals, 4)}
    meta = Ledger.open_existing(r["ledger"]).meta()
    assert meta["status"] == "aborted" and meta["abort_reason"] == r["abort_reason"]


def test_abort_rule_does_not_fire_without_errors(tmp_path):
    r = run(SleepyCoordinator(), tmp_path, tasks=400, rate=400,
            abort={"error_rate": 0.3, "warmup_tasks": 40})
    assert not r["aborted"] and r["abort_reason"] is None and r["not_submitted"] == 0


def test_a_hung_coordinator_shows_as_timed_out_never_as_lost(tmp_path):
    r = run(SleepyCoordinator(hang=True), tmp_path, tasks=20, rate=200, task_timeout_s=0.05,
            abort=None)
    assert r["timed_out"] == 20 and r["lost"] == 0
    assert r["errors_by_class"] == {"engine_timeout": 20}


def test_a_raising_coordinator_is_a_failed_task_with_its_class(tmp_path):
    class Raising(SleepyCoordinator):
        async def execute(self, task):
            raise ConnectionResetError("gone")

    r = run(Raising(), tmp_path, tasks=30, rate=300, abort=None)
    assert r["failed"] == 30 and r["errors_by_class"] == {"ConnectionResetError": 30}


def test_injected_latency_moves_the_chaos_phase_p95_and_p99_not_the_steady_state(tmp_path):
    base = run(SleepyCoordinator(), tmp_path / "a", tasks=300, rate=600)
    slow = run(SleepyCoordinator(), tmp_path / "b", tasks=100, rate=600,
               faults=["latency=0.15:300"], chaos={"tasks": 300, "recovery_tasks": 20})
    b, s = base["latency"]["stress_task"], slow["phases"]["chaos"]["latency"]["stress_task"]
    # ~45 of 300 chaos tasks waited 300 ms: the top 5 % and 1 % are all delayed ones
    assert s["p95"] >= 300 and s["p99"] >= 300
    assert s["p95"] > b["p95"] + 150 and s["p99"] > b["p99"] + 150
    # the SLA's figures are the steady state's, where nothing was injected
    assert slow["latency"]["stress_task"]["count"] == 100
    assert all("000100" <= k < "000400" for k in slow["faults"][0]["tasks"])  # chaos tasks only
    (fault,) = slow["faults"]
    assert fault["kind"] == "latency" and fault["injected"]
    assert 25 <= fault["cost"]["tasks_affected"] == len(fault["tasks"]) <= 70
    assert fault["cost"]["extra_latency_ms"] >= 250


def test_injected_latency_reaches_consensus_rounds_too(tmp_path):
    cfg = {"tasks": 20, "rate": 600, "consensus_share": 0.5, "consensus_k": 3}
    base = run(SleepyCoordinator(), tmp_path / "a", **{**cfg, "tasks": 300})
    slow = run(SleepyCoordinator(), tmp_path / "b", **cfg, faults=["latency=0.3:300"],
               chaos={"tasks": 300, "recovery_tasks": 20})
    b, s = base["latency"]["stress_consensus"], slow["phases"]["chaos"]["latency"]["stress_consensus"]
    # ~150 rounds, ~45 of them started 300 ms late: the rounds' tail moves, not only signals'
    assert s["count"] >= 100 and s["p95"] >= 300 and s["p99"] >= 300
    assert s["p95"] > b["p95"] + 150 and s["p99"] > b["p99"] + 150
    assert slow["phases"]["chaos"]["latency"]["stress_signal"]["p95"] >= 300
    assert slow["faults"][0]["cost"]["tasks_affected"] > 60  # both kinds are delayed


class CountingCoordinator(SleepyCoordinator):
    """Keeps the real coordinator's exactly-once counters: every 10th task's answer comes
    twice (the second is dropped as a late answer); counts from before the run are there."""

    def __init__(self):
        super().__init__()
        self.counters = {"late_answers": 5, "duplicate_submissions": 1, "redispatched": 2}

    async def execute(self, task):
        out = await super().execute(task)
        self.counters["late_answers"] += int(task.id[-6:]) % 10 == 0
        return out

    def evidence(self):
        return {"tasks": dict(self.counters)}


def test_the_coordinators_exactly_once_counters_over_the_run_are_evidence(tmp_path):
    r = run(CountingCoordinator(), tmp_path / "a", tasks=100, rate=500)
    # the run's own change: 10 late answers, none of the counts from before it
    assert r["swarm"] == {"late_answers": 10, "duplicate_submissions": 0, "redispatched": 0}
    assert r["duplicated"] == 0  # a late answer is not a second final state
    assert run(SleepyCoordinator(), tmp_path / "b", tasks=10, rate=500)["swarm"] is None


def test_mix_of_kinds_and_per_agent_load_and_series(tmp_path):
    r = run(SleepyCoordinator(), tmp_path, tasks=300, rate=600, consensus_share=0.3,
            consensus_k=3)
    assert set(r["by_kind"]) == {"signal", "consensus"}
    assert sum(r["by_kind"].values()) == 300
    assert 50 <= r["by_kind"]["consensus"] <= 130
    assert sum(n for _, n in r["throughput_series"]) == 300
    assert sum(r["per_agent"].values()) == r["by_kind"]["signal"] + 3 * r["by_kind"]["consensus"]
    assert r["latency"]["stress_consensus"]["count"] == r["by_kind"]["consensus"]
    assert r["resources"]["coordinator"]["samples"] >= 1


def test_recorder_receives_the_raw_samples(tmp_path):
    rec = LatencyRecorder()
    asyncio.run(run_stress(SleepyCoordinator(), {"tasks": 50, "rate": 500, "consensus_share": 0},
                           ledger_path=tmp_path / "l.db", recorder=rec))
    assert rec.count("stress_task") == 50 and rec.count("stress_service") == 50


def test_faults_without_a_target_are_refused(tmp_path):
    with pytest.raises(ValueError, match="fault target"):
        run(SleepyCoordinator(), tmp_path, tasks=10, faults=["kill-sandbox=1"])


def test_reusing_a_ledger_is_refused_instead_of_forging_duplicates(tmp_path):
    # Found in a real CLI run: a second run into the same --out counted every id twice.
    run(SleepyCoordinator(), tmp_path, tasks=5, rate=100)
    with pytest.raises(FileExistsError, match="fresh run directory"):
        run(SleepyCoordinator(), tmp_path, tasks=5, rate=100)


def test_task_ids_are_unique_per_run_so_a_caching_coordinator_cannot_replay(tmp_path):
    # Found in a real run: the coordinator answers a known id from its cache, so a second run
    # with the same ids on the same swarm measured 0.3 ms "service times".
    coord = SleepyCoordinator()
    run(coord, tmp_path / "a", tasks=20, rate=500)
    run(coord, tmp_path / "b", tasks=20, rate=500)
    ids = [Ledger.open_existing(tmp_path / d / "l.db")._db.execute(
        "SELECT task_id FROM submissions").fetchall() for d in ("a", "b")]
    assert not set(ids[0]) & set(ids[1])


def test_an_interrupted_run_marks_its_ledger_and_shows_in_flight_tasks_as_lost(tmp_path):
    async def interrupted():
        task = asyncio.create_task(run_stress(
            SleepyCoordinator(service_ms=200), {"tasks": 100, "rate": 200, "consensus_share": 0},
            ledger_path=tmp_path / "l.db"))
        await asyncio.sleep(0.3)
        task.cancel()  # what Ctrl-C does to the CLI's main task
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(interrupted())
    led = Ledger.open_existing(tmp_path / "l.db")
    c = led.counts()
    assert led.meta()["status"] == "interrupted"
    assert c["lost"] > 0 and c["submitted"] == c["completed"] + c["lost"]
    assert c["not_submitted"] == 100 - c["submitted"] > 0


class FlagCoordinator(SleepyCoordinator):
    """Fails exactly the tasks that carry the injected `fail` flag, like a real agent."""

    async def execute(self, task: Task) -> TaskOutcome:
        out = await super().execute(task)
        if task.fail:
            return TaskOutcome(task.id, "failed", out.agent_id, 1, out.latency_ms, "InjectedFault")
        return out


def test_faults_run_in_a_chaos_phase_between_a_steady_state_and_a_recovery(tmp_path):
    rec = LatencyRecorder()
    r = asyncio.run(run_stress(FlagCoordinator(), {"tasks": 60, "rate": 600, "consensus_share": 0,
                                                   "faults": ["answer-fail=0.3", "latency=0.2:80"],
                                                   "chaos": {"tasks": 100, "recovery_tasks": 40}},
                               ledger_path=tmp_path / "l.db", recorder=rec, seed=11))
    phases = r["phases"]
    assert [(n, p["submitted"]) for n, p in phases.items()] == [("steady", 60), ("chaos", 100), ("recovery", 40)]
    # counted by SQL per phase, adding up to the whole run
    assert sum(p["completed"] for p in phases.values()) == r["completed"] and r["submitted"] == 200
    # nothing injected outside the chaos phase: the steady state and the recovery are clean
    fail, delay = r["faults"]
    assert phases["chaos"]["failed"] == len(fail["tasks"]) > 10 and phases["steady"]["failed"] == 0
    assert phases["recovery"]["failed"] == 0 and phases["recovery"]["p95_all_ms"] is not None
    assert all("000060" <= k < "000160" for k in fail["tasks"] + delay["tasks"])
    assert phases["chaos"]["outcomes"].count("x") == len(fail["tasks"])
    # the SLA's figures and samples are the steady state's
    assert r["latency"]["stress_task"]["count"] == rec.count("stress_task") == 60


def test_the_abort_rule_is_per_phase_so_a_clean_steady_state_cannot_dilute_a_fault_storm(tmp_path):
    r = run(FlagCoordinator(), tmp_path, tasks=300, rate=600, faults=["answer-fail=0.8"],
            chaos={"tasks": 100, "recovery_tasks": 20}, abort={"error_rate": 0.5, "warmup_tasks": 20})
    # over the whole run the errors never reach 80 / 400 = 20 %; in the chaos phase they do
    assert r["aborted"] and r["abort_reason"].startswith("chaos phase: error rate")
    assert r["phases"]["recovery"]["submitted"] == 0 and r["not_submitted"] > 20


def test_the_abort_rule_check_fails_on_a_run_whose_engine_had_no_rule(tmp_path):
    from validation import load_spec
    from validation.checks import Loaded, reliability_checks

    faults = {"fail_rate": 0.8, "latency_ms": 0, "latency_fraction": 0, "tasks": 100, "recovery_tasks": 20}
    spec = load_spec("smoke", overrides={"stress": {"tasks": 50, "faults": faults,
                                                    "abort": {"error_rate": 0.5, "warmup_tasks": 20}}})

    def judged(abort):
        r = run(FlagCoordinator(), tmp_path / str(abort), tasks=50, rate=600, faults=["answer-fail=0.8"],
                chaos={"tasks": 100, "recovery_tasks": 20}, abort=abort)
        return next(c for c in reliability_checks(spec, Loaded.of({"stress": r, "latency": r["latency"]}))
                    if c.id == "rel.stress.abort_rule")

    off = judged(None)  # the storm crossed the spec's line and the run went on
    assert off.status == "fail" and off.details["should_fire"] and not off.details["fired"]
    assert judged({"error_rate": 0.5, "warmup_tasks": 20}).status == "pass"
