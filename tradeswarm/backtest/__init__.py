"""Backtests of the swarm's strategies: vectorbt engine, our metrics, sweeps.

The interface (no Prefect here; judging a backtest — gates, reference crosscheck, the data
contract — is `validation.backtest_validity.certify_backtest`):

- `run_backtest(frame, strategy, params, *, fees, slippage, cash, whole_shares=True, lag=0,
  check_data=None) -> dict` — metrics of one configuration.
- `run_sweep(frame, strategy, grid, ...) -> dict` — every combination in one vectorbt call:
  best configuration, `trials`, per-combination summary.
- `warm_up() -> dict` — imports vectorbt and runs a tiny backtest, so the first real call is
  fast; call it while other work runs (it is thread-safe).

Fill convention (shared with the paper broker): signals of bar t fill at bar t+1's open, buys
pay `open × (1 + slippage)`, sells get `open × (1 − slippage)`, fees are a fraction of order
value, all cash in whole shares, long only.
"""

from __future__ import annotations

import time

from tradeswarm.backtest._vbt import Fills
from tradeswarm.backtest.engine import run_backtest, run_sweep
from tradeswarm.backtest.settings import BacktestSettings

__all__ = ["BacktestSettings", "Fills", "run_backtest", "run_sweep", "warm_up"]


def warm_up() -> dict:
    """Pay the cold-start costs now: vectorbt import and first simulation.

    Returns `{engine, numba_cache_dir, import_s, first_call_s}` (seconds).
    """
    import numpy as np

    from tradeswarm.backtest import _vbt
    from tradeswarm.backtest import performance as m

    t0 = time.perf_counter()
    cache_dir = _vbt.ensure_numba_cache_dir()
    _vbt.vbt()
    engine = _vbt.default_engine()
    t1 = time.perf_counter()
    bars = 64
    close = np.linspace(10.0, 20.0, bars)
    signals = np.zeros((bars, 2), dtype=np.int8)
    signals[5, :], signals[20, 0] = 1, -1
    pf = _vbt.simulate(close, close, signals, Fills(cash=1_000.0))
    m.trades_from_orders(pf.orders.values, close[-1])
    pf.value()
    t2 = time.perf_counter()
    return {"engine": engine, "numba_cache_dir": cache_dir, "import_s": t1 - t0, "first_call_s": t2 - t1}
