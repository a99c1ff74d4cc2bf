"""The reference event loop: known answers, agreement with vectorbt, and catching a broken engine."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.backtest.shipped import SYMBOLS, load
from tradeswarm.agents.strategies import STRATEGIES
from tradeswarm.backtest._vbt import Fills
from tradeswarm.backtest.engine import signal_matrix, simulate_signals
from validation.reference import crosscheck, simulate


def test_known_answer_with_fees_and_slippage():
    o = np.array([10.0, 20.0, 21.0, 25.0, 30.0])
    c = np.array([10.0, 20.5, 22.0, 26.0, 31.0])
    res = simulate(o, c, np.array([1, 0, -1, 0, 0]), fees=0.01, slippage=0.1, cash=1000.0)
    buy = 20.0 * 1.1
    qty = (1000.0 / 1.01) // buy  # 45 shares
    sell = 25.0 * 0.9
    cash = 1000.0 - qty * buy * 1.01 + qty * sell * 0.99
    (t,) = res.trades
    assert (t["entry_bar"], t["exit_bar"], t["qty"]) == (1, 3, qty) == (1, 3, 45.0)
    assert t["entry_price"] == pytest.approx(buy) and t["exit_price"] == pytest.approx(sell)
    assert res.equity[0] == 1000.0 and res.final_equity == pytest.approx(cash)


@pytest.mark.parametrize("symbol", SYMBOLS)
@pytest.mark.parametrize("whole_shares,lag", [(True, 0), (False, 1)])
def test_reference_agrees_with_vectorbt_on_every_strategy(symbol, whole_shares, lag):
    frame = load(symbol)
    o, c = frame["open"].to_numpy(), frame["close"].to_numpy()
    fills = Fills(whole_shares=whole_shares, lag=lag)
    for name in STRATEGIES:
        sig = signal_matrix(frame, name, [{}])
        run = simulate_signals(frame, sig, fills)
        ref = simulate(o, c, sig[:, 0], fees=fills.fees, slippage=fills.slippage, cash=fills.cash,
                       whole_shares=whole_shares, lag=lag)
        out = crosscheck(run.trades.column(0), float(run.equity[-1, 0]), ref)
        assert out["agree"], (name, out)
        assert out["equity_rel_diff"] <= 1e-9
        assert np.allclose(run.equity[:, 0], ref.equity, rtol=1e-9)


def test_same_bar_fills_make_the_crosscheck_disagree_at_the_first_trade():
    frame = load("SPX")
    o, c = frame["open"].to_numpy(), frame["close"].to_numpy()
    sig = signal_matrix(frame, "sma_crossover", [{"fast": 10, "slow": 50}])
    run = simulate_signals(frame, sig, Fills())
    broken = simulate(o, c, sig[:, 0], fees=0.001, slippage=0.0005, cash=100_000.0, fill="signal_close")
    out = crosscheck(run.trades.column(0), float(run.equity[-1, 0]), broken)
    assert out["agree"] is False
    first = out["first_divergence"]
    assert first["trade"] == 0 and first["field"] == "entry_bar"
    assert first["engine"]["entry_bar"] == first["reference"]["entry_bar"] + 1


def test_a_look_ahead_engine_is_caught():
    frame = load("GOOG")
    o, c = frame["open"].to_numpy(), frame["close"].to_numpy()
    sig = signal_matrix(frame, "momentum", [{}])
    peeking = np.roll(sig, -1, axis=0)  # the engine sees tomorrow's signal today
    peeking[-1] = 0
    run = simulate_signals(frame, peeking, Fills())
    ref = simulate(o, c, sig[:, 0], fees=0.001, slippage=0.0005, cash=100_000.0)
    out = crosscheck(run.trades.column(0), float(run.equity[-1, 0]), ref)
    assert not out["agree"] and out["first_divergence"]["trade"] == 0


def test_missing_trade_and_equity_difference_are_reported():
    ref = simulate(np.array([10.0, 10, 11]), np.array([10.0, 10, 11]), np.array([1, 0, 0]),
                   fees=0, slippage=0, cash=100)
    assert crosscheck([], 100.0, ref)["first_divergence"]["field"] == "missing"
    same = crosscheck([dict(ref.trades[0])], ref.final_equity * (1 + 1e-6), ref)
    assert same["first_divergence"] is None and not same["agree"] and same["equity_rel_diff"] == pytest.approx(1e-6)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    bars=st.integers(2, 120),
    fees=st.sampled_from([0.0, 0.001, 0.01]),
    slippage=st.sampled_from([0.0, 0.0005, 0.02]),
    whole_shares=st.booleans(),
    lag=st.integers(0, 2),
)
def test_reference_agrees_on_random_signals(seed, bars, fees, slippage, whole_shares, lag):
    rng = np.random.default_rng(seed)
    close = 50 * np.exp(np.cumsum(rng.normal(0, 0.03, bars)))
    open_ = close * np.exp(rng.normal(0, 0.01, bars))
    sig = rng.choice(np.array([-1, 0, 1], dtype=np.int8), size=bars, p=[0.2, 0.6, 0.2])
    frame = pd.DataFrame({"open": open_, "high": np.maximum(open_, close), "low": np.minimum(open_, close),
                          "close": close, "volume": 1.0},
                         index=pd.date_range("2020-01-01", periods=bars, freq="D", tz="UTC", name="timestamp"))
    fills = Fills(fees=fees, slippage=slippage, cash=10_000.0, whole_shares=whole_shares, lag=lag)
    run = simulate_signals(frame, sig, fills)
    ref = simulate(open_, close, sig, fees=fees, slippage=slippage, cash=10_000.0, whole_shares=whole_shares, lag=lag)
    out = crosscheck(run.trades.column(0), float(run.equity[-1, 0]), ref)
    assert out["agree"], out
