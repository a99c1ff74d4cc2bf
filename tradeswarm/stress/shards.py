"""Sharded stress runs: each shard drives its own sub-swarm; the ledgers merge into one.

A shard is one Prefect task on the flow's thread pool (`flows/stress.py`), or one plain Dask
task on a cluster (`tradeswarm.stress.dask_shards`), that batches its share of the tasks
internally: `run_shard` deploys a sub-swarm on the sandbox server named by the settings
(env: `E2B_DOMAIN`, `E2B_API_KEY`, ...), runs the engine with shard-unique task ids
(`s<index>-...`) and its own ledger, and tears the sub-swarm down. `merge_shards` copies every
shard ledger into one and counts the merged run by SQL, exactly like a single-process run.
A shard is idempotent: run again (its Dask worker died, or it raised), it first retires its
dead attempt's ledger and kills that attempt's sandboxes (`begin_attempt`), so each task id
ends with one final state, the last attempt's.

Faults are shared out so the run injects what the spec says, not that times the shards:
`kill-sandbox=K` is split like the tasks (each shard kills its share of its own sub-swarm's
sandboxes); the sandbox-server faults go to shard 0 alone, since every shard's sub-swarm
talks to the same server and sandboxd *sets* a fault rather than adding to it; fractions
(`answer-fail`, `latency`) hold in every shard as they are (each shard's task keys carry its
prefix, so the shards' dice pick different tasks).

Phases merge by SQL too (the ledger records each task's phase). A merged phase's `outcomes`
is each shard's, `|`-separated (each shard's engine applied the abort rule to its own), and
its `p95_all_ms` the worst shard's: percentiles do not add up, and the recovery bound must
hold in every shard (a merged phase has no `latency` of its own; the top-level one is the
steady state's, from the merged samples).

>>> split_tasks(1000, 3)
[334, 333, 333]
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

from tradeswarm.stress.config import StressConfig
from tradeswarm.stress.engine import SWARM_COUNTERS, accounting, error_rates
from tradeswarm.stress.faults import SERVER_FAULTS, Fault
from tradeswarm.stress.ledger import Ledger
from tradeswarm.stress.stats import summarize

STRESS_OPS = ("stress_task", "stress_service", "stress_signal", "stress_consensus")


def split_tasks(total: int, shards: int) -> list[int]:
    """`total` tasks over `shards` shards, the remainder going to the first ones."""
    if shards < 1:
        raise ValueError("shards must be >= 1")
    base, extra = divmod(total, shards)
    return [base + (i < extra) for i in range(shards)]


def shard_faults(faults: list[Fault], index: int, shards: int) -> list[Fault]:
    """The shard's share of the run's faults (see the module's docstring)."""
    out = []
    for f in faults:
        if f.kind == "kill-sandbox":
            count = split_tasks(f.params["count"], shards)[index]
            if count:
                out.append(Fault(kind=f.kind, params={**f.params, "count": count}))
        elif f.kind not in SERVER_FAULTS or index == 0:
            out.append(f)
    return out


def shard_config(spec: Any, index: int, shards: int) -> StressConfig:
    """The shard's share of the run: its task counts (each phase's) and faults; rate split
    evenly in open mode."""
    cfg = StressConfig.of(spec)
    share = split_tasks(cfg.tasks, shards)[index]
    chaos = {k: max(split_tasks(getattr(cfg.chaos, k), shards)[index], 1) for k in ("tasks", "recovery_tasks")}
    over: dict[str, Any] = {"tasks": max(share, 1), "faults": shard_faults(cfg.faults, index, shards),
                            "chaos": {**cfg.chaos.model_dump(), **chaos}}
    if cfg.mode == "open":
        over["rate"] = cfg.rate / shards
    else:
        over["concurrency"] = max(1, cfg.concurrency // shards)
    return StressConfig.of(cfg.model_dump(), **over)


def _retire_attempt(ledger: Path) -> dict | None:
    """Move a dead attempt's partial ledger aside (`stress-shard<i>.attempt<k>.db`), kept as
    evidence but never merged; what it had counted. None when this is the first attempt."""
    if not ledger.exists():
        return None
    with Ledger.open_existing(ledger) as led:  # closing checkpoints its WAL into the file
        counts, meta = led.counts(), led.meta()
    k = 1
    while ledger.with_name(f"{ledger.stem}.attempt{k}.db").exists():
        k += 1
    archive = ledger.with_name(f"{ledger.stem}.attempt{k}.db")
    os.replace(ledger, archive)
    for suffix in ("-wal", "-shm"):
        side = Path(f"{ledger}{suffix}")
        if side.exists():
            os.replace(side, Path(f"{archive}{suffix}"))
    return {"attempt": k, "ledger": str(archive), "status": meta.get("status", "unknown"),
            **{key: counts[key] for key in ("submitted", "completed", "failed", "timed_out", "lost")}}


def begin_attempt(index: int, run_dir: str | Path, settings: Any = None,
                  run_id: str | None = None) -> dict:
    """Make shard `index` idempotent before it (re)starts: a previous attempt's ledger is
    retired and its sandboxes still alive (found by the run's labels) are killed.

    A Dask worker that dies mid-shard leaves both behind; its re-run then replaces them, so
    the merged ledger holds one final state per task id (the last attempt's) and nothing is
    appended to a half-written ledger. Attempts are counted in `stress-shard<i>.attempts`
    (one line per start), so one that died before writing its ledger counts too.
    """
    from tradeswarm.sandbox.runlabel import reap, shard_labels

    marks = Path(run_dir) / f"stress-shard{index}.attempts"
    with open(marks, "a") as f:
        f.write(f"{os.getpid()} {time.time():.3f}\n")
    attempt = len(marks.read_text().splitlines())
    retired = _retire_attempt(Path(run_dir) / f"stress-shard{index}.db")
    reaped = reap(settings, shard_labels(run_id, index)) if run_id and attempt > 1 else []
    return {"attempt": attempt, "replaced": [retired] if retired else [],
            "sandboxes_reaped": len(reaped)}


async def run_shard(index: int, shards: int, spec: Any, swarm: dict, run_dir: str | Path,
                    seed: int = 0, run_id: str | None = None) -> dict:
    """Deploy a sub-swarm, run this shard's tasks through it, tear it down; JSON-ready result.

    With `run_id` its sandboxes carry the run's labels (see `tradeswarm.sandbox.runlabel`) and
    a re-run replaces a dead attempt's ledger and sandboxes (`begin_attempt`).
    """
    from tradeswarm.latency import LatencyRecorder
    from tradeswarm.sandbox.runlabel import shard_labels
    from tradeswarm.settings import Settings
    from tradeswarm.stress.engine import run_stress
    from tradeswarm.stress.swarm import stress_swarm

    cfg = shard_config(spec, index, shards)
    ledger = Path(run_dir) / f"stress-shard{index}.db"
    settings = swarm.get("settings") or Settings()
    attempt = await asyncio.to_thread(begin_attempt, index, run_dir, settings, run_id)
    labels = shard_labels(run_id, index) if run_id else None
    rec = LatencyRecorder()
    async with stress_swarm(**{**swarm, "settings": settings}, recorder=rec, labels=labels,
                            task_timeout_s=cfg.task_timeout_s, faults=cfg.faults) as target:
        evidence = await run_stress(target.coordinator, cfg, recorder=rec, ledger_path=ledger,
                                    seed=seed + index, fault_target=target,
                                    sandbox_metrics=target.sandbox_metrics,
                                    id_prefix=f"s{index}-")
    return {"index": index, "pid": os.getpid(), "ledger": str(ledger), "evidence": evidence,
            "samples": {op: rec.samples(op) for op in rec.operations()}, "sandboxes": target.sandboxes,
            **attempt}


def run_shard_sync(index: int, shards: int, spec: Any, swarm: dict, run_dir: str,
                   seed: int = 0, run_id: str | None = None) -> dict:
    """`run_shard` on its own event loop: what a Dask worker or a thread runs (no Prefect)."""
    return asyncio.run(run_shard(index, shards, spec, swarm, run_dir, seed, run_id))


def _merged_phase(name: str, counts: dict, evs: list[dict], seed: int) -> dict:
    """One phase of the merged run: SQL counts, each shard's outcomes, the worst shard's P95."""
    shards = [e["phases"][name] for e in evs]
    p95s = [p.get("p95_all_ms") for p in shards]
    return {**accounting(counts, max(p["duration_s"] for p in shards)),
            "outcomes": "|".join(p["outcomes"] for p in shards),
            "p95_all_ms": None if any(v is None for v in p95s) else max(p95s)}


def merge_shards(results: list[dict], run_dir: str | Path, seed: int = 0) -> dict:
    """One `stress` evidence for the whole run, counted by SQL from the merged ledgers."""
    results = sorted(results, key=lambda r: r["index"])
    path = Path(run_dir) / "stress.db"
    if path.exists():  # a re-run of the merge must not count shards twice
        path.unlink()
    with Ledger(path) as merged:
        merged.merge_from([r["ledger"] for r in results])
        counts = merged.counts()
        names = list(results[0]["evidence"].get("phases") or {})
        by_phase = {name: merged.counts(name) for name in names}
        errors_by_class = merged.errors_by_class()
        by_kind = merged.by_kind()
        merged.set_meta(status="merged", shards=len(results), merged_at=time.time())
    evs = [r["evidence"] for r in results]
    duration = max(e["duration_s"] for e in evs)
    phases = {name: _merged_phase(name, by_phase[name], evs, seed) for name in names}
    series: dict[int, int] = {}
    for e in evs:
        for t, n in e["throughput_series"]:
            series[t] = series.get(t, 0) + n
    samples = {op: [ms for r in results for ms in r["samples"].get(op, [])] for op in STRESS_OPS}
    aborted = [e["abort_reason"] for e in evs if e["aborted"]]
    first = evs[0]
    return {
        **accounting(counts, duration),
        "errors_by_class": errors_by_class,
        "error_rates_by_class": error_rates(errors_by_class, counts),
        "swarm": ({k: sum(e["swarm"][k] for e in evs) for k in SWARM_COUNTERS}
                  if all(e.get("swarm") for e in evs) else None),
        "aborted": bool(aborted),
        "abort_reason": "; ".join(f"shard {i}: {a}" for i, a in enumerate(aborted)) or None,
        "mode": first["mode"],
        "rate": sum(e["rate"] for e in evs) if first["mode"] == "open" else None,
        "concurrency": sum(e["concurrency"] for e in evs) if first["mode"] == "closed" else None,
        "tasks": sum(e["tasks"] for e in evs),
        "by_kind": by_kind,
        "retries": sum(e["retries"] for e in evs),
        "faults": [{**f, "shard": r["index"]} for r in results for f in r["evidence"]["faults"]],
        "phases": phases,
        "chaos": first.get("chaos"),
        "abort_rule": first.get("abort_rule"),
        "throughput_series": [[t, series[t]] for t in sorted(series)],
        "per_agent": {f"s{r['index']}/{a}": n for r in results
                      for a, n in r["evidence"]["per_agent"].items()},
        "resources": {f"shard{r['index']}": r["evidence"]["resources"] for r in results},
        "latency": {op: summarize(v, seed=seed) for op, v in samples.items()},
        "ledger": str(path),
        "shards": len(results),
        "shard_pids": [r["pid"] for r in results],
        # each shard's own sub-swarm sandboxes, counted by its manager after its teardown;
        # `reaped`: a dead attempt's, killed by its re-run (the flow sets `leaked` from the provider)
        "shard_sandboxes": {**{k: None if any(r["sandboxes"][k] is None for r in results)
                               else sum(r["sandboxes"][k] for r in results) for k in ("created", "killed", "leaked")},
                            "reaped": sum(r.get("sandboxes_reaped", 0) for r in results)},
        # a shard run again (its worker died, or it raised) replaced its earlier attempts
        "shard_attempts": {str(r["index"]): r.get("attempt", 1) for r in results},
        "replaced_attempts": [{"shard": r["index"], **a} for r in results for a in r.get("replaced", [])],
        "samples": samples,
        "seed": seed,
    }
