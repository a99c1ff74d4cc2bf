"""Measurements the certification takes of the live system, beyond the stress test.

Each probe drives the real components (sandboxes through the e2b SDK, agents in their
sandboxes, the paper broker) and returns evidence for the judge (docs/contracts.md §5). A
probe never fills in a value it did not observe: what fails is reported as an error.

- `sandbox_lifecycle`: create → exec → status → kill, `cycles` times.
- `live_parity`: the deployed agents' answers against the strategies' backtest series.
- `paper_session`: consensus rounds over recent bars, orders into the paper broker (or Alpaca's
  paper account when the run has Alpaca keys).
- `template_caching`, `pooling`, `idle_cleanup`: each cost optimization measured with and
  without, as billed usage (a `CostMeter` per side; the judge, `validation.cost`, prices it).
  Batching is measured by the stress stage's own meter window (stdin calls vs task lines).
"""

from __future__ import annotations

import asyncio
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Sequence

import numpy as np

ACTIONS = {1: "BUY", -1: "SELL", 0: "HOLD"}


async def sandbox_lifecycle(mgr: Any, *, template: str = "base", cycles: int = 20, concurrency: int = 4,
                            timeout_s: int = 120) -> dict:
    """Run `cycles` full lifecycles and say whether every step did what it should."""
    errors: list[str] = []
    sem = asyncio.Semaphore(concurrency)

    async def cycle(i: int) -> bool:
        async with sem:
            try:
                sb = await mgr.create(template, name=f"lifecycle-{i}", timeout_s=timeout_s)
            except Exception as e:
                errors.append(f"create: {type(e).__name__}: {e}")
                return False
            try:
                res = await sb.run("echo ready", timeout_s=30)
                if res.exit_code != 0 or res.stdout.strip() != "ready":
                    errors.append(f"exec in {sb.id}: exit {res.exit_code}, stdout {res.stdout[:40]!r}")
                    return False
                state = (await mgr.status(sb.id)).get("state")
                if state != "running":
                    errors.append(f"status of {sb.id}: {state!r}, expected 'running'")
                    return False
                return True
            except Exception as e:
                errors.append(f"{sb.id}: {type(e).__name__}: {e}")
                return False
            finally:
                if not await mgr.kill(sb.id):
                    errors.append(f"kill of {sb.id} found no sandbox")

    ok = await asyncio.gather(*(cycle(i) for i in range(cycles)))
    return {"probes": cycles, "probes_ok": int(sum(ok)), "lifecycle_ok": all(ok) and not errors,
            "errors": errors[:10]}


async def live_parity(coord: Any, *, end: str | None, bars: int = 10, window: int = 250,
                      synthetic: dict | None = None) -> list[dict]:
    """Ask every live agent for signals on `bars` past bars; compare with the backtest series.

    The expected action is the strategy's full-history `signal` at that bar — what the
    backtests trade on — computed here; the observed one comes from the agent process in its
    sandbox over its `window`-bar view. One row per (strategy, symbol).
    """
    from tradeswarm.agents.runner import load_frame
    from tradeswarm.agents.strategies import get_strategy
    from tradeswarm.swarm import Task

    rows: dict[tuple[str, str], dict] = {}
    jobs = []
    for agent in coord.live():
        strategy = get_strategy(agent.type)
        for symbol in agent.symbols:
            frame = load_frame(symbol, synthetic)
            if end is not None:
                frame = frame.loc[:end]
            sig, _ = strategy.arrays(frame, dict(agent.spec.params))
            first = max(window - 1, strategy.warmup(dict(agent.spec.params)))
            picks = np.unique(np.linspace(first, len(frame) - 1, bars).round().astype(int))
            row = rows.setdefault((agent.type, symbol), {"strategy": agent.type, "symbol": symbol, "bars": 0,
                                                         "mismatches": 0, "errors": 0, "first_mismatch": None})
            for t in picks:
                stamp = frame.index[t].date().isoformat()
                task = Task(id=f"parity-{agent.id}-{symbol}-{stamp}", symbol=symbol, end=stamp,
                            window=window, agent_type=agent.type)
                jobs.append((row, ACTIONS[int(sig[t])], stamp, task))

    async def ask(row: dict, expected: str, stamp: str, task: Any) -> None:
        out = await coord.execute(task)
        row["bars"] += 1
        got = (out.signal or {}).get("action") if out.status == "completed" else None
        if got is None:
            row["errors"] += 1
        if got != expected:
            row["mismatches"] += 1
            row["first_mismatch"] = row["first_mismatch"] or {"bar": stamp, "expected": expected,
                                                              "observed": got or out.error_class}

    await asyncio.gather(*(ask(*job) for job in jobs))
    return list(rows.values())


async def paper_session(coord: Any, strategies: Sequence[str], *, end: str | None, bars: int,
                        fees: float, slippage: float, synthetic: dict | None = None, broker: Any = None) -> dict:
    """Trade the last `bars` bars up to `end`: one consensus round per strategy, symbol and bar.

    Orders go to `broker` — Alpaca's paper account when the run has Alpaca keys — or else to
    one `PaperBroker` (next-bar-open fills, the backtests' costs). `execute_round` checks the
    portfolio invariant after every fill; a violation is counted by the broker, recorded as an
    error of its round, and the session goes on.
    """
    from tradeswarm.agents.runner import load_frame
    from tradeswarm.broker import PaperBroker
    from tradeswarm.swarm.execute import execute_round

    broker = broker if broker is not None else PaperBroker(fees=fees, slippage=slippage)
    decisions = 0
    errors: list[str] = []
    for strategy in strategies:
        symbols = sorted({s for a in coord.live() if a.type == strategy for s in a.symbols})
        for symbol in symbols:
            frame = load_frame(symbol, synthetic)
            frame = frame.loc[:end] if end is not None else frame
            # the last bar has no next bar to fill on: decide on the ones before it
            for stamp in frame.index[-bars - 1:-1]:
                try:
                    out = await execute_round(coord, strategy, [symbol], end=stamp.date().isoformat(),
                                              broker=broker)
                    decisions += len(out["decisions"])
                except Exception as e:
                    errors.append(f"{strategy}/{symbol}@{stamp.date()}: {type(e).__name__}: {e}")
    account = broker.get_account()
    return {**broker.counters(), "broker": broker.name, "equity": account["equity"], "cash": account["cash"],
            "decisions": decisions, "errors": errors[:10], "error_count": len(errors)}


def _package_files() -> list[tuple[str, bytes]]:
    """What a sandbox without the `trading` template would need uploaded: package + data."""
    import tradeswarm

    pkg = Path(tradeswarm.__file__).resolve().parent
    files = [(f"lib/tradeswarm/{p.relative_to(pkg)}", p.read_bytes())
             for p in sorted(pkg.rglob("*.py"))]
    data = pkg.parent / "data"
    files += [(f"data/{p.name}", p.read_bytes()) for p in sorted(data.glob("*")) if p.is_file()]
    return files


@asynccontextmanager
async def _side(mgr: Any, tally: dict, **kwargs: Any):
    """One side of an A/B: a sandbox manager of its own, metered apart (a child of `mgr`'s meter,
    so the run's total still counts it). On exit its sandboxes are killed, then the provider is
    asked whether any is still alive; `tally` adds up created/killed/leaked for the run's books."""
    from tradeswarm.costmeter import CostMeter
    from tradeswarm.sandbox import SandboxManager

    meter = mgr.meter.child() if mgr.meter is not None else CostMeter()
    # the run's labels too: the provider is asked for every sandbox of the run at its end
    side = SandboxManager(settings=mgr.settings, meter=meter, keepalive=False, labels=mgr.labels, **kwargs)
    try:
        async with side:
            yield side, meter
    finally:
        for k in ("created", "killed", "create_failures"):
            tally[k] = tally.get(k, 0) + side.counters[k]
        tally["leaked"] = tally.get("leaked", 0) + len(await side.leaked())


async def template_caching(mgr: Any, *, repeats: int = 2) -> dict:
    """Billed usage until a trading workspace is ready: the prepared template vs `base` + upload.

    Each workspace is killed as soon as it is ready (its package imports from `lib/`), so what
    each side's meter bills is the set-up time alone.
    """
    files, tally = _package_files(), {}
    ready = "test -f lib/tradeswarm/__init__.py && test -d data"

    async def billed(make) -> dict:
        async with _side(mgr, tally) as (side, meter):
            for _ in range(repeats):
                sb = await make(side)
                res = await sb.run(ready, timeout_s=30)
                await side.kill(sb.id)
                if res.exit_code != 0:
                    raise RuntimeError(f"workspace {sb.template!r} not ready: exit {res.exit_code}")
        return meter.snapshot()

    async def from_upload(side):
        sb = await side.create("base", name="no-template")
        await asyncio.gather(*(sb.write(path, data) for path, data in files))
        return sb

    with_ = await billed(lambda side: side.create("trading", name="template"))
    without = await billed(from_upload)
    return {"with": with_, "without": without, "unit": "sandbox-seconds to a ready workspace",
            "workspaces": repeats, "files_uploaded": len(files), "sandboxes": tally}


async def pooling(mgr: Any, *, pool_size: int, requests: int = 3, gap_s: float = 0.3) -> dict:
    """Billed usage of the same `requests` trading sandboxes, asked for `gap_s` apart and each
    used once: handed out by a warm pool of `pool_size` (`SandboxManager(pool_size=...)`, its
    waiting sandboxes and refills billed too) vs created on demand. Also the caller's wait."""
    tally: dict = {}

    async def serve(pool: int) -> tuple[dict, float]:
        waits = []
        async with _side(mgr, tally, pool_size=pool) as (side, meter):
            for _ in range(requests):
                t0 = time.perf_counter()
                sb = await side.acquire("trading")
                waits.append((time.perf_counter() - t0) * 1000.0)
                await sb.run("true", timeout_s=30)
                await side.kill(sb.id)
                await asyncio.sleep(gap_s)
        return meter.snapshot(), float(np.mean(waits))

    with_, with_ms = await serve(pool_size)
    without, without_ms = await serve(0)
    return {"with": with_, "without": without, "unit": f"sandbox-seconds for {requests} sandboxes {gap_s:g} s apart",
            "pool_size": pool_size, "wait_ms": {"with": with_ms, "without": without_ms}, "sandboxes": tally}


async def idle_cleanup(mgr: Any, *, idle_s: float = 1.0, lifetime_s: int = 3, poll_s: float = 0.1) -> dict:
    """How late an idle sandbox ends after its idle threshold (cleanup) and after its lifetime
    (left to the provider), measured on real sandboxes with short settings.

    Cleanup: a released sandbox of a manager with `idle_timeout_s=idle_s` is killed by its
    janitor; left alone: a sandbox with a `lifetime_s` lifetime is ended by the provider (E2B's
    behaviour, and sandboxd's). In both cases the end is read from the provider (status until
    not found), not assumed. The judge adds each lateness to the spec's idle threshold and
    sandbox timeout: the billed idle time per idle sandbox with and without cleanup.
    """
    from tradeswarm.sandbox import SandboxNotFound

    tally: dict = {}

    async def gone(side: Any, sb: Any, t0: float, limit_s: float) -> float:
        while time.perf_counter() - t0 < limit_s:
            try:
                await side.status(sb.id)
            except SandboxNotFound:
                waited = time.perf_counter() - t0
                await side.kill(sb.id)  # already gone: only stops its meter
                return waited
            await asyncio.sleep(poll_s)
        raise RuntimeError(f"sandbox {sb.id} still alive {limit_s:g} s after going idle")

    async def cleaned() -> tuple[float, dict]:
        async with _side(mgr, tally, idle_timeout_s=idle_s) as (side, meter):
            sb = await side.create("base", name="idle-cleanup", timeout_s=lifetime_s + 60)
            await sb.run("true", timeout_s=30)
            t0 = time.perf_counter()
            await side.release(sb)
            return await gone(side, sb, t0, idle_s + 30) - idle_s, meter.snapshot()

    async def abandoned() -> tuple[float, dict]:
        async with _side(mgr, tally) as (side, meter):
            sb = await side.create("base", name="idle-abandoned", timeout_s=lifetime_s)
            # the lifetime ran from the server's create, a little before this: the lateness is
            # understated rather than the saving overstated
            t0 = time.perf_counter()
            await sb.run("true", timeout_s=30)
            return await gone(side, sb, t0, lifetime_s + 30) - lifetime_s, meter.snapshot()

    (late_with, usage), (late_without, _) = await asyncio.gather(cleaned(), abandoned())
    return {"late_s": {"with": late_with, "without": late_without}, "usage": usage,
            "probe": {"idle_s": idle_s, "lifetime_s": lifetime_s}, "sandboxes": tally}
