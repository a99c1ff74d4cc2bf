"""The stress-test section: accounting, scale-out, phases, latency, faults, abort rule, resources."""

from __future__ import annotations

import json

from reports._format import DASH, code, esc, fmt_generic, fmt_int, fmt_pct, fmt_seconds, table
from reports.sections._common import (
    chart, generic_dict, headers, kv, latency_table, missing, num1, reported, section, text,
)
from reports.sections.agents import AGENT_OPS
from validation.evidence import Fault, Results, StressEvidence

# the stress engine's latencies, timed from each task's intended start (open loop), then the
# coordinator's own per-task latency (docs/contracts.md §4)
STRESS_OPS = ("stress_task", "stress_service", "stress_signal", "stress_consensus", "task")
STRESS_OP = STRESS_OPS[0]  # the one charted
STRESS_PCTS = (("p50", "P50"), ("p90", "P90"), ("p95", "P95"), ("p99", "P99"), ("p999", "P99.9"))
STRESS_ACCOUNTING = ["submitted", "completed", "failed", "timed_out", "lost", "duplicated"]
STRESS_ACCOUNTING_EXTRA = ["not_submitted", "orphaned"]  # shown when the engine reports them
STRESS_FIELDS = [
    ("mode", "load model", text),
    ("rate", "target rate (tasks/s)", fmt_generic),
    ("concurrency", "concurrency", fmt_int),
    ("duration_s", "duration", fmt_seconds),
    ("throughput_per_s", "throughput (tasks/s)", num1),
    ("retries", "retries", fmt_int),
    ("success_rate", "success rate", fmt_pct),
    ("error_rate", "error rate", fmt_pct),
]
PHASE_COLUMNS = [
    ("submitted", "submitted", fmt_int),
    ("completed", "completed", fmt_int),
    ("failed", "failed", fmt_int),
    ("timed_out", "timed out", fmt_int),
    ("lost", "lost", fmt_int),
    ("success_rate", "success rate", fmt_pct),
    ("throughput_per_s", "tasks/s", num1),
    ("p95_all_ms", "P95 ms (a task not completed counts as never answered)", num1),
]


def _fault_tasks(f: Fault) -> str:
    """The tasks a fault was injected on: how many it picked, or the task it fired at."""
    if f.tasks is not None:
        return fmt_int(len(f.tasks))
    return f"at task {code(f.at_task)}" if f.at_task else DASH


def _faults(st: StressEvidence) -> str:
    if not st.faults:
        return "### Faults injected\n\nNone were injected in this run."
    rows = (
        [code(f.kind or "?"), generic_dict(f.params), fmt_seconds(f.at_s), fmt_generic(f.injected), _fault_tasks(f),
         generic_dict(f.cost)]
        for f in st.faults
    )
    return (
        "### Faults injected\n\nIn the chaos phase only; the tasks each fault picked are a function of the run's seed. "
        "What each fault cost compares the tasks it affected with the others.\n\n"
        + table(["fault", "parameters", "at", "injected", "tasks", "what it cost"], rows, "llrlrl")
    )


def _phases(st: StressEvidence) -> str | None:
    if not st.phases:
        return None
    rows = ([code(name)] + [fmt(getattr(p, k)) for k, _, fmt in PHASE_COLUMNS] for name, p in st.phases.items())
    return ("### Phases\n\nThe SLA is judged on `steady` (nothing injected); faults are injected in `chaos` "
            "only; `recovery` starts once they have ended.\n\n"
            + table(["phase"] + headers(PHASE_COLUMNS), rows, "l" + "r" * len(PHASE_COLUMNS)))


def _named_counts(title: str, counts: dict[str, int], header: str, empty: str | None) -> str | None:
    if counts:
        return f"### {title}\n\n" + table([header, "tasks"], ([code(k), fmt_int(v)] for k, v in counts.items()), "lr")
    return f"### {title}\n\n{empty}" if empty else None


def _shards(st: StressEvidence) -> str | None:
    """What a run on Dask shards went through: attempts, dead attempts replaced, sandboxes."""
    if not st.has("shards"):
        return None
    boxes = st.shard_sandboxes
    rows = [[esc(str(r.shard)), fmt_int(r.attempt), esc(str(r.status)), fmt_int(r.submitted), fmt_int(r.completed),
             fmt_int(r.lost)] for r in st.replaced_attempts]
    head = (f"{fmt_int(st.shards)} shards on Dask; attempts per shard: "
            f"{esc(json.dumps(st.shard_attempts))}. Sandboxes of the shards: created "
            f"{fmt_int(boxes.created)}, killed {fmt_int(boxes.killed)}, killed after their "
            f"worker died {fmt_int(boxes.reaped)}, leaked (asked of the provider) {fmt_int(boxes.leaked)}.")
    if rows:
        head += ("\n\nAttempts replaced (their partial ledgers kept aside, not counted above):\n\n"
                 + table(["shard", "attempt", "status", "submitted", "completed", "in flight when it died"],
                         rows, "rrlrrr"))
    return "### Scale-out\n\n" + head


def _resources(st: StressEvidence) -> str | None:
    """Resource use per place measured: the coordinator's, and each sandbox's on its own row."""
    r = st.resources
    shown = [("coordinator", r.coordinator)] if r.coordinator is not None else []
    shown += [(f"sandboxes {k}", x) for k, x in r.sandboxes.items()] or ([("sandboxes", {})] if r.has("sandboxes") else [])
    if not shown:
        return None
    return "### Resources\n\n" + table(["where", "measured"], ([esc(k), generic_dict(v)] for k, v in shown), "ll")


def stress(results: Results, charts: set[str]) -> str:
    st = results.stress
    if not reported(st):
        return section("Stress test", missing("stress test"))
    keys = STRESS_ACCOUNTING + [k for k in STRESS_ACCOUNTING_EXTRA if st.has(k)]
    accounting = table([k.replace("_", " ") for k in keys], [[fmt_int(getattr(st, k)) for k in keys]], "r" * len(keys))
    lat = latency_table(results, STRESS_OPS, pcts=STRESS_PCTS)
    shown = {*STRESS_OPS, *AGENT_OPS}
    others = sorted(op for op in results.latency if op not in shown and not op.startswith("sandbox_"))
    other_lat = latency_table(results, others)
    if not st.has("aborted"):
        abort = missing("abort rule")
    elif st.aborted:
        abort = f"✗ The run was aborted early: {esc(st.abort_reason or 'no reason recorded')}."
    else:
        abort = "The abort rule did not fire."
    return section(
        "Stress test",
        "### Accounting\n\nEvery task ends in exactly one final state.\n\n" + accounting,
        _shards(st),
        kv(st, STRESS_FIELDS),
        _phases(st),
        "### Task latency\n\n"
        + (
            "`stress_*` are the steady-state phase's, timed from each task's intended start (open loop, no coordinated omission); "
            "`task` is the coordinator's own time per task.\n\n" + lat
            if lat
            else missing("task latency")
        ),
        "### Other measured latencies\n\n" + other_lat if other_lat else None,
        chart(charts, "stress_latency.png", "task latency histogram and CDF"),
        chart(charts, "stress_throughput.png", "throughput over time"),
        _named_counts("Errors by class", st.errors_by_class, "error class", "No task failed with an error."),
        _faults(st),
        "### Abort rule\n\n" + abort,
        _named_counts("Load per agent", st.per_agent, "agent", None),
        _resources(st),
    )
