"""The swarm stages' work: deploy the spec's agents, check live/backtest parity, trade a paper session.

Each drives the live agents in their sandboxes (and the paper broker, or Alpaca's paper
account) and returns typed evidence (validation.evidence.swarm); what fails is reported as an
error, never filled in (docs/contracts.md §5).
"""

from __future__ import annotations

import asyncio
from typing import Any, Sequence

import numpy as np
from prefect import task
from prefect.cache_policies import NO_CACHE

from tradeswarm.swarm import Coordinator
from validation.evidence import DeployEvidence, ParityRow, PortfolioEvidence

ACTIONS = {1: "BUY", -1: "SELL", 0: "HOLD"}


@task(name="deploy-agents", cache_policy=NO_CACHE)
async def deploy(coord: Coordinator, agents: list[dict]) -> DeployEvidence:
    """Deploy every agent of the spec (each after its health handshake); failures are evidence."""
    results = await asyncio.gather(
        *(coord.deploy(a["type"], a["symbols"], a["params"], count=a["count"]) for a in agents),
        return_exceptions=True)
    return DeployEvidence(errors=[f"{a['type']}: {type(r).__name__}: {r}"
                                  for a, r in zip(agents, results) if isinstance(r, BaseException)])


@task(name="live-parity", cache_policy=NO_CACHE)
async def parity(coord: Coordinator, end: str | None, bars: int, window: int) -> list[ParityRow]:
    """Compare each live agent's answers with its strategy's backtest signal series."""
    return [ParityRow.model_validate(r) for r in await live_parity(coord, end=end, bars=bars, window=window)]


@task(name="paper-session", cache_policy=NO_CACHE)
async def paper_session(coord: Coordinator, strategies: list[str], end: str | None, bars: int,
                        fees: float, slippage: float, broker: Any = None) -> PortfolioEvidence:
    """Consensus rounds over recent bars into `broker` (default: the paper broker); the portfolio evidence."""
    return PortfolioEvidence.model_validate(await trade_session(coord, strategies, end=end, bars=bars, fees=fees,
                                                                slippage=slippage, broker=broker))


async def live_parity(coord: Coordinator, *, end: str | None, bars: int = 10, window: int = 250,
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


async def trade_session(coord: Coordinator, strategies: Sequence[str], *, end: str | None, bars: int,
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


