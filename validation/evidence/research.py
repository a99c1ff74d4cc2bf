"""Evidence of the research branch (tasks/research.py): data contracts and backtests."""

from __future__ import annotations

from typing import Any, Optional, Union

from pydantic import Field

from validation.evidence._base import Num, Record


class ExpectationFailure(Record):
    """`data_validation[].failures[]`: one expectation a dataset failed, with sample rows."""

    expectation: Optional[str] = None
    column: Optional[str] = None
    unexpected_count: Optional[int] = None
    sample: Optional[list[Any]] = None


class DataValidation(Record):
    """`data_validation[]`: one dataset against the great-expectations contract."""

    dataset: str
    rows: Optional[int] = None
    expectations: Optional[int] = None
    failed: Optional[int] = None
    failures: list[ExpectationFailure] = Field(default_factory=list)


class Gates(Record):
    """`backtests[].gates`: the validity gates (validation.gates)."""

    dsr: Optional[Num] = None
    psr: Optional[Num] = None
    walk_forward: Optional[dict[str, Any]] = None
    cost_stress_return: Optional[Num] = None
    lag_return: Optional[Num] = None
    lag_sharpe: Optional[Num] = None
    min_trades_ok: Optional[bool] = None


class Crosscheck(Record):
    """`backtests[].crosscheck`: the reference simulator's re-run of the configuration."""

    agree: Optional[bool] = None
    # {trade, field, engine, reference} (validation.reference.crosscheck); text is kept as written
    first_divergence: Union[dict[str, Any], str, None] = None
    equity_rel_diff: Optional[Num] = None


class Backtest(Record):
    """`backtests[]`: one strategy's sweep on one dataset, its best configuration's figures."""

    strategy: Optional[str] = None
    symbol: Optional[str] = None
    params: Optional[dict[str, Any]] = None
    trials: Optional[int] = None
    total_return: Optional[Num] = None
    cagr: Optional[Num] = None
    volatility: Optional[Num] = None
    sharpe: Optional[Num] = None
    sortino: Optional[Num] = None
    max_drawdown: Optional[Num] = None
    win_rate: Optional[Num] = None
    profit_factor: Optional[Num] = None
    trades: Optional[int] = None
    benchmark_return: Optional[Num] = None
    gates: Gates = Field(default_factory=Gates)
    crosscheck: Optional[Crosscheck] = None
    equity_curve: Optional[list[list[Any]]] = None
