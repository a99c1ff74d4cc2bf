"""The vectorbt engine: next-open fills (no look-ahead), sizing, sweeps equal single runs."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from tests.backtest.shipped import load
from tradeswarm.backtest import run_backtest, run_sweep
from tradeswarm.backtest._vbt import Fills, simulate, simulate_orders
from tradeswarm.backtest.engine import signal_matrix, simulate_signals


def _frame(open_, close):
    idx = pd.date_range("2020-01-01", periods=len(close), freq="D", tz="UTC", name="timestamp")
    o, c = np.asarray(open_, float), np.asarray(close, float)
    return pd.DataFrame({"open": o, "high": np.maximum(o, c), "low": np.minimum(o, c), "close": c, "volume": 1.0}, index=idx)


def test_signal_fills_at_next_bars_open_not_the_signal_bar():
    # bar 3 gaps up 50 % at its open; a signal seen on bar 3 must pay the gapped-up price of bar 4.
    # An engine that filled on the signal bar (close or open) would buy below 15 and show a profit.
    close = [10, 10, 10, 15, 15, 15, 15]
    open_ = [10, 10, 10, 15, 15.5, 15, 15]
    frame = _frame(open_, close)
    sig = np.array([0, 0, 0, 1, 0, 0, 0], dtype=np.int8)
    run = simulate_signals(frame, sig, Fills(fees=0.0, slippage=0.01, cash=1000.0))
    (trade,) = run.trades.column(0)
    assert trade["entry_bar"] == 4 and trade["entry_price"] == pytest.approx(15.5 * 1.01)
    assert trade["qty"] == 1000 // (15.5 * 1.01) and trade["exit_bar"] is None
    assert run.equity[-1, 0] < 1000.0  # no foresight profit
    # a signal on the last bar never fills
    last = simulate_signals(frame, np.array([0, 0, 0, 0, 0, 0, 1], dtype=np.int8), Fills(cash=1000.0))
    assert last.trades.column(0) == [] and last.equity[-1, 0] == 1000.0


def test_lag_delays_fills_by_one_more_bar():
    frame = _frame([10, 11, 12, 13, 14, 15], [10, 11, 12, 13, 14, 15])
    sig = np.array([1, 0, -1, 0, 0, 0], dtype=np.int8)
    now = simulate_signals(frame, sig, Fills(fees=0, slippage=0, cash=100)).trades.column(0)[0]
    lag = simulate_signals(frame, sig, Fills(fees=0, slippage=0, cash=100, lag=1)).trades.column(0)[0]
    assert (now["entry_bar"], now["exit_bar"]) == (1, 3) and (lag["entry_bar"], lag["exit_bar"]) == (2, 4)


def test_whole_shares_by_default_fractional_on_request():
    frame = load("GOOG")
    whole = run_backtest(frame, "sma_crossover", {"fast": 10, "slow": 30}, with_trades=True)
    frac = run_backtest(frame, "sma_crossover", {"fast": 10, "slow": 30}, whole_shares=False, with_trades=True)
    assert all(float(t["qty"]).is_integer() for t in whole["trades_list"])
    assert not all(float(t["qty"]).is_integer() for t in frac["trades_list"])
    assert [t["entry_bar"] for t in whole["trades_list"]] == [t["entry_bar"] for t in frac["trades_list"]]


def test_sweep_equals_one_by_one_runs():
    frame = load("SPX")
    grid = {"fast": [5, 10, 20], "slow": [10, 50, 100]}
    sweep = run_sweep(frame, "sma_crossover", grid, fees=0.002)
    assert sweep["trials"] == 7 and sweep["invalid"] == 2  # fast ≥ slow (10/10, 20/10) is refused
    for row in sweep["results"]:
        single = run_backtest(frame, "sma_crossover", row["params"], fees=0.002)
        for key in ("total_return", "sharpe", "max_drawdown", "trades"):
            assert row[key] == pytest.approx(single[key], rel=1e-12, abs=1e-15), (row["params"], key)
    best = max(sweep["results"], key=lambda r: r["sharpe"])
    assert sweep["best"]["params"] == best["params"]


def test_equity_rebuilt_from_orders_equals_vectorbt_value():
    frame = load("NDX")
    from tradeswarm.agents.strategies import STRATEGIES

    combos = [{}] * 1
    for name in STRATEGIES:
        sig = signal_matrix(frame, name, combos)
        ours = simulate_signals(frame, sig, Fills()).equity
        theirs = simulate_signals(frame, sig, Fills(), vbt_equity=True).equity
        assert np.allclose(ours, theirs, rtol=1e-12, atol=1e-6), name


def test_a_backtest_is_refused_by_its_data_check_and_only_then():
    frame = load("GOOG")
    frame.iloc[100, frame.columns.get_loc("low")] = frame["high"].iloc[100] + 1
    seen = []

    def refuse(f):
        seen.append(f)
        raise LookupError("refused")

    with pytest.raises(LookupError, match="refused"):
        run_backtest(frame, "momentum", check_data=refuse)
    with pytest.raises(LookupError):
        run_sweep(frame, "sma_crossover", {"fast": [5], "slow": [20]}, check_data=refuse)
    assert seen == [frame, frame]
    # the engine itself computes and does not judge (validation.backtest_validity does)
    assert run_sweep(frame, "sma_crossover", {"fast": [5], "slow": [20]})["trials"] == 1


def test_bad_strategy_and_params_are_value_errors():
    frame = load("GOOG")
    with pytest.raises(ValueError, match="known"):
        run_backtest(frame, "nope")
    with pytest.raises(ValueError, match="unknown parameter"):
        run_sweep(frame, "sma_crossover", {"window": [3]})


@pytest.mark.slow
def test_rust_engine_matches_numba_engine():
    frame = load("GOOG")
    sig = signal_matrix(frame, "sma_crossover", [{"fast": f, "slow": s} for f in (5, 10) for s in (30, 60)])
    rust = simulate_signals(frame, sig, Fills(), engine="rust", vbt_equity=True)
    numba = simulate_signals(frame, sig, Fills(), engine="numba", vbt_equity=True)
    assert np.array_equal(rust.portfolio.orders.values, numba.portfolio.orders.values)
    assert np.allclose(rust.portfolio.value().to_numpy(), numba.portfolio.value().to_numpy(), rtol=1e-12)
    o, c = frame["open"].to_numpy(float), frame["close"].to_numpy(float)
    assert _same_records(simulate_orders(o, c, sig, Fills(), engine="numba"), rust.portfolio.orders.values)


def _same_records(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype.names == b.dtype.names and len(a) == len(b) and all(np.array_equal(a[k], b[k]) for k in a.dtype.names)


@pytest.mark.parametrize("fills", [Fills(), Fills(fees=0.004, slippage=0.002, lag=1),
                                   Fills(whole_shares=False, cash=2_500.0)], ids=["default", "costly-lagged", "fractional"])
def test_orders_without_a_portfolio_equal_from_signals(fills):
    """`simulate_orders` passes vectorbt's engine what `Portfolio.from_signals` would: same records."""
    from tradeswarm.agents.strategies import STRATEGIES

    for symbol in ("SPX", "GOOG"):
        frame = load(symbol)
        o, c = frame["open"].to_numpy(float), frame["close"].to_numpy(float)
        for name in STRATEGIES:
            sig = signal_matrix(frame, name, [{}])
            assert _same_records(simulate_orders(o, c, sig, fills), simulate(o, c, sig, fills).orders.values), \
                (symbol, name)
    # the opposite case: the comparison sees a one-bar difference in the fills
    frame = load("SPX")
    o, c = frame["open"].to_numpy(float), frame["close"].to_numpy(float)
    sig = signal_matrix(frame, "sma_crossover", [{}])
    lagged = replace(fills, lag=fills.lag + 1)
    assert not _same_records(simulate_orders(o, c, sig, lagged), simulate(o, c, sig, fills).orders.values)


@pytest.mark.slow
def test_unwritable_numba_cache_dir_is_replaced(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    env = {**os.environ, "NUMBA_CACHE_DIR": str(blocker / "cache"), "XDG_CACHE_HOME": str(tmp_path / "xdg"),
           "PYTHONPATH": os.getcwd()}
    code = "from tradeswarm.backtest import warm_up; import os; print(warm_up()['numba_cache_dir'])"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(tmp_path / "xdg" / "tradeswarm" / "numba")
    assert "not writable" in out.stderr
