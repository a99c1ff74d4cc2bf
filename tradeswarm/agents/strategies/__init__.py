"""Pure, causal signal functions shared by live agents and backtests.

Each strategy maps a price frame (the `tradeswarm.marketdata` schema) to +1 BUY / −1 SELL /
0 HOLD per bar, reading only bars at or before that bar. A live agent calls
`latest_signal` on its window; a backtest calls `Strategy.signal` on the whole history;
both run the same code, and the parity tests hold them to the same answer.

>>> import pandas as pd
>>> from tradeswarm.agents.strategies import get_strategy, latest_signal
>>> idx = pd.date_range("2020-01-01", periods=60, freq="D", tz="UTC", name="timestamp")
>>> close = [100.0 - i for i in range(30)] + [70.0 + 3 * i for i in range(30)]
>>> frame = pd.DataFrame({"open": close, "high": close, "low": close, "close": close,
...                       "volume": 1.0}, index=idx)
>>> int(get_strategy("sma_crossover").signal(frame, {"fast": 3, "slow": 10}).max())
1
>>> latest_signal("sma_crossover", frame, {"fast": 3, "slow": 10})["action"]
'HOLD'
"""

from __future__ import annotations

from typing import Any, Mapping

import pandas as pd

from ._base import ACTIONS, BUY, HOLD, SELL, Strategy, StrategyParams
from .breakout import breakout
from .mean_reversion import mean_reversion
from .momentum import momentum
from .risk_manager import risk_manager
from .sma_crossover import sma_crossover

STRATEGIES: dict[str, Strategy] = {s.name: s for s in (sma_crossover, momentum, mean_reversion, breakout, risk_manager)}


def get_strategy(name: str) -> Strategy:
    """The registered strategy called `name`; `ValueError` naming the known ones otherwise."""
    try:
        return STRATEGIES[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown strategy {name!r}; known: {', '.join(sorted(STRATEGIES))}") from None


def latest_signal(name: str, frame: pd.DataFrame, params: Mapping[str, Any] | StrategyParams | None = None) -> dict:
    """The strategy's answer for the frame's last bar, as a live agent reports it.

    Returns `{"action": "BUY"|"SELL"|"HOLD", "confidence": float, "bar": iso8601, "veto": bool}`;
    only `risk_manager` ever sets `veto` (and then its action is SELL).
    """
    strategy = get_strategy(name)
    if len(frame) == 0:
        raise ValueError(f"{name}: empty frame, no bar to signal on")
    sig, conf = strategy.arrays(frame, params)
    action = ACTIONS[int(sig[-1])]
    return {
        "action": action,
        "confidence": float(conf[-1]),
        "bar": frame.index[-1].isoformat(),
        "veto": bool(strategy.name == "risk_manager" and action == "SELL"),
    }


__all__ = [
    "ACTIONS", "BUY", "HOLD", "SELL", "STRATEGIES", "Strategy", "StrategyParams", "breakout", "get_strategy",
    "latest_signal", "mean_reversion", "momentum", "risk_manager", "sma_crossover",
]
