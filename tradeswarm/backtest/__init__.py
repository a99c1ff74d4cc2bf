"""Backtests of the swarm's strategies: vectorbt engine, our metrics, sweeps and certification.

The interface the pipeline calls (no Prefect here):

- `validate_frame(frame, dataset, settings) -> dict` — one `data_validation` entry
  (re-exported from `validation.contract`; settings: max_gap_days, min_rows, max_move,
  marked_dates).
- `run_backtest(frame, strategy, params, *, fees, slippage, cash, whole_shares=True, lag=0)
  -> dict` — metrics of one configuration.
- `run_sweep(frame, strategy, grid, ...) -> dict` — every combination in one vectorbt call:
  best configuration, `trials`, per-combination summary.
- `certify_backtest(frame, strategy, params_or_grid, settings) -> dict` — one `backtests`
  evidence entry: metrics + gates + crosscheck + trials + `equity_curve` (≤ 300 points).
- `validate_in_background(frames: {name: frame}, settings=None) -> ContractJob` — the data
  contract in a helper process (overlapping this one's vectorbt import); `.result()` waits,
  stamps the frames with their verdicts and returns `{name: data_validation entry}`.
- `warm_up() -> dict` — imports vectorbt and great-expectations and runs a tiny backtest, so
  the first real call is fast; call it while other work runs (it is thread-safe).

Fill convention (shared with the paper broker): signals of bar t fill at bar t+1's open, buys
pay `open × (1 + slippage)`, sells get `open × (1 − slippage)`, fees are a fraction of order
value, all cash in whole shares, long only. A dataset that failed the data contract is refused
with `DataContractError`.
"""

from __future__ import annotations

import time

from tradeswarm.backtest._vbt import Fills
from tradeswarm.backtest.certify import certify_backtest
from tradeswarm.backtest.contract_job import validate_in_background
from tradeswarm.backtest.engine import run_backtest, run_sweep
from tradeswarm.backtest.settings import BacktestSettings
from validation.contract import ContractSettings, DataContractError, validate_frame

__all__ = [
    "BacktestSettings", "ContractSettings", "DataContractError", "Fills", "certify_backtest",
    "run_backtest", "run_sweep", "validate_frame", "validate_in_background", "warm_up",
]


def warm_up(contract: bool = True) -> dict:
    """Pay the cold-start costs now: vectorbt import and first simulation, the GX suite.

    Returns `{engine, numba_cache_dir, import_s, first_call_s, contract_s}` (seconds).
    """
    import numpy as np

    from tradeswarm.backtest import _vbt
    from tradeswarm.backtest import metrics as m

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
    if contract:
        from validation.contract import warm_up as contract_warm_up

        contract_warm_up()
    t3 = time.perf_counter()
    return {"engine": engine, "numba_cache_dir": cache_dir, "import_s": t1 - t0,
            "first_call_s": t2 - t1, "contract_s": t3 - t2}
