"""Settings of a backtest certification, from the spec's `backtest` section or a plain dict."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Mapping

from tradeswarm.backtest._vbt import Fills


def coerce(cls, settings: Any):
    """Build dataclass `cls` from None (defaults), an instance, a mapping (unknown keys refused),
    or any object carrying some of its field names as attributes (e.g. a pydantic spec section)."""
    if settings is None:
        return cls()
    if isinstance(settings, cls):
        return settings
    names = {f.name for f in fields(cls)}
    if isinstance(settings, Mapping):
        unknown = set(settings) - names
        if unknown:
            raise ValueError(f"unknown {cls.__name__} key(s) {sorted(unknown)}; known: {sorted(names)}")
        values = {k: v for k, v in settings.items() if v is not None}
    else:
        values = {n: getattr(settings, n) for n in names if getattr(settings, n, None) is not None}
    return cls(**values)


@dataclass(frozen=True)
class BacktestSettings:
    """What `certify_backtest` runs: costs, sizing, gate parameters and the data contract."""

    fees: float = Fills.fees
    slippage: float = Fills.slippage
    cash: float = Fills.cash
    whole_shares: bool = True
    min_trades: int = 30  # fewer trades: no statistic counts (the judge reports nodata)
    walk_forward_folds: int = 4
    cost_multiplier: float = 2.0  # cost stress multiplies fees by this
    lag_bars: int = 1  # the lag test delays every fill by this many more bars
    contract: Any = None  # validation.contract.ContractSettings, a mapping, or None for defaults

    @classmethod
    def from_any(cls, settings: Any) -> "BacktestSettings":
        return coerce(cls, settings)

    def fills(self) -> Fills:
        return Fills(fees=float(self.fees), slippage=float(self.slippage), cash=float(self.cash),
                     whole_shares=bool(self.whole_shares))
