"""The `data` and `backtest` sections: datasets and their contract, strategies and sweep grids, gates."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import Field, WithJsonSchema, field_validator, model_validator

from validation.spec.base import Strict as _Strict
from validation.spec.swarm import StrategyName


class ContractSpec(_Strict):
    """Data contract settings; `validation.contract.ContractSettings.from_any(spec.data.contract)` reads them."""

    max_gap_days: int = Field(3, ge=0, description="NYSE sessions that may be missing between two bars")
    min_rows: int = Field(250, ge=1)
    max_move: float = Field(0.25, gt=0, description="largest single-bar close-to-close move (fraction)")
    marked_dates: list[date] = Field(default_factory=list, description="session dates whose larger move is known and allowed")


class DataSpec(_Strict):
    """The datasets a certification validates and backtests on."""

    datasets: list[str] = Field(default_factory=lambda: ["SPX", "NDX", "GOOG"], min_length=1)
    start: date | None = None
    end: date | None = None
    source: Literal["shipped", "alpaca"] = "shipped"
    contract: ContractSpec = Field(default_factory=ContractSpec)

    @model_validator(mode="after")
    def _window(self) -> "DataSpec":
        if self.start and self.end and self.start >= self.end:
            raise ValueError(f"start {self.start} must be before end {self.end}")
        return self


_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
GRID_PATTERN = rf"^\s*({_NUMBER})\s*:\s*({_NUMBER})\s*:\s*({_NUMBER})\s*$"
MAX_GRID = 100_000  # values of one swept parameter: a typo like 0:1e9:1 must not exhaust memory
MAX_TRIALS = 10_000  # combinations of one strategy's sweep: its signal matrix is bars × trials
_GRID_SCHEMA = {"anyOf": [{"type": "array", "items": {"type": "number"}},
                          {"type": "string", "pattern": GRID_PATTERN, "description": "'start:stop:step', inclusive"}]}


def _expand_grid(value: Any) -> Any:
    """`"a:b:step"` → the inclusive list a, a+step, … ≤ b; lists pass through."""
    if not isinstance(value, str):
        return value
    m = re.match(GRID_PATTERN, value)
    if not m:
        raise ValueError(f"sweep grid {value!r}: expected a list or 'start:stop:step'")
    a, b, step = (float(x) for x in m.groups())
    if step <= 0 or b < a:
        raise ValueError(f"sweep grid {value!r}: need step > 0 and stop >= start")
    n = int((b - a) / step + 1e-9) + 1
    if n > MAX_GRID:
        raise ValueError(f"sweep grid {value!r}: {n:,} values, more than {MAX_GRID:,}")
    as_int = all(float(x).is_integer() for x in (a, b, step))
    return [int(a + i * step) if as_int else round(a + i * step, 12) for i in range(n)]


class StrategyBacktestSpec(_Strict):
    """One strategy to backtest: fixed `params`, or a `sweep` grid (every combination is a trial)."""

    name: StrategyName
    params: dict[str, Any] = Field(default_factory=dict)
    sweep: dict[str, Annotated[list[float | int], WithJsonSchema(_GRID_SCHEMA)]] = Field(default_factory=dict)

    @field_validator("sweep", mode="before")
    @classmethod
    def _grids(cls, v: Any) -> Any:
        if isinstance(v, dict):
            return {k: _expand_grid(g) for k, g in v.items()}
        return v

    @property
    def trials(self) -> int:
        n = 1
        for grid in self.sweep.values():
            n *= len(grid)
        return n


class GatesSpec(_Strict):
    """Backtest validity gates (validation.backtest_validity measures them; the judge scores them)."""

    dsr_min: float = Field(0.95, ge=0, le=1)
    walk_forward_max_degradation: float = Field(
        0.5, ge=0, description="allowed drop of the mean annualised Sharpe from in-sample to out-of-sample folds")
    cost_multiplier: float = Field(2.0, ge=1, description="the cost stress multiplies fees by this")
    cost_stress_min_return: float = 0.0
    lag_bars: int = Field(1, ge=1)
    lag_max_drop: float = Field(0.5, ge=0, le=1, description="largest fraction of a positive return one extra bar of lag may remove")
    min_trades: int = Field(30, ge=1, description="fewer trades: the gates of that backtest are nodata")


class BacktestSpec(_Strict):
    strategies: list[StrategyBacktestSpec] = Field(min_length=1)
    symbols: list[str] | None = Field(None, description="default: data.datasets")
    fees: float = Field(0.001, ge=0)
    slippage: float = Field(0.0005, ge=0)
    cash: float = Field(100_000.0, gt=0)
    whole_shares: bool = True
    walk_forward_folds: int = Field(4, ge=2)
    gates: GatesSpec = Field(default_factory=GatesSpec)
