"""Swarm tasks: deploy the spec's agents, check live/backtest parity, trade a paper session."""

from __future__ import annotations

import asyncio
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from tradeswarm import probes


@task(name="deploy-agents", cache_policy=NO_CACHE)
async def deploy(coord: Any, agents: list[dict]) -> dict:
    """Deploy every agent of the spec (each after its health handshake); failures are evidence."""
    results = await asyncio.gather(
        *(coord.deploy(a["type"], a["symbols"], a["params"], count=a["count"]) for a in agents),
        return_exceptions=True)
    errors = [f"{a['type']}: {type(r).__name__}: {r}" for a, r in zip(agents, results) if isinstance(r, BaseException)]
    return {"errors": errors}


@task(name="live-parity", cache_policy=NO_CACHE)
async def parity(coord: Any, end: str | None, bars: int, window: int) -> list[dict]:
    """Compare each live agent's answers with its strategy's backtest signal series."""
    return await probes.live_parity(coord, end=end, bars=bars, window=window)


@task(name="paper-session", cache_policy=NO_CACHE)
async def paper_session(coord: Any, strategies: list[str], end: str | None, bars: int,
                        fees: float, slippage: float, broker: Any = None) -> dict:
    """Consensus rounds over recent bars into `broker` (default: the paper broker); the portfolio evidence."""
    return await probes.paper_session(coord, strategies, end=end, bars=bars, fees=fees, slippage=slippage,
                                      broker=broker)
