"""One `backtests` evidence entry (docs/contracts.md §5): metrics, gates, crosscheck, trials.

`certify_backtest` validates the data (refusing a failed dataset), runs every combination of
the grid in one vectorbt call, selects the best by Sharpe, and then measures the gates on the
selected configuration: Deflated/Probabilistic Sharpe given the number of trials, walk-forward
out-of-sample performance, fees × `cost_multiplier`, one more bar of fill delay, and the
minimum-trades flag. The reference event loop (`validation.reference`) re-runs the selected,
cost-stressed and lagged configurations and must agree trade for trade.

```python
>>> from tradeswarm.marketdata import load_symbol                            # doctest: +SKIP
>>> e = certify_backtest(load_symbol("SPX"), "sma_crossover",
...                      {"fast": [5, 10, 20], "slow": [50, 100, 200]})       # doctest: +SKIP
>>> e["trials"], e["crosscheck"]["agree"], sorted(e["gates"])                 # doctest: +SKIP
(9, True, ['cost_multiplier', 'cost_stress_return', 'dsr', ...])
```
"""

from __future__ import annotations

import time
from typing import Any, Mapping

import numpy as np
import pandas as pd

from tradeswarm.backtest import performance as m
from tradeswarm.backtest.engine import (
    best_column, expand_grid, identity, resolve_strategy, signal_matrix, simulate_signals, with_fills,
)
from tradeswarm.backtest.settings import BacktestSettings
from validation import gates
from validation.contract import ensure_valid

CURVE_POINTS = 300


def as_grid(params_or_grid: Mapping[str, Any] | None) -> dict[str, list]:
    """A params dict (scalars) or a grid (some values lists) → a grid of lists."""
    return {k: list(v) if isinstance(v, (list, tuple, range, np.ndarray)) else [v]
            for k, v in (params_or_grid or {}).items()}


def equity_curve(index: pd.Index, equity: np.ndarray, close: np.ndarray, cash: float,
                 points: int = CURVE_POINTS) -> list[list]:
    """At most `points` rows `[iso timestamp, equity, buy-and-hold equity]` (first and last kept)."""
    n = len(equity)
    pick = np.unique(np.linspace(0, n - 1, min(points, n)).round().astype(int))
    hold = cash * close / close[0]
    return [[index[i].isoformat(), float(equity[i]), float(hold[i])] for i in pick]


def _crosscheck(frame: pd.DataFrame, signal: np.ndarray, run, fills, label: str) -> dict:
    # imported at call time: the reference the running code has loaded is the one that judges
    # (tests/flows/test_integrity_cache.py swaps in a changed one and expects the crosscheck to say no)
    from validation.reference import crosscheck, simulate

    ref = simulate(frame["open"].to_numpy(dtype=float), frame["close"].to_numpy(dtype=float), signal,
                   fees=fills.fees, slippage=fills.slippage, cash=fills.cash,
                   whole_shares=fills.whole_shares, lag=fills.lag)
    out = crosscheck(run.trades.column(0), float(run.equity[-1, 0]), ref)
    return out | {"config": label}


def certify_backtest(frame: pd.DataFrame, strategy, params_or_grid: Mapping[str, Any] | None = None,
                     settings: BacktestSettings | Mapping | Any | None = None, *, require_valid: bool = True) -> dict:
    """Measure one strategy on one dataset; return its `backtests` evidence entry.

    Entry: `{strategy, symbol, params, trials, invalid, bars, start, end, fees, slippage, cash,
    <metrics of the selected configuration: total_return … final_equity>, gates: {dsr, psr, sr,
    sr0, sharpe_variance, walk_forward, cost_stress_return, cost_multiplier, lag_return,
    lag_sharpe, lag_bars, trades, min_trades, min_trades_ok}, crosscheck: {agree, first_divergence,
    equity_rel_diff, checked: [...]}, equity_curve: [[ts, equity, hold]], timings_s}`.
    Raises `DataContractError` for data that failed the contract (`require_valid=False` is for
    `ContractJob.run_while_validating`, which holds the result back until the data's verdict),
    `ValueError` for a bad strategy, parameter or grid.
    """
    cfg = BacktestSettings.from_any(settings)
    strat = resolve_strategy(strategy)
    combos, invalid = expand_grid(strat, as_grid(params_or_grid))
    t0 = time.perf_counter()
    if require_valid:
        ensure_valid(frame, settings=cfg.contract)
    t_data = time.perf_counter()
    fills = cfg.fills()
    signals = signal_matrix(frame, strat, combos)
    trials = simulate_signals(frame, signals, fills)
    best = best_column(trials.summary())
    signal = signals[:, best]
    selected = simulate_signals(frame, signal, fills, vbt_equity=True)
    metrics = selected.summary()[0]
    t_sim = time.perf_counter()

    returns = m.returns(selected.equity, fills.cash)[:, 0]
    trial_sharpes = gates.trial_sharpes(m.returns(trials.equity, fills.cash))
    deflated = gates.deflated_sharpe(returns, len(combos), trial_sharpes)

    def window(lo: int, hi: int, sig: np.ndarray) -> list[dict]:
        return simulate_signals(frame.iloc[lo:hi], sig[lo:hi], fills).summary()

    walk = gates.walk_forward(window, signals, combos, len(frame), cfg.walk_forward_folds)
    stressed_fills = with_fills(fills, fees=fills.fees * cfg.cost_multiplier)
    stressed = simulate_signals(frame, signal, stressed_fills)
    lagged_fills = with_fills(fills, lag=fills.lag + cfg.lag_bars)
    lagged = simulate_signals(frame, signal, lagged_fills)
    t_gates = time.perf_counter()

    checks = [_crosscheck(frame, signal, run, f, label) for run, f, label in
              ((selected, fills, "selected"), (stressed, stressed_fills, "cost_stress"), (lagged, lagged_fills, "lag"))]
    failed = next((c for c in checks if not c["agree"]), None)
    crosscheck = {
        "agree": failed is None,
        "first_divergence": None if failed is None else (failed["first_divergence"] or {}) | {"config": failed["config"]},
        "equity_rel_diff": max(c["equity_rel_diff"] for c in checks),
        "checked": [{k: c[k] for k in ("config", "agree", "trades", "equity_rel_diff")} for c in checks],
    }
    t_ref = time.perf_counter()
    return identity(frame, strat.name, fills) | {
        "params": combos[best],
        "trials": len(combos),
        "invalid": invalid,
        **metrics,
        "gates": {
            **deflated,
            "walk_forward": walk,
            "cost_stress_return": stressed.summary()[0]["total_return"],
            "cost_multiplier": cfg.cost_multiplier,
            "lag_return": lagged.summary()[0]["total_return"],
            "lag_sharpe": lagged.summary()[0]["sharpe"],
            "lag_bars": cfg.lag_bars,
            **gates.min_trades_gate(metrics["trades"], cfg.min_trades),
        },
        "crosscheck": crosscheck,
        "equity_curve": equity_curve(frame.index, selected.equity[:, 0], selected.close, fills.cash),
        "timings_s": {"data_check": t_data - t0, "simulate": t_sim - t_data, "gates": t_gates - t_sim,
                      "crosscheck": t_ref - t_gates},
    }


def warm_up(contract: bool = True) -> dict:
    """Pay a certification's cold-start costs now: vectorbt (`tradeswarm.backtest.warm_up`) and,
    with `contract`, the data contract's great-expectations suite.

    Returns `{engine, numba_cache_dir, import_s, first_call_s, contract_s}` (seconds).
    """
    from tradeswarm.backtest import warm_up as engine_warm_up
    from validation.contract import warm_up as contract_warm_up

    out = engine_warm_up()
    t0 = time.perf_counter()
    if contract:
        contract_warm_up()
    return out | {"contract_s": time.perf_counter() - t0}
