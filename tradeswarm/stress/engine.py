"""The stress engine: drive N tasks through a coordinator, account for every one, measure.

```python
evidence = await run_stress(coord, spec.stress, recorder=rec, ledger_path=run_dir / "stress.db",
                            seed=7, progress=lambda done, total: ...)
evidence["lost"], evidence["latency"]["stress_task"]["p99"]
```

`coordinator` is anything with the contract's `execute(Task) -> TaskOutcome` and
`consensus(symbol=, end=, k=) -> Decision` (docs/contracts.md §4). Given the real
`Coordinator`, the fault levers and sandbox metrics default to its swarm's
(`tradeswarm.stress.swarm.SwarmTarget`); `fault_target` / `sandbox_metrics` override them.

Latency is timed from each task's *intended* start (`stress_task`; see
`tradeswarm.stress.load`), service time from its actual start (`stress_service`). A task the
coordinator has not answered after `GUARD_FACTOR × task_timeout_s` is recorded `timed_out`
(class `engine_timeout`), so a hung coordinator shows as timeouts, never as missing tasks.
Consensus rounds that end `no_quorum` / `no_votes` are failed tasks (class = the reason); a
HOLD by tie, threshold or veto is a completed decision. Counts come from the ledger.

**Phases.** Without faults the run is one phase, `steady`. With faults it is three, one
after the other: `steady` (`tasks`, nothing injected: the SLA figures: the top-level
`latency` and the samples given to `recorder` are this phase's), `chaos` (`chaos.tasks`, the
faults injected on tasks picked by `tradeswarm.stress.faults.chosen`) and `recovery`
(`chaos.recovery_tasks`, started once the faults have ended and killed agents are replaced).
Each phase's accounting is counted by SQL from the ledger (`phases.<name>`), with its latency,
its outcomes in finish order (`outcomes`: `o` completed, `x` not; the abort rule's replay) and
`p95_all_ms`: the P95 with every task that did not complete counted as never answering (null
when more than 5 % did not; the recovery check judges the recovery phase's). The abort rule is evaluated per phase, so a
fault storm is not diluted by the steady tasks before it.

The engine hands each task id to the coordinator once, so the ledger's `duplicated` can only
catch the engine's own bugs; the coordinator's side of "exactly once" is its counters, and
`swarm` reports their change over the run: `late_answers` (an answer dropped because its task
was already final or moved to another agent, e.g. a re-dispatched task answered twice),
`duplicate_submissions` and `redispatched`.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Protocol

import numpy as np

from tradeswarm.errors import describe
from tradeswarm.stress import load
from tradeswarm.stress.config import StressConfig
from tradeswarm.stress.faults import PER_TASK, FaultPlan, FaultTarget
from tradeswarm.stress.ledger import Ledger
from tradeswarm.stress.resources import ResourceSampler, SandboxMetrics
from tradeswarm.stress.stats import summarize

if TYPE_CHECKING:
    from tradeswarm.latency import LatencyRecorder
    from pydantic import BaseModel

GUARD_FACTOR = 4.0
_FAILED_DECISIONS = ("no_quorum", "no_votes")
SWARM_COUNTERS = ("late_answers", "duplicate_submissions", "redispatched")

Progress = Callable[[int, int], None]


class Swarm(Protocol):
    """What the stress engine drives: a `tradeswarm.swarm.Coordinator`, or a stand-in that
    answers tasks and consensus rounds (a coordinator with a sandbox manager also gets its
    faults injected, see `_swarm_target`)."""

    async def execute(self, task: Any) -> Any: ...

    async def consensus(self, symbol: str, end: str | None = None, k: int = 3) -> Any: ...


def _default_task_factory(**fields: Any) -> Any:
    from tradeswarm.swarm.task import Task

    return Task(**fields)


def _swarm_target(coordinator: Swarm) -> FaultTarget | None:
    """The fault levers of a real `Coordinator` (one with a sandbox manager), else None."""
    mgr = getattr(coordinator, "mgr", None)
    if mgr is None or not hasattr(coordinator, "sandbox_ids"):
        return None
    from tradeswarm.stress.swarm import SwarmTarget

    return SwarmTarget(coordinator, mgr, mgr.settings)


def _swarm_counters(coordinator: Swarm) -> dict[str, int] | None:
    """The coordinator's exactly-once counters now, or None for one without `evidence()`."""
    evidence = getattr(coordinator, "evidence", None)
    if evidence is None:
        return None
    tasks = evidence()["tasks"]
    return {k: int(tasks[k]) for k in SWARM_COUNTERS}


def _mean(xs: list[float]) -> float | None:
    return round(float(np.mean(xs)), 3) if xs else None


def _p95(xs: list[float]) -> float | None:
    return round(float(np.percentile(xs, 95)), 3) if xs else None


def _compare(affected: list[dict], baseline: list[dict]) -> dict:
    """What a fault cost: retries, failures and latency of affected vs baseline tasks."""
    lat_a = [r["latency_ms"] for r in affected]
    lat_b = [r["latency_ms"] for r in baseline]
    mean_a, mean_b = _mean(lat_a), _mean(lat_b)
    return {"tasks_affected": len(affected),
            "retries": sum(max(0, (r["attempts"] or 1) - 1) for r in affected),
            "failed": sum(r["state"] == "failed" for r in affected),
            "timed_out": sum(r["state"] == "timed_out" for r in affected),
            "mean_latency_ms": mean_a, "baseline_mean_latency_ms": mean_b,
            "p95_latency_ms": _p95(lat_a), "baseline_p95_latency_ms": _p95(lat_b),
            "extra_latency_ms": (round(mean_a - mean_b, 3)
                                 if mean_a is not None and mean_b is not None else None)}


def fault_costs(records: list[dict], plan: FaultPlan) -> list[dict]:
    """Each injected fault with its cost among the chaos phase's tasks: per-task faults =
    the tasks they picked vs the others; event faults = tasks submitted after vs before; a
    fault armed before the swarm deployed affects no task (its cost, the deploy's retries and
    seconds, is in `detail.provisioning`). A kill's `detail.in_flight` (the tasks stranded on
    the killed sandboxes) gets their final states in `detail.stranded`."""
    chaos = [r for r in records if r["phase"] == "chaos"]
    out = []
    for rec in plan.records:
        kind, detail = rec["kind"], rec["detail"]
        if kind in PER_TASK:
            picked = set(rec["tasks"])
            split = [r["key"] in picked for r in chaos]
        else:
            at = rec["t_s"] if rec["t_s"] is not None else float("inf")
            split = [r["chaos_s"] >= at for r in chaos]
        if "provisioning" in detail:  # armed before deploy: its cost is in the deploy, not in tasks
            split = [False] * len(chaos)
        if kind == "kill-sandbox" and "in_flight" in detail:
            # a stranded task answer-fail picked is meant to fail wherever it runs: left out
            meant_to_fail = {t for r in plan.records if r["kind"] == "answer-fail" for t in r["tasks"]}
            stranded = [r for r in records if r["id"] in set(detail["in_flight"])]
            states = Counter(r["state"] for r in stranded if r["key"] not in meant_to_fail)
            detail["stranded"] = {"tasks": sum(states.values()),
                                  **{k: states.get(k, 0) for k in ("completed", "failed", "timed_out")},
                                  "meant_to_fail": sum(r["key"] in meant_to_fail for r in stranded)}
        affected = [r for r, s in zip(chaos, split) if s]
        baseline = [r for r, s in zip(chaos, split) if not s]
        out.append({"kind": kind, "params": rec["params"], "injected": rec["injected"],
                    "at_s": rec["t_s"], **{k: rec[k] for k in ("tasks", "at_task") if k in rec},
                    "detail": detail, "cost": _compare(affected, baseline)})
    return out


def accounting(counts: dict[str, int], duration_s: float) -> dict:
    """The evidence's counting keys from ledger counts: states, rates, throughput."""
    finals = counts["completed"] + counts["failed"] + counts["timed_out"]
    return {
        **{k: counts[k] for k in ("submitted", "completed", "failed", "timed_out", "lost",
                                  "duplicated", "not_submitted", "orphaned")},
        "duration_s": round(duration_s, 3),
        "throughput_per_s": round(finals / duration_s, 2) if duration_s > 0 else None,
        "success_rate": round(counts["completed"] / counts["submitted"], 4) if counts["submitted"] else None,
        "error_rate": round((finals - counts["completed"]) / finals, 4) if finals else None,
    }


def error_rates(errors_by_class: dict[str, int], counts: dict[str, int]) -> dict[str, float]:
    """Each error class's share of the tasks that reached a final state (beside the counts)."""
    finals = counts["completed"] + counts["failed"] + counts["timed_out"]
    return {k: round(n / finals, 4) for k, n in errors_by_class.items()} if finals else {}


def _series(finish_s: list[float]) -> list[list[int]]:
    """Completed-or-failed tasks per whole second of the run: [[t_s, n], ...], gaps as zeros."""
    if not finish_s:
        return []
    counts = Counter(int(t) for t in finish_s)
    return [[t, counts.get(t, 0)] for t in range(max(counts) + 1)]


def _p95_all(records: list[dict]) -> float | None:
    """P95 latency with each task that did not complete counted as never answering: None
    when more than 5 % did not complete (or there were none)."""
    lat = sorted(r["latency_ms"] if r["state"] == "completed" else float("inf") for r in records)
    if not lat:
        return None
    p95 = float(np.percentile(lat, 95, method="higher"))
    return round(p95, 3) if p95 != float("inf") else None


def phase_plan(cfg: StressConfig) -> list[tuple[str, int]]:
    """The run's phases and their task counts: steady alone, or steady, chaos, recovery.

    >>> phase_plan(StressConfig(tasks=10, faults=["answer-fail=0.1"], chaos={"tasks": 4, "recovery_tasks": 3}))
    [('steady', 10), ('chaos', 4), ('recovery', 3)]
    """
    if not cfg.faults:
        return [("steady", cfg.tasks)]
    return [("steady", cfg.tasks), ("chaos", cfg.chaos.tasks), ("recovery", cfg.chaos.recovery_tasks)]


def _phase_evidence(name: str, counts: dict, duration_s: float, records: list[dict],
                    seed: int) -> dict:
    """One phase: its ledger accounting, latency summaries and outcomes in finish order."""
    mine = sorted((r for r in records if r["phase"] == name), key=lambda r: r["finished_s"])
    out = {**accounting(counts, duration_s),
           "latency": {op: summarize(samples, seed=seed) for op, samples in _latencies(mine).items()},
           "outcomes": "".join("o" if r["state"] == "completed" else "x" for r in mine),
           "p95_all_ms": _p95_all(mine)}
    return out


def _latencies(records: list[dict]) -> dict[str, list[float]]:
    return {"stress_task": [r["latency_ms"] for r in records],
            "stress_service": [r["service_ms"] for r in records],
            "stress_signal": [r["latency_ms"] for r in records if r["kind"] == "signal"],
            "stress_consensus": [r["latency_ms"] for r in records if r["kind"] == "consensus"]}


async def run_stress(coordinator: Swarm, spec_stress: StressConfig | BaseModel | Mapping[str, Any], *,
                     recorder: LatencyRecorder | None = None,
                     ledger_path: str | Path, seed: int = 0, progress: Progress | None = None,
                     fault_target: FaultTarget | None = None,
                     sandbox_metrics: SandboxMetrics | None = None,
                     task_factory: Callable[..., Any] | None = None,
                     id_prefix: str | None = None) -> dict:
    """Run the stress test and return the contract's `stress` evidence plus `latency`
    summaries (`stress_task`, `stress_service`, `stress_signal`, `stress_consensus`) of the
    steady-state phase and `phases` (see the module's docstring)."""
    cfg = StressConfig.of(spec_stress)
    if fault_target is None:
        fault_target = _swarm_target(coordinator)
    if sandbox_metrics is None and fault_target is not None:
        sandbox_metrics = getattr(fault_target, "sandbox_metrics", None)
    make_task = task_factory or _default_task_factory
    phases = phase_plan(cfg)
    n = sum(count for _, count in phases)
    rng = np.random.default_rng(seed)
    kinds = np.where(rng.random(n) < cfg.consensus_share, "consensus", "signal")
    symbols = [cfg.symbols[j] for j in rng.integers(0, len(cfg.symbols), n)]
    # A task's key is its number in the run (what the fault dice hash); its id adds a per-run
    # nonce by default: the coordinator answers a known task id from its cache, so a second
    # run reusing ids on the same swarm would measure nothing.
    keys = [f"{id_prefix or ''}{i:06d}" for i in range(n)]
    prefix = id_prefix if id_prefix is not None else f"r{uuid.uuid4().hex[:8]}-"
    ids = [f"{prefix}{i:06d}" for i in range(n)]
    chaos_n = dict(phases).get("chaos", 0)
    plan = FaultPlan(cfg.faults, fault_target, chaos_n, seed)
    guard_s = GUARD_FACTOR * cfg.task_timeout_s

    if Path(ledger_path).exists():  # appending to an old run's ledger would forge duplicates
        raise FileExistsError(f"ledger {ledger_path} already exists: use a fresh run directory")
    ledger = Ledger(ledger_path)
    ledger.set_meta(config=cfg.model_dump(), seed=seed, status="running", started_at=time.time(),
                    phases=[name for name, _ in phases])
    first = 0
    for name, count in phases:
        ledger.plan(ids[first:first + count], phase=name)
        first += count

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    records: list[dict] = []
    per_agent: Counter = Counter()
    state = {"finished": 0, "abort_reason": None, "chaos_t0": 0.0}
    phase_state: dict[str, dict] = {}
    t_start = loop.time()
    wall_offset = time.time() - t_start

    async def one(i: int, intended: float, phase: str) -> None:
        kind, key, ph = str(kinds[i]), keys[i], phase_state[phase]
        ledger.submitted(ids[i], kind, intended + wall_offset)
        ph["submitted"] += 1
        delay, fail = 0.0, False
        if phase == "chaos":
            plan.on_submitted(ph["submitted"], key)
            delay = plan.delay_ms(key)
            fail = kind == "signal" and plan.fails(key)
        started = loop.time()
        agents, attempts, error = [], 1, None
        try:
            if kind == "signal":
                extra = {"fail": True} if fail else {}
                task = make_task(id=ids[i], symbol=symbols[i], end=cfg.end, window=cfg.window,
                                 delay_ms=delay, **extra)
                out = await asyncio.wait_for(coordinator.execute(task), guard_s)
                status, attempts, error = out.status, out.attempts, out.error_class
                agents = [out.agent_id] if out.agent_id else []
            else:
                if delay:  # the round starts late: its latency carries the delay like a signal's
                    await asyncio.sleep(delay / 1000.0)
                dec = await asyncio.wait_for(
                    coordinator.consensus(symbol=symbols[i], end=cfg.end, k=cfg.consensus_k),
                    guard_s)
                status = "failed" if dec.reason in _FAILED_DECISIONS else "completed"
                error = dec.reason if status == "failed" else None
                agents = [v.agent_id for v in dec.votes]
        except asyncio.TimeoutError:
            status, error = "timed_out", "engine_timeout"
        except Exception as e:  # a coordinator error is this task's failure, not the run's
            status, error = "failed", type(e).__name__
        end = loop.time()
        latency_ms, service_ms = (end - intended) * 1000.0, (end - started) * 1000.0
        ledger.finished(ids[i], status, agent_id=",".join(agents) or None, attempts=attempts,
                        latency_ms=latency_ms, service_ms=service_ms, error_class=error)
        per_agent.update(agents)
        records.append({"id": ids[i], "key": key, "phase": phase, "kind": kind, "state": status,
                        "latency_ms": latency_ms, "service_ms": service_ms, "attempts": attempts,
                        "error_class": error, "delay_ms": delay, "submitted_s": started - t_start,
                        "chaos_s": started - state["chaos_t0"], "finished_s": end - t_start})
        state["finished"] += 1
        ph["finished"] += 1
        ph["errors"] += status != "completed"
        if progress is not None:
            progress(state["finished"], n)
        if cfg.abort is not None and not stop.is_set():
            reason = cfg.abort.check(ph["finished"], ph["errors"])
            if reason:
                state["abort_reason"] = f"{phase} phase: {reason}" if len(phases) > 1 else reason
                stop.set()

    async def run_phase(name: str, count: int, offset: int) -> None:
        phase_state[name] = {"submitted": 0, "finished": 0, "errors": 0}
        ledger.set_meta(phase=name)
        t0 = loop.time()
        submit = lambda j, intended: one(offset + j, intended, name)  # noqa: E731
        if cfg.mode == "open":
            await load.open_loop(count, cfg.rate, submit, stop=stop, max_in_flight=cfg.max_in_flight)
        else:
            await load.closed_loop(count, cfg.concurrency, submit, stop=stop)
        # the load ends here: waiting for a fault's recovery is not throughput
        phase_state[name]["duration_s"] = max(loop.time() - t0, 1e-9)

    try:
        async with ResourceSampler(cfg.sample_interval_s, sandbox_metrics,
                                   cfg.sandbox_sample_interval_s) as sampler:
            swarm_before = _swarm_counters(coordinator)
            try:
                offset = 0
                for name, count in phases:
                    if stop.is_set():  # aborted: the later phases stay unsubmitted
                        break
                    if name == "chaos":
                        state["chaos_t0"] = loop.time() - t_start
                        await plan.start()
                    await run_phase(name, count, offset)
                    if name == "chaos":  # the faults end (kills replaced) before recovery starts
                        await plan.finish()
                    offset += count
            except BaseException:
                plan.cancel()  # Ctrl-C or a crash: no recovery wait on the way out
                raise
        swarm_after = _swarm_counters(coordinator)
        counts = ledger.counts()
        by_phase = {name: ledger.counts(name) for name, _ in phases}
        errors_by_class = ledger.errors_by_class()
        by_kind = ledger.by_kind()
        aborted = state["abort_reason"] is not None
        ledger.set_meta(status="aborted" if aborted else "finished", finished_at=time.time(),
                        abort_reason=state["abort_reason"])
    except BaseException as e:
        # tasks in flight now have no final state: `--inspect` shows them as lost
        ledger.set_meta(status="interrupted", finished_at=time.time(),
                        error=describe(e))
        raise
    finally:
        ledger.close()

    duration_s = sum(p.get("duration_s", 0.0) for p in phase_state.values()) or 1e-9
    steady = _latencies([r for r in records if r["phase"] == "steady"])
    if recorder is not None:  # the SLA's samples: the steady state's alone
        for op, samples in steady.items():
            for ms in samples:
                recorder.record(op, ms)
    return {
        **accounting(counts, duration_s),
        "errors_by_class": errors_by_class,
        "error_rates_by_class": error_rates(errors_by_class, counts),
        "swarm": ({k: swarm_after[k] - swarm_before[k] for k in SWARM_COUNTERS}
                  if swarm_before is not None else None),
        "aborted": aborted,
        "abort_reason": state["abort_reason"],
        "mode": cfg.mode,
        "rate": cfg.rate if cfg.mode == "open" else None,
        "concurrency": cfg.concurrency if cfg.mode == "closed" else None,
        "tasks": n,
        "by_kind": by_kind,
        "retries": sum(max(0, (r["attempts"] or 1) - 1) for r in records),
        "faults": fault_costs(records, plan),
        "phases": {name: _phase_evidence(name, by_phase[name],
                                         phase_state.get(name, {}).get("duration_s", 0.0), records, seed)
                   for name, _ in phases},
        "chaos": cfg.chaos.model_dump() if cfg.faults else None,
        "abort_rule": cfg.abort.model_dump() if cfg.abort is not None else None,
        "throughput_series": _series([r["finished_s"] for r in records]),
        "per_agent": dict(sorted(per_agent.items())),
        "resources": sampler.summary(),
        "latency": {op: summarize(samples, seed=seed) for op, samples in steady.items()},
        "ledger": str(ledger_path),
        "seed": seed,
    }
