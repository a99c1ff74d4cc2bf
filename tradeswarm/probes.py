"""Measurements the certification takes of the live system, beyond the stress test.

Each probe drives the real components (sandboxes through the e2b SDK, agents in their
sandboxes, the paper broker) and returns evidence for the judge (docs/contracts.md §5). A
probe never fills in a value it did not observe: what fails is reported as an error.

- `sandbox_lifecycle`: create → exec → status → kill, `cycles` times.
- `live_parity`: the deployed agents' answers against the strategies' backtest series.
- `paper_session`: consensus rounds over recent bars, orders into the paper broker (or Alpaca's
  paper account when the run has Alpaca keys).
- `template_caching`, `spawn_per_task`, `pooling`, `idle_cleanup`: each cost optimization
  measured with and without.
"""

from __future__ import annotations

import asyncio
import time
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


async def template_caching(mgr: Any, *, repeats: int = 2) -> dict:
    """Milliseconds to a ready trading workspace: from the prepared template vs built by upload."""
    files = _package_files()

    async def timed(make) -> float:
        t0 = time.perf_counter()
        sb = await make()
        ms = (time.perf_counter() - t0) * 1000.0
        await mgr.kill(sb.id)
        return ms

    async def from_upload():
        sb = await mgr.create("base", name="no-template")
        await asyncio.gather(*(sb.write(path, data) for path, data in files))
        return sb

    with_ = [await timed(lambda: mgr.create("trading", name="template")) for _ in range(repeats)]
    without = [await timed(from_upload) for _ in range(repeats)]
    return {"with": float(np.mean(with_)), "without": float(np.mean(without)), "unit": "ms per workspace",
            "files_uploaded": len(files)}


async def spawn_per_task(mgr: Any, *, symbol: str, strategy: str, end: str | None, window: int,
                         repeats: int = 2) -> list[float]:
    """Milliseconds per signal when every task spawns its own interpreter (no batching)."""
    code = ("from tradeswarm.agents.runner import load_frame, window_of;"
            "from tradeswarm.agents.strategies import latest_signal;"
            f"print(latest_signal({strategy!r}, window_of(load_frame({symbol!r}), {end!r}, {window}))['action'])")
    sb = await mgr.create("trading", name="spawn-per-task")
    try:
        out = []
        for _ in range(repeats):
            res = await sb.run(f"bin/python -c \"{code}\"", timeout_s=120)
            if res.exit_code != 0:
                raise RuntimeError(f"spawned signal failed: {res.stderr.strip()[-200:]}")
            out.append(res.duration_ms)
        return out
    finally:
        await mgr.kill(sb.id)


async def pooling(mgr: Any, *, repeats: int = 3) -> dict:
    """Milliseconds to hand out a ready trading sandbox: from a warm pool vs created on demand.

    The pool is filled off the critical path (as `SandboxManager(pool_size=...)` does at
    start); what a caller waits for is the `acquire`.
    """
    cold, warm, made = [], [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        made.append(await mgr.create("trading", name="pool-cold"))
        cold.append((time.perf_counter() - t0) * 1000.0)
    for sb in made:
        await mgr.release(sb)
    try:
        for _ in range(repeats):
            t0 = time.perf_counter()
            made.append(await mgr.acquire("trading"))
            warm.append((time.perf_counter() - t0) * 1000.0)
    finally:
        await asyncio.gather(*(mgr.kill(sb.id) for sb in {sb.id: sb for sb in made}.values()))
    return {"with": float(np.mean(warm)), "without": float(np.mean(cold)), "unit": "ms per sandbox handed out"}


async def idle_cleanup(mgr: Any, *, lifetime_s: int = 3, poll_s: float = 0.1) -> dict:
    """Seconds an idle sandbox stays alive (billed): killed once idle vs left to its lifetime.

    Two sandboxes with a `lifetime_s` lifetime run a command and go idle; one is killed at
    once (idle cleanup), the other is left to the provider, which ends it when its lifetime
    runs out (E2B's behaviour, and sandboxd's). In both cases the time from idle to gone is
    read from the provider (status until not found), not assumed. `mgr` must not keep its
    sandboxes alive (`keepalive=False`), or it would extend the abandoned one.
    """
    from tradeswarm.sandbox import SandboxNotFound

    async def idle_to_gone(cleanup: bool) -> float:
        sb = await mgr.create("base", name="idle-cleanup" if cleanup else "idle-abandoned", timeout_s=lifetime_s)
        await sb.run("true", timeout_s=30)
        t0 = time.perf_counter()
        if cleanup:
            await mgr.kill(sb.id)
        while time.perf_counter() - t0 < lifetime_s + 30:
            try:
                await mgr.status(sb.id)
            except SandboxNotFound:
                return time.perf_counter() - t0
            await asyncio.sleep(poll_s)
        raise RuntimeError(f"sandbox {sb.id} still alive {lifetime_s + 30} s after going idle")

    with_, without = await asyncio.gather(idle_to_gone(True), idle_to_gone(False))
    return {"with": with_, "without": without, "unit": f"sandbox-seconds per idle sandbox ({lifetime_s} s lifetime)"}
