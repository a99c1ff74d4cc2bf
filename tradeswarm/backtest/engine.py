"""Backtests and vectorized parameter sweeps of the registered strategies on vectorbt.

Signals come from `Strategy.signal_grid` — the same code a live agent runs — and fill at the next
bar's open (see `Fills`). The engine computes and does not judge: a caller that must refuse bad
data passes `check_data` (the certifier passes `validation.contract.ensure_valid`).

```python
>>> from tradeswarm.marketdata import load_symbol                                 # doctest: +SKIP
>>> spx = load_symbol("SPX")                                                      # doctest: +SKIP
>>> run_backtest(spx, "sma_crossover", {"fast": 10, "slow": 50})["sharpe"]        # doctest: +SKIP
>>> run_sweep(spx, "sma_crossover", {"fast": [5, 10, 20], "slow": [50, 100]})["trials"]  # doctest: +SKIP
6
```
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from tradeswarm.backtest import performance as m
from tradeswarm.backtest._vbt import Fills, simulate, simulate_orders

#: What sweeps rank combinations by (per-bar returns' Sharpe, annualised).
SELECT_BY = "sharpe"


def resolve_strategy(strategy):
    """A `Strategy`, or the registered one of that name."""
    from tradeswarm.agents.strategies import Strategy, get_strategy

    return strategy if isinstance(strategy, Strategy) else get_strategy(strategy)


def _prices(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    return frame["open"].to_numpy(dtype=float), frame["close"].to_numpy(dtype=float)


#: A data guard: called with the frame before anything is computed, raises to refuse it.
DataCheck = Callable[[pd.DataFrame], None]


def expand_grid(strategy, grid: Mapping[str, Sequence[Any]]) -> tuple[list[dict], int]:
    """All valid parameter combinations of `grid` (cartesian product) and how many were invalid.

    A combination the strategy's `Params` refuses (e.g. fast ≥ slow) is not tried; an unknown
    parameter name raises `ValueError`.
    """
    strat = resolve_strategy(strategy)
    known = set(strat.Params.model_fields)
    unknown = set(grid) - known
    if unknown:
        raise ValueError(f"{strat.name}: unknown parameter(s) {sorted(unknown)}; known: {sorted(known)}")
    names = list(grid)
    combos, invalid, first_error = [], 0, None
    for values in itertools.product(*(list(grid[n]) for n in names)):
        params = dict(zip(names, values))
        try:
            combos.append(strat.params(params).model_dump())
        except ValueError as e:
            invalid += 1
            first_error = first_error or f"{params}: {_reason(e)}"
    if not combos:
        raise ValueError(f"{strat.name}: no valid parameter combination (first refused {first_error})")
    return combos, invalid


def _reason(error: ValueError) -> str:
    """One line from a pydantic validation error (or any ValueError)."""
    errors = getattr(error, "errors", None)
    if callable(errors):
        first = errors()[0]
        where = ".".join(str(x) for x in first.get("loc", ()))
        return f"{where + ': ' if where else ''}{first.get('msg', '').removeprefix('Value error, ')}"
    return str(error).splitlines()[0]


def signal_matrix(frame: pd.DataFrame, strategy, combos: list[dict]) -> np.ndarray:
    """bars × combos matrix of the strategy's +1/0/−1 signals (int8): `Strategy.signal_grid`,
    which shares indicators across the combinations and equals one-by-one `signal` bit for bit."""
    return resolve_strategy(strategy).signal_grid(frame, combos)


@dataclass
class Run:
    """One simulated batch: equity and trades of every column, plus what produced them."""

    curves: np.ndarray  # equity, bars × columns, in either memory layout
    trades: m.Trades
    close: np.ndarray
    fills: Fills
    portfolio: Any = None  # vectorbt's Portfolio, where one was built (`vbt_equity`)

    @cached_property
    def equity(self) -> np.ndarray:
        """Equity, bars × columns, row-major: copied on first use (a sweep never needs it)."""
        return np.ascontiguousarray(self.curves)

    def summary(self) -> list[dict]:
        return m.summarize(self.curves, self.trades, self.close, self.fills.cash)


def simulate_signals(frame: pd.DataFrame, signals: np.ndarray, fills: Fills, *, engine: str | None = None,
                     vbt_equity: bool = False) -> Run:
    """Run vectorbt on a signal matrix; equity from vectorbt's value() or rebuilt from its orders.

    Rebuilding from the order records (`simulate_orders`: no Portfolio) is exact and ~6× faster
    on wide sweeps; `vbt_equity=True` builds vectorbt's Portfolio and takes its own curve
    (single runs, and the test that the two agree).
    """
    open_, close = _prices(frame)
    sig = signals if signals.ndim == 2 else signals[:, None]
    if vbt_equity:
        pf = simulate(open_, close, sig, fills, engine=engine)
        trades = m.trades_from_orders(pf.orders.values, close[-1])
        curves = np.asarray(pf.value(), dtype=float).reshape(len(close), -1)
        return Run(curves=curves, trades=trades, close=close, fills=fills, portfolio=pf)
    trades = m.trades_from_orders(simulate_orders(open_, close, sig, fills, engine=engine), close[-1])
    curves = m.equity_by_column(trades, close, fills.cash, sig.shape[1]).T
    return Run(curves=curves, trades=trades, close=close, fills=fills)


def _fills(fees, slippage, cash, whole_shares, lag) -> Fills:
    defaults = Fills()
    return Fills(
        fees=defaults.fees if fees is None else float(fees),
        slippage=defaults.slippage if slippage is None else float(slippage),
        cash=defaults.cash if cash is None else float(cash),
        whole_shares=whole_shares,
        lag=lag,
    )


def run_backtest(frame: pd.DataFrame, strategy, params: Mapping[str, Any] | None = None, *,
                 fees: float | None = None, slippage: float | None = None, cash: float | None = None,
                 whole_shares: bool = True, lag: int = 0, check_data: DataCheck | None = None,
                 engine: str | None = None, with_trades: bool = False) -> dict:
    """Backtest one parameter set; return the metrics dict (see `metrics`) plus identity fields.

    Result: `{strategy, symbol, params, bars, start, end, fees, slippage, cash, <metrics>}`, and
    `trades_list` with `with_trades=True`. Raises `ValueError` for a bad strategy/params and
    whatever `check_data` raises (the certifier passes `validation.contract.ensure_valid`).
    """
    strat = resolve_strategy(strategy)
    p = strat.params(params).model_dump()
    if check_data is not None:
        check_data(frame)
    fills = _fills(fees, slippage, cash, whole_shares, lag)
    run = simulate_signals(frame, signal_matrix(frame, strat, [p]), fills, engine=engine, vbt_equity=True)
    out = identity(frame, strat.name, fills) | {"params": p} | run.summary()[0]
    if with_trades:
        out["trades_list"] = run.trades.column(0)
    return out


def identity(frame: pd.DataFrame, name: str, fills: Fills) -> dict:
    """The fields naming a run: strategy, dataset and its span, costs."""
    return {
        "strategy": name,
        "symbol": frame.attrs.get("symbol"),
        "bars": len(frame),
        "start": frame.index[0].isoformat() if len(frame) else None,
        "end": frame.index[-1].isoformat() if len(frame) else None,
        "fees": fills.fees,
        "slippage": fills.slippage,
        "cash": fills.cash,
    }


def best_column(summaries: list[dict], key: str = SELECT_BY) -> int:
    """Index of the best combination by `key` (None ranks last; ties → the first)."""
    vals = np.array([s[key] if s[key] is not None else -np.inf for s in summaries])
    return int(np.argmax(vals))


def run_sweep(frame: pd.DataFrame, strategy, grid: Mapping[str, Sequence[Any]], *,
              fees: float | None = None, slippage: float | None = None, cash: float | None = None,
              whole_shares: bool = True, lag: int = 0, check_data: DataCheck | None = None,
              engine: str | None = None) -> dict:
    """Every combination of `grid` in one vectorbt call; the best by Sharpe and all trials counted.

    Result: `{strategy, symbol, trials, invalid, select_by, best: {params, <metrics>},
    results: [{params, total_return, sharpe, max_drawdown, trades}]}`; `trials` counts every
    combination simulated (invalid ones are not simulated and counted under `invalid`).
    """
    strat = resolve_strategy(strategy)
    combos, invalid = expand_grid(strat, grid)
    if check_data is not None:
        check_data(frame)
    fills = _fills(fees, slippage, cash, whole_shares, lag)
    signals = signal_matrix(frame, strat, combos)
    run = simulate_signals(frame, signals, fills, engine=engine)
    summaries = run.summary()
    best = best_column(summaries)
    return identity(frame, strat.name, fills) | {
        "trials": len(combos),
        "invalid": invalid,
        "select_by": SELECT_BY,
        "best": {"params": combos[best]} | summaries[best],
        "results": [
            {"params": c, **{k: s[k] for k in ("total_return", "sharpe", "max_drawdown", "trades")}}
            for c, s in zip(combos, summaries)
        ],
    }


def with_fills(fills: Fills, **changes) -> Fills:
    """A copy of `fills` with some fields changed (cost stress, lag test)."""
    return replace(fills, **changes)
