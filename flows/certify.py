"""The certification pipeline: one flow run certifies the trading swarm end to end.

What it does, in order:

1. **provision** — sandboxes through the official `e2b` SDK (E2B's cloud with a key, the local
   sandboxd without): 100 full lifecycles timed (enough for a P99), and each cost
   optimization measured with and without in billed sandbox-seconds (pooling, template
   caching, idle cleanup; batching from the stress test's meter window).
2. **deploy ∥ research** — the spec's agents start as real processes in sandboxes, while in a
   worker thread every dataset passes the great-expectations contract and every strategy is
   backtested (vectorbt, cross-checked by the reference simulator, with validity gates).
3. **parity** — the live agents' answers against the backtests' signal series.
4. **stress** — 1,000 tasks (standard profile) through the live swarm, open-loop, with an
   exact ledger and the spec's injected faults.
5. **trade** — consensus rounds over recent bars into the paper broker, or into Alpaca's paper
   account when Alpaca keys are set.
6. **judge** — every measurement against the spec: checks, scores, readiness, verdict.
7. **report** — report.md, results.json, junit.xml, charts, the runs index, Prefect artifacts.

Why it is shaped this way: every number in the report is measured here, by code that can
fail. A stage that fails does not stop the run: its evidence is missing, which the judge
scores as a failure, and the report says what broke. Every sandbox the run created is killed
when the sandbox manager closes — on success, failure, cancellation and Ctrl-C — and the
leak count is then asked of the provider, not assumed.

Run it: `python -m flows.certify smoke` (or `tradeswarm certify --profile smoke`).
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from prefect import flow

from flows import _runinfo
from tasks import agents as agent_tasks
from tasks import research, sandboxes
from tasks.judging import judge
from tasks.publish import export_metrics, publish, run_state, write_results, write_run
from tradeswarm import progress
from tradeswarm.costmeter import CostMeter
from tradeswarm.latency import LatencyRecorder
from tradeswarm.sandbox.runlabel import reap, run_labels

STAGES = ("provision", "deploy+research", "parity", "stress", "trade", "judge", "report")
RUNS_ROOT = _runinfo.RUNS_ROOT


@dataclass
class Run:
    """What one certification accumulates while it runs."""

    spec: object
    run_id: str
    run_dir: Path
    started: datetime
    recorder: LatencyRecorder = field(default_factory=LatencyRecorder)
    meter: CostMeter = field(default_factory=CostMeter)
    evidence: dict = field(default_factory=dict)
    stages: dict = field(default_factory=dict)
    stage_parts: dict = field(default_factory=dict)  # the parallel branches of deploy+research, timed apart
    errors: dict = field(default_factory=dict)
    side_sandboxes: dict = field(default_factory=dict)  # counters of the optimization probes' manager
    cache: object = None  # research.ResultCache: the research tasks bound to this run's result cache

    async def stage(self, name: str, work) -> object:
        """Run one stage; a failure is recorded as evidence of failure, not raised."""
        index = STAGES.index(name) + 1
        with progress.stage(name, index, len(STAGES)) as info:
            t0 = time.perf_counter()
            try:
                out = await work()
            except Exception as e:  # noqa: BLE001 - a failed stage is a finding, the run goes on
                self.errors[name] = f"{type(e).__name__}: {e}"
                info["detail"] = f"error: {self.errors[name]}"[:200]
                out = None
            finally:
                self.stages[name] = round(time.perf_counter() - t0, 3)
            if isinstance(out, str):
                info["detail"] = out
            return out


def _settings(provider: str, s):
    """The environment's settings `s` for `provider` (the local one never sees an E2B key)."""
    if provider == "e2b" and s.e2b_api_key is None:
        raise ValueError("provider e2b needs E2B_API_KEY")
    return s if provider == "e2b" else s.model_copy(update={"e2b_api_key": None})


def _lifecycle_cycles(spec) -> int:
    """Full sandbox lifecycles the provision stage times: the spec's, and one per sandbox at least."""
    return max(spec.sandboxes.lifecycle_cycles, spec.sandboxes.count)


def _window(spec) -> tuple[str | None, str | None]:
    """The spec's data window as ISO dates (None: from the first bar / to the last)."""
    return tuple(d.isoformat() if d else None for d in (spec.data.start, spec.data.end))


def _research(run: Run) -> tuple[list[dict], list[dict], dict]:
    """Validate every dataset, then backtest every strategy on the datasets that passed."""
    from validation.backtest_validity import warm_up
    from validation.contract import fingerprint

    spec = run.spec
    start, end = _window(spec)
    t0 = time.perf_counter()
    fingerprints, validations, passed = {}, [], set()
    contract = spec.data.contract.model_dump(mode="json")
    for symbol in dict.fromkeys([*spec.data.datasets, *spec.backtest_symbols]):
        try:
            fingerprints[symbol] = fingerprint(research.load(symbol, start, end))
        except ValueError as e:  # tampered file, broken structure: the dataset fails, by name
            validations.append({"dataset": symbol, "rows": None, "expectations": 1, "failed": 1,
                                "failures": [{"expectation": "loadable", "column": None, "unexpected_count": None,
                                              "sample": [str(e)]}]})
            continue
        row = run.cache.validate(symbol, start, end, contract, fingerprints[symbol])
        validations.append(row)
        if row["failed"] == 0:
            passed.add(symbol)
    run.stage_parts["data"] = round(time.perf_counter() - t0, 3)
    t0 = time.perf_counter()
    warm_up()
    backtests, settings = [], spec.backtest_settings()
    for strat in spec.backtest.strategies:
        grid = strat.sweep or strat.params
        for symbol in spec.backtest_symbols:
            if symbol not in passed:  # data that failed its contract is never backtested
                continue
            try:
                backtests.append(run.cache.backtest(symbol, start, end, strat.name, grid, settings,
                                                    fingerprints[symbol]))
            except ValueError as e:
                run.errors[f"backtest {strat.name}/{symbol}"] = str(e)
    run.stage_parts["backtests"] = round(time.perf_counter() - t0, 3)
    return validations, backtests, fingerprints


def _stress_config(spec) -> dict:
    """The spec's stress section plus what the engine needs from elsewhere in the spec."""
    symbols = sorted({s for a in spec.agents if a.type != "risk_manager" for s in a.symbols})
    return {**spec.stress.model_dump(mode="json"), "symbols": symbols, "end": _window(spec)[1]}


def _dask_address(spec) -> str | None:
    return os.environ.get("TRADESWARM_DASK_ADDRESS") or spec.stress.dask_address


def plan_capacity(spec, settings) -> dict:
    """The run's sandboxes (agents, Dask shard agents, probes) planned against the provider's
    cap before anything is created: room made, or `CapacityError` in one line."""
    from tradeswarm.sandbox.capacity import ensure

    return ensure(spec, settings, shards=spec.stress.shards if _dask_address(spec) else 0)


def _stress_on_dask(spec, run: Run, address: str) -> dict:
    """The stress test as shards on a Dask cluster, each with a sub-swarm like the spec's."""
    from flows.stress import run_stress_flow

    cfg = _stress_config(spec)
    agents = [a for a in spec.agents if a.type != "risk_manager"]
    swarm = {"agents": max(1, sum(a.count for a in agents) // spec.stress.shards),
             "agent_types": sorted({a.type for a in agents}), "symbols": cfg["symbols"]}
    return run_stress_flow(cfg, shards=spec.stress.shards, swarm=swarm, run_dir=str(run.run_dir),
                           seed=spec.seed, dask_address=address, run_id=run.run_id,
                           recorder=run.recorder)


async def _optimizations(run: Run, settings) -> dict:
    """The cost-optimization A/Bs, on managers of their own: their deliberately slow "without"
    sides (a workspace built by upload) must not enter the SLA latencies, while their sandboxes
    are still metered and still killed."""
    from tradeswarm.sandbox import SandboxManager

    mgr = SandboxManager(settings=settings, meter=run.meter, keepalive=False, labels=run_labels(run.run_id))
    probed = {}
    try:
        async with mgr:
            probed = await sandboxes.optimizations(mgr, pool_size=run.spec.sandboxes.pool_size)
            return probed
    finally:
        sub = probed.get("sandboxes") or {}  # the A/B sides' own managers
        run.side_sandboxes = {**{k: n + sub.get(k, 0) for k, n in mgr.counters.items()},
                              "leaked": len(await mgr.leaked()) + sub.get("leaked", 0)}


async def _certify(run: Run, settings) -> None:
    """The stages up to judging; the sandbox manager closes (kills everything) on any exit."""
    from tradeswarm.sandbox import SandboxManager
    from tradeswarm.stress import run_stress
    from tradeswarm.stress.swarm import SwarmTarget
    from tradeswarm.swarm import Coordinator

    spec, ev = run.spec, run.evidence
    end = _window(spec)[1]
    agents = [a.model_dump(mode="json") for a in spec.agents]
    n_agents = sum(a["count"] for a in agents)
    mgr = SandboxManager(settings=settings, recorder=run.recorder, meter=run.meter,
                         max_concurrency=spec.sandboxes.max_concurrent,
                         rate_per_s=spec.sandboxes.create_rate_per_s, pool_size=spec.sandboxes.pool_size,
                         labels=run_labels(run.run_id))
    async with mgr:
        try:
            # one cheap call first: an unreachable provider or a refused key ends the run's
            # swarm stages at once (judged on no evidence), not after a hundred retried creates
            await mgr.list(mine_only=True)

            async def provision():
                probe = await sandboxes.lifecycle(mgr, cycles=_lifecycle_cycles(spec),
                                                  concurrency=spec.sandboxes.max_concurrent,
                                                  timeout_s=spec.sandboxes.timeout_s)
                ev["sandboxes"] = probe
                # before the agents take their share of the provider's concurrency cap
                ev["optimizations"] = await _optimizations(run, settings)
                from tasks import mcp as mcp_tasks  # the MCP layer as an assistant uses it: the mcp_call samples

                ev["mcp"] = await mcp_tasks.probe(settings, run.recorder)
                return f"{probe['probes_ok']}/{probe['probes']} lifecycles ok"

            await run.stage("provision", provision)
            coord = Coordinator(mgr, recorder=run.recorder, dispatch="capability", template=spec.sandboxes.template,
                                task_timeout_s=spec.stress.task_timeout_s,
                                max_agents=n_agents + spec.stress.faults.kill_sandboxes + 4,
                                sandbox_timeout_s=spec.sandboxes.timeout_s)
            async with coord:
                async def deploy_and_research():
                    # independent branches: one failing must not cancel the other's evidence
                    async def deploy():
                        t0 = time.perf_counter()
                        try:
                            return await agent_tasks.deploy(coord, agents)
                        finally:
                            run.stage_parts["deploy"] = round(time.perf_counter() - t0, 3)

                    deployed, researched = await asyncio.gather(
                        deploy(), asyncio.to_thread(_research, run), return_exceptions=True)
                    for name, out in (("deploy", deployed), ("research", researched)):
                        if isinstance(out, BaseException):
                            if not isinstance(out, Exception):
                                raise out
                            run.errors[name] = f"{type(out).__name__}: {out}"
                    if not isinstance(deployed, BaseException):
                        ev["deploy_errors"] = deployed["errors"]
                    if not isinstance(researched, BaseException):
                        ev["data_validation"], ev["backtests"], ev["fingerprints"] = researched
                    return f"{len(coord.live())}/{n_agents} agents, {len(ev.get('backtests', []))} backtests"

                await run.stage("deploy+research", deploy_and_research)

                async def parity():
                    ev["parity"] = await agent_tasks.parity(coord, end=end, bars=10, window=spec.stress.window)
                    return f"{sum(r['mismatches'] for r in ev['parity'])} mismatches"

                await run.stage("parity", parity)

                async def stress():
                    address = _dask_address(spec)
                    before = run.meter.snapshot()  # the stress test's own bill: validation.cost
                    if address:  # scale-out: the shards bring their own sub-swarms
                        out = await asyncio.to_thread(_stress_on_dask, spec, run, address)
                    else:
                        target = SwarmTarget(coord, mgr, settings)
                        out = await run_stress(coord, _stress_config(spec), recorder=run.recorder,
                                               ledger_path=run.run_dir / "ledger.sqlite", seed=spec.seed,
                                               progress=lambda done, n: progress.advance("stress", done, n),
                                               fault_target=target, sandbox_metrics=target.sandbox_metrics)
                    ev["stress"] = {**out, "billed": run.meter.since(before)}
                    return (f"{out['completed']}/{out['tasks']} completed (every phase), {out['throughput_per_s']:.0f} tasks/s, "
                            f"lost {out['lost']}, duplicated {out['duplicated']}")

                await run.stage("stress", stress)

                async def trade():
                    from tradeswarm.broker import AlpacaBroker

                    strategies = sorted({a["type"] for a in agents if a["type"] != "risk_manager"})
                    before = coord.evidence()["consensus"]
                    # with Alpaca keys the orders go to Alpaca's paper account (ALPACA_TRADING_URL
                    # overrides the endpoint); without, to the paper broker that fills like the backtests
                    broker = AlpacaBroker(settings) if settings.has_alpaca else None
                    ev["portfolio"] = await agent_tasks.paper_session(
                        coord, strategies, end=end, bars=spec.stress.window // 5,
                        fees=spec.backtest.fees, slippage=spec.backtest.slippage, broker=broker)
                    # The functional consensus check judges rounds held without injected faults;
                    # the stress test's rounds (with faults) are judged by the reliability checks.
                    after = coord.evidence()["consensus"]
                    ev["consensus"] = {k: after[k] - before[k] for k in after} | {
                        "scope": "paper session, no faults injected", "all_rounds": after}
                    return f"{ev['portfolio']['fills']} fills, {ev['portfolio']['decisions']} decisions"

                await run.stage("trade", trade)
                ev["agents"] = coord.evidence()["agents"]
        finally:
            ev["sandboxes"] = {**ev.get("sandboxes", {}), "created": mgr.counters["created"],
                               "create_failures": mgr.counters["create_failures"]}
    side = run.side_sandboxes
    shards = (ev.get("stress") or {}).get("shard_sandboxes", {})  # the Dask shards' sub-swarms
    sb = ev["sandboxes"]
    sb["created"] += side.get("created", 0) + shards.get("created", 0)
    sb["create_failures"] += side.get("create_failures", 0)
    sb["killed"] = mgr.counters["killed"] + side.get("killed", 0) + shards.get("killed", 0)
    # asked of the provider by the run's label (every manager's and every shard's sandboxes,
    # shards on dead workers too): whatever is still alive is killed now and counted as leaked
    found = await asyncio.to_thread(reap, settings, run_labels(run.run_id))
    # (the Dask shards' were swept, killed and counted when the stress flow ended)
    sb["leaked"] = len(set(found) | set(await mgr.leaked())) + shards.get("leaked", 0)


@flow(name="certification", log_prints=False)
async def certification(profile: str = "standard", spec_path: str | None = None, provider: str | None = None,
                        out: str | None = None, overrides: dict | None = None, no_cache: bool = False):
    """Certify the swarm under `profile` (or the spec file `spec_path`, with `overrides` merged
    in depth first, e.g. a smaller stress test; `no_cache` recomputes every cached result).

    Returns the verdict as the run's final state, results.json as its result (`run_state`):
    call with `return_state=True` and read `state.result(raise_on_failure=False)`."""
    from tradeswarm.settings import Settings
    from tradeswarm.stress import summarize
    from validation import load_spec
    from validation.history import spec_sha256
    from tradeswarm.sandbox.capacity import CapacityError
    from validation.preflight import preflight

    spec = load_spec(spec_path or profile, overrides=overrides)
    env = Settings()  # read once: the provider follows it, and the run uses it
    spec = spec.model_copy(update={"provider": _runinfo.resolve_provider(spec, provider, env)})
    preflight(spec, provider=spec.provider)  # a deployment's run refuses a bad spec before any work, like the CLI
    settings = _settings(spec.provider, env)
    try:
        capacity, unreachable = plan_capacity(spec, settings), None
    except CapacityError:
        raise  # refused before anything is created
    except Exception as e:  # noqa: BLE001 - no sandbox provider: the run is judged on missing evidence
        capacity, unreachable = None, e
    started = datetime.now(timezone.utc)
    rid = _runinfo.run_id(started, spec.name)
    run_dir = Path(out) if out else RUNS_ROOT / rid
    run_dir.mkdir(parents=True, exist_ok=True)
    run = Run(spec, rid, run_dir, started)
    run.cache = research.ResultCache.for_state_dir(env.state_dir, rid, refresh=no_cache)
    run.evidence["capacity"] = capacity  # the plan the run was let start with
    t0 = time.perf_counter()

    try:
        if unreachable is not None:
            raise unreachable
        await _certify(run, settings)
    except Exception as e:  # noqa: BLE001 - e.g. no sandbox provider: judged as missing evidence
        run.errors["sandbox provider"] = f"{spec.provider}: {type(e).__name__}: {e}"
    ev = run.evidence
    samples = run.recorder.snapshot()
    stress_latency = (ev.get("stress") or {}).get("latency", {})
    latency = {op: summarize(s, seed=spec.seed) for op, s in samples.items() if s}
    latency.update(stress_latency)
    meter = run.meter.snapshot()
    duration = time.perf_counter() - t0
    ev.update(latency=latency, samples=samples, duration_s=duration,
              cost={"meter": meter, "elapsed_s": duration})

    async def judging():
        ev["judgement"] = await asyncio.to_thread(
            judge, spec, ev, str(run_dir.parent), rid, datetime.now(timezone.utc), str(_runinfo.REPO))
        j = ev["judgement"]
        return f"{j['verdict']} {j['readiness_score']:.1f}/100"

    await run.stage("judge", judging)
    judgement = ev.pop("judgement", None) or {}
    sha = _runinfo.git_sha()
    results = {
        "schema": "tradeswarm.certification/v1",
        "run_id": rid, "started_at": started.isoformat(),
        "finished_at": datetime.now(timezone.utc).isoformat(), "duration_s": duration,
        "profile": spec.name, "provider": spec.provider, "seed": spec.seed, "spec_sha256": spec_sha256(spec),
        "inputs_sha256": _runinfo.inputs_sha256(spec.resolved(), ev.get("fingerprints", {}), sha),
        "git_sha": sha, "versions": _runinfo.versions(), "machine": _runinfo.machine(),
        "verdict": judgement.get("verdict", "NOT_CERTIFIED"),
        "readiness_score": judgement.get("readiness_score", 0.0),
        **{k: v for k, v in judgement.items() if k not in ("verdict", "readiness_score")},
        **{k: v for k, v in ev.items() if k not in ("samples", "cost", "fingerprints", "duration_s")},
        "sandboxes_leaked": ev.get("sandboxes", {}).get("leaked"),
        "stages": run.stages, "stage_parts": run.stage_parts, "errors": run.errors, "spec": spec.resolved(),
        "cache": run.cache.summary(),
        "report_path": str(run_dir / "report.md"),
    }

    async def report():
        files = await asyncio.to_thread(write_run, results, samples, str(run_dir))
        await asyncio.to_thread(publish, results)
        return f"{len(files)} files in {run_dir}"

    await run.stage("report", report)
    # results.json was written while the report stage ran: rewritten (atomically) with its time
    results["stages"] = run.stages
    await asyncio.to_thread(write_results, results, str(run_dir))
    await asyncio.to_thread(export_metrics, results, str(run_dir))
    return run_state(results)


def certify(**params) -> dict:
    """Run the certification flow in this process; results.json whatever the verdict.

    The verdict is also the run's state for Prefect (a NOT_CERTIFIED run is Failed), so the flow
    is called with `return_state=True`; only a crash of the flow itself is raised.
    """
    state = asyncio.run(certification(**params, return_state=True))
    results = state.result(raise_on_failure=False)
    if not isinstance(results, dict):
        raise results if isinstance(results, BaseException) else RuntimeError(f"certification ended {state.name}")
    return results


if __name__ == "__main__":
    import sys

    res = certify(profile=sys.argv[1] if len(sys.argv) > 1 else "smoke")
    print(res["verdict"], round(res["readiness_score"], 1), res["report_path"])
