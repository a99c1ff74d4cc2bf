"""The `stress` command: drive N tasks through a freshly deployed swarm, with exact accounting."""

from __future__ import annotations

from pathlib import Path

import click

from tradeswarm.cli._common import UsageError, check_writable, command, emit, json_option, table

_COUNT_COLUMNS = ("submitted", "completed", "failed", "timed_out", "lost", "duplicated",
                  "not_submitted")


def _render(ev: dict) -> str:
    lines = [table([{k: ev[k] for k in _COUNT_COLUMNS}])]
    lines.append(f"\nmode {ev['mode']}  "
                 + (f"rate {ev['rate']:g}/s" if ev["mode"] == "open" else f"concurrency {ev['concurrency']}")
                 + f"  duration {ev['duration_s']:.2f} s  throughput {ev['throughput_per_s']:.1f} tasks/s"
                 f"  success {ev['success_rate']}  errors {ev['errors_by_class'] or 'none'}"
                 f"  error rates {ev['error_rates_by_class'] or 'none'}")
    lat = [{"op": op, **{k: s[k] for k in ("count", "p50", "p95", "p99", "p999", "max")},
            "p99_ci": s["p99_ci"], "insufficient": ",".join(s["insufficient"]) or "-"}
           for op, s in ev["latency"].items() if s["count"]]
    lines += ["", "latency of the steady state (ms, from intended start; stress_service = from actual start)",
              table(lat)]
    if len(ev["phases"]) > 1:
        lines += ["", "phases (faults in chaos only)",
                  table([{"phase": name, **{k: p[k] for k in ("submitted", "completed", "failed", "timed_out",
                                                               "lost", "p95_all_ms")}}
                         for name, p in ev["phases"].items()])]
    if ev["faults"]:
        lines += ["", "faults", table([{"kind": f["kind"], "params": f["params"],
                                         "injected": f["injected"],
                                         "tasks": len(f["tasks"]) if "tasks" in f else f"at {f['at_task']}",
                                         **{k: f["cost"][k] for k in ("tasks_affected", "retries", "failed",
                                                                      "timed_out", "extra_latency_ms")}}
                                        for f in ev["faults"]])]
    for name, res in ([("", ev["resources"])] if "shards" not in ev else
                      [(f"{k} ", r) for k, r in ev["resources"].items()]):
        coord = res["coordinator"]
        lines.append(f"\n{name}coordinator cpu mean {coord['cpu_pct_mean']} %  rss max {coord['mem_mb_max']} MB;"
                     f" sandboxes sampled: {len(res['sandboxes'])}")
    if "shards" in ev:
        boxes = ev["shard_sandboxes"]
        lines.append(f"shards {ev['shards']} (attempts {ev['shard_attempts']}); sandboxes created "
                     f"{boxes['created']}, killed {boxes['killed']}, reaped after a dead attempt "
                     f"{boxes['reaped']}, leaked {boxes['leaked']}")
    if ev["aborted"]:
        lines.append(f"ABORTED: {ev['abort_reason']}")
    lines.append(f"ledger: {ev['ledger']}")
    return "\n".join(lines)


def _inspect(path: str, as_json: bool) -> int:
    import sqlite3

    from tradeswarm.stress.ledger import Ledger

    try:
        with Ledger.open_existing(path) as led:
            doc = {"ledger": path, "counts": led.counts(), "meta": led.meta(),
                   "lost_ids": led.lost_ids(), "duplicated_ids": led.duplicated_ids(),
                   "errors_by_class": led.errors_by_class()}
    except FileNotFoundError as e:
        raise UsageError(str(e)) from None
    except sqlite3.DatabaseError:  # not SQLite, or SQLite without a ledger's tables
        raise UsageError(f"--inspect {path}: not a stress ledger (the stress.db a run writes)") from None
    c = doc["counts"]
    emit(as_json, doc, lambda: "\n".join([
        table([{k: c[k] for k in _COUNT_COLUMNS}]),
        f"status: {doc['meta'].get('status', 'unknown')}",
        f"lost ids: {', '.join(doc['lost_ids']) or 'none'}",
        f"duplicated ids: {', '.join(doc['duplicated_ids']) or 'none'}"]))
    return 0 if c["lost"] == c["duplicated"] == 0 else 1


def _check_inputs(tasks: int, agent_types: tuple[str, ...], symbols: list[str]) -> None:
    """Refuse what the swarm would only fail on after deploying (heavy imports: called, not at import)."""
    from tradeswarm.agents.strategies import STRATEGIES
    from tradeswarm.marketdata import coverage, shipped_symbols
    from validation.spec import MAX_STRESS_TASKS

    if tasks > MAX_STRESS_TASKS:
        raise UsageError(f"--tasks {tasks:,}: at most {MAX_STRESS_TASKS:,}")
    unknown = sorted(set(agent_types) - set(STRATEGIES))
    if unknown:
        raise UsageError(f"--agent-type {', '.join(unknown)}: choose from {', '.join(sorted(STRATEGIES))}")
    if not symbols or any(coverage(s) is None for s in symbols):
        raise UsageError(f"--symbols {','.join(symbols) or '(none)'}: agents serve shipped symbols "
                         f"({', '.join(shipped_symbols())}) or synthetic ones (SYN<n>)")


def _on_dask(cfg, address: str, shards: int, agents: int, types: list[str], symbols: list[str],
             run_dir: Path, seed: int) -> dict:
    """The run as `shards` shards on the Dask scheduler at `address`, without Prefect."""
    from tradeswarm import progress
    from tradeswarm.stress.fanout import record_samples, run_sharded

    if agents < shards:
        raise UsageError(f"--agents {agents}: at least one per shard (--shards {shards})")
    if cfg.consensus_share > 0 and cfg.consensus_k > agents // shards:
        raise UsageError(f"--consensus-k {cfg.consensus_k} exceeds a shard's {agents // shards} agents")
    from tradeswarm.stress.dask_shards import connect

    try:  # before any flow or sandbox: an address without a scheduler is bad input
        connect(address).close()
    except ConnectionError as e:
        raise UsageError(f"--dask {address}: {e}") from None
    swarm = {"agents": agents // shards, "agent_types": types, "symbols": symbols}
    return record_samples(run_sharded(
        cfg.model_dump(mode="json"), shards=shards, swarm=swarm, run_dir=run_dir, seed=seed,
        dask_address=address, on_progress=lambda pct: progress.advance("stress", int(pct), 100)), None)


@command("stress")
@click.option("--tasks", default=1000, show_default=True, type=click.IntRange(1),
              help="Tasks to run (at most 1,000,000: the ledger and the schedule grow with them).")
@click.option("--rate", type=click.FloatRange(min=0, min_open=True), help="Open loop: tasks per second (default 200).")
@click.option("--concurrency", type=click.IntRange(1), help="Closed loop: tasks in flight.")
@click.option("--agents", default=4, show_default=True, type=click.IntRange(1, 64))
@click.option("--agent-type", "agent_types", multiple=True, help="Agent types, used in turn (default: four strategies).")
@click.option("--symbols", default="SPX", show_default=True, help="Comma-separated symbols.")
@click.option("--consensus-share", default=0.1, show_default=True, type=click.FloatRange(0, 1))
@click.option("--consensus-k", default=3, show_default=True, type=click.IntRange(1))
@click.option("--fault", "faults", multiple=True, metavar="KIND=VALUE[@AT]",
              help="kill-sandbox=K, answer-fail=P, latency=F:MS, create-fail=N, rate-limit=S (repeatable); "
                   "create-fail/rate-limit @0 hit the swarm's own deploy. With a fault the N tasks are "
                   "followed by a chaos phase (100 tasks, the faults) and a recovery phase (50).")
@click.option("--abort-error-rate", default=0.5, show_default=True, type=click.FloatRange(0, 1))
@click.option("--warmup", default=50, show_default=True, type=click.IntRange(1))
@click.option("--task-timeout", default=5.0, show_default=True, type=click.FloatRange(min=0, min_open=True))
@click.option("--seed", default=0, show_default=True, type=int,
              help="Seeds the task mix and which tasks the faults pick: the same seed, the same faulted tasks.")
@click.option("--out", type=click.Path(file_okay=False), help="Run directory (default: <state dir>/stress/<time>).")
@click.option("--dask", "dask_address", metavar="ADDRESS",
              help="Run as shards on this Dask scheduler (tcp://host:port), each with its own sub-swarm.")
@click.option("--shards", default=2, show_default=True, type=click.IntRange(1, 64),
              help="With --dask: shards (the tasks and --agents are split over them).")
@click.option("--inspect", "inspect_path", type=click.Path(dir_okay=False), help="Read a ledger (e.g. of a crashed run) and exit.")
@json_option
def stress(tasks, rate, concurrency, agents, agent_types, symbols, consensus_share, consensus_k,
           faults, abort_error_rate, warmup, task_timeout, seed, out, dask_address, shards,
           inspect_path, as_json):
    """Run the stress test: N tasks through a swarm deployed for it on the sandbox server.

    Open loop (`--rate`, the default at 200/s) times each task from its intended start, so
    stalls count; closed loop (`--concurrency`) keeps C tasks in flight. Every task id is
    recorded in a SQLite ledger with its final state; the counts are read back from it.
    Exit 0 when the run finished with nothing lost or duplicated, 1 when it aborted or the
    ledger shows a lost or duplicated task.

    Example: `tradeswarm stress --tasks 200 --rate 100 --fault kill-sandbox=1 --json`;
    `tradeswarm stress --inspect runs/x/stress.db` reads a crashed run's ledger;
    `tradeswarm stress --dask tcp://127.0.0.1:8786 --shards 2 --agents 8` runs 2 shards of
    4 agents on a Dask cluster (a shard whose worker dies runs again; see docs/scale.md).
    """
    if inspect_path:
        return _inspect(inspect_path, as_json)
    if rate is not None and concurrency is not None:
        raise UsageError("--rate and --concurrency are mutually exclusive (open vs closed loop)")
    import asyncio
    import time

    from tradeswarm import progress
    from tradeswarm.atomic import atomic_write_json
    from tradeswarm.settings import Settings
    from tradeswarm.stress.config import StressConfig
    from tradeswarm.stress.engine import run_stress
    from tradeswarm.stress.faults import FaultError, as_faults
    from tradeswarm.stress.swarm import DEFAULT_TYPES, stress_swarm

    sym = [s.strip() for s in symbols.split(",") if s.strip()]
    _check_inputs(tasks, agent_types, sym)
    types = list(agent_types) or list(DEFAULT_TYPES)
    if consensus_share > 0 and consensus_k > agents:
        raise UsageError(f"--consensus-k {consensus_k} exceeds --agents {agents}")
    try:
        cfg = StressConfig(
            tasks=tasks, mode="closed" if concurrency else "open", rate=rate or 200.0,
            concurrency=concurrency or 16, consensus_share=consensus_share,
            consensus_k=consensus_k, symbols=sym, task_timeout_s=task_timeout,
            faults=as_faults(faults), abort={"max_error_rate": abort_error_rate, "warmup": warmup})
    except FaultError as e:
        raise UsageError(str(e)) from None
    if out:
        check_writable(out, "--out", directory=True, room_mb=1 + tasks // 2000)  # ~500 B of ledger per task
    settings = Settings()
    run_dir = Path(out) if out else settings.state_dir / "stress" / time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    if (run_dir / "stress.db").exists():
        raise UsageError(f"{run_dir} already holds a stress ledger: choose a fresh --out")
    run_dir.mkdir(parents=True, exist_ok=True)

    async def go() -> dict:
        from tradeswarm.latency import LatencyRecorder

        rec = LatencyRecorder()
        async with stress_swarm(agents=agents, agent_types=types, symbols=sym, settings=settings,
                                recorder=rec, task_timeout_s=task_timeout, faults=cfg.faults) as target:
            ev = await run_stress(target.coordinator, cfg, recorder=rec,
                                  ledger_path=run_dir / "stress.db", seed=seed,
                                  progress=lambda d, n: progress.advance("stress", d, n),
                                  fault_target=target, sandbox_metrics=target.sandbox_metrics)
            # the coordinator's evidence, with the run's own changes of its exactly-once counters
            ev["swarm"] = {**target.coordinator.evidence(), **(ev["swarm"] or {})}
        return ev

    previous = progress.set_sink(None if as_json else progress.TerminalSink())
    try:
        ev = (_on_dask(cfg, dask_address, shards, agents, types, sym, run_dir, seed)
              if dask_address else asyncio.run(go()))
    finally:
        progress.set_sink(previous)
    if not as_json:
        click.echo("", err=True)  # end the progress line
    atomic_write_json(run_dir / "stress.json", ev)
    emit(as_json, ev, lambda: _render(ev))
    return 1 if ev["aborted"] or ev["lost"] or ev["duplicated"] else 0
