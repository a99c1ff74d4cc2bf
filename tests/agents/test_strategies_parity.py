"""Live/backtest parity and causality of every strategy on every shipped dataset.

A live agent calls `latest_signal` on the bars it holds; a backtest calls `signal` on the
whole history. They must agree bar for bar, or the backtest certifies a different strategy
from the one that trades.
"""

import numpy as np
import pandas as pd
import pytest

from tradeswarm.agents.strategies import STRATEGIES, get_strategy, latest_signal
from tradeswarm.marketdata import load_symbol, shipped_symbols

LIVE_WINDOW = 250  # bars a live agent holds (docs/contracts.md §4: Task.window)
ACTION = {1: "BUY", -1: "SELL", 0: "HOLD"}
CASES = [(name, sym) for name in sorted(STRATEGIES) for sym in shipped_symbols()]


def _probe_bars(n: int, warmup: int) -> list[int]:
    """Every 23rd bar, plus the bars around the warm-up edge and the end."""
    picks = set(range(0, n, 23)) | {max(0, warmup - 1), warmup, warmup + 1, n - 1}
    return sorted(t for t in picks if t < n)


@pytest.mark.parametrize("name,symbol", CASES)
def test_latest_signal_on_each_prefix_equals_the_backtest_series(name, symbol):
    frame = load_symbol(symbol)
    strategy = get_strategy(name)
    sig = strategy.signal(frame).to_numpy()
    conf = strategy.confidence(frame).to_numpy()
    for t in _probe_bars(len(frame), strategy.warmup()):
        live = latest_signal(name, frame.iloc[: t + 1])
        assert live["action"] == ACTION[int(sig[t])], (name, symbol, t)
        assert live["confidence"] == pytest.approx(conf[t], abs=1e-12)
        assert live["bar"] == frame.index[t].isoformat()


@pytest.mark.parametrize("name,symbol", CASES)
def test_live_window_answers_like_the_full_history_once_past_warmup(name, symbol):
    frame = load_symbol(symbol)
    strategy = get_strategy(name)
    assert strategy.warmup() + 1 <= LIVE_WINDOW, "defaults must fit a live agent's window"
    sig = strategy.signal(frame).to_numpy()
    conf = strategy.confidence(frame).to_numpy()
    mismatches = 0
    for t in range(LIVE_WINDOW - 1, len(frame), 11):
        live = latest_signal(name, frame.iloc[t + 1 - LIVE_WINDOW: t + 1])
        mismatches += live["action"] != ACTION[int(sig[t])]
        assert live["confidence"] == pytest.approx(conf[t], abs=1e-12)
    assert mismatches == 0
    # the smallest window that is enough: warmup + 1 bars
    w = strategy.warmup() + 1
    t = len(frame) - 1
    assert latest_signal(name, frame.iloc[t + 1 - w:])["action"] == ACTION[int(sig[t])]


@pytest.mark.parametrize("name,symbol", CASES)
def test_future_bars_never_change_past_signals(name, symbol):
    frame = load_symbol(symbol)
    strategy = get_strategy(name)
    cut = len(frame) // 2
    past = strategy.signal(frame.iloc[:cut]).to_numpy()
    # alter every future bar wildly: a crash, then a spike, then the full real history
    future = frame.iloc[cut:].copy()
    future[["open", "high", "low", "close"]] *= np.linspace(0.3, 3.0, len(future))[:, None]
    altered = pd.concat([frame.iloc[:cut], future])
    for full in (frame, altered):
        np.testing.assert_array_equal(strategy.signal(full).to_numpy()[:cut], past)
        np.testing.assert_allclose(strategy.confidence(full).to_numpy()[:cut],
                                   strategy.confidence(frame.iloc[:cut]).to_numpy())


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_warmup_bars_are_hold_and_the_rule_fires_after(name):
    frame = load_symbol("SPX")
    strategy = get_strategy(name)
    sig = strategy.signal(frame).to_numpy()
    assert (sig[: strategy.warmup()] == 0).all()
    assert (sig != 0).any(), f"{name} never fires on 20 years of SPX"


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_the_parity_check_catches_a_peeking_signal(name):
    """The check can fail: a series shifted one bar into the future disagrees with live answers."""
    frame = load_symbol("GOOG")
    strategy = get_strategy(name)
    peeking = strategy.signal(frame).shift(-1).fillna(0).to_numpy()
    start = strategy.warmup() + 1
    live = [latest_signal(name, frame.iloc[: t + 1])["action"] for t in range(start, start + 300)]
    assert any(ACTION[int(peeking[t])] != live[t - start] for t in range(start, start + 300))


def test_parity_report_counts_zero_for_every_registered_strategy():
    from tradeswarm.agents.strategies.parity import parity_report

    frame = load_symbol("NDX")
    for name in STRATEGIES:
        report = parity_report(name, frame, bars=60)
        assert report == {"strategy": name, "symbol": "NDX", "bars": 60, "mismatches": 0,
                          "window": LIVE_WINDOW, "first_mismatch": None}


def test_parity_report_catches_a_strategy_that_remembers_its_first_bar(monkeypatch):
    """A running peak since the first bar differs between a live window and the full history."""
    from tradeswarm.agents.strategies import Strategy, StrategyParams
    from tradeswarm.agents.strategies.parity import parity_report

    def compute(bars, p):
        drawdown = 1.0 - bars.close / np.maximum.accumulate(bars.close)
        return np.where(drawdown > 0.1, -1, 0), drawdown

    leaky = Strategy(name="leaky_peak", Params=StrategyParams, rule="veto 10 % below the all-time peak",
                     compute=compute, warmup_bars=lambda p: 0)
    monkeypatch.setitem(STRATEGIES, "leaky_peak", leaky)
    report = parity_report("leaky_peak", load_symbol("NDX"), bars=200)
    assert report["mismatches"] > 0 and report["first_mismatch"] is not None


def test_parity_report_refuses_a_window_shorter_than_warmup():
    from tradeswarm.agents.strategies.parity import parity_report

    with pytest.raises(ValueError, match="shorter than warm-up"):
        parity_report("momentum", load_symbol("SPX"), window=50)
