"""Each strategy's rule on prices built so the right answer is known by hand."""

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from tradeswarm.agents.strategies import STRATEGIES, get_strategy, latest_signal


def _frame(close, high=None, low=None):
    close = np.asarray(close, dtype=float)
    idx = pd.date_range("2021-01-04", periods=len(close), freq="B", tz="UTC", name="timestamp")
    return pd.DataFrame({"open": close, "high": close if high is None else high,
                         "low": close if low is None else low, "close": close, "volume": 1e6}, index=idx)


def _noisy(n, seed=0, drift=0.0, vol=0.01, start=100.0):
    rng = np.random.default_rng(seed)
    return start * np.exp(np.cumsum(rng.normal(drift, vol, n)))


def test_breakout_uses_previous_bars_channel():
    close = np.full(40, 100.0)
    high, low = close + 1.0, close - 1.0
    close[30], high[30] = 102.0, 102.5   # closes above the previous 20 highs (101)
    close[31], high[31] = 102.2, 102.4   # above 101 but not above the channel that now holds 102.5
    close[35], low[35] = 98.0, 97.5      # below the previous 10 lows (99)
    sig = get_strategy("breakout").signal(_frame(close, high, low), {"entry": 20, "exit": 10}).to_numpy()
    assert sig[30] == 1
    assert sig[31] == 0
    assert sig[35] == -1
    assert np.count_nonzero(sig) == 2


def test_mean_reversion_buys_below_the_band_and_sells_back_at_the_mean():
    close = list(_noisy(60, seed=1, vol=0.002)) + [90.0]
    sig = get_strategy("mean_reversion").signal(_frame(close), {"window": 20, "entry_z": 2.0, "exit_z": 0.5})
    assert sig.iloc[-1] == 1
    up = list(_noisy(60, seed=1, vol=0.002)) + [110.0]
    assert get_strategy("mean_reversion").signal(_frame(up), {"window": 20, "entry_z": 2.0, "exit_z": 0.5}).iloc[-1] == -1


def test_momentum_buys_in_an_uptrend_and_sells_in_a_downtrend():
    flat = _noisy(200, seed=2, vol=0.005)
    rising = np.concatenate([flat, flat[-1] * np.exp(np.cumsum(np.full(40, 0.004) + np.random.default_rng(3).normal(0, 0.004, 40)))])
    falling = np.concatenate([flat, flat[-1] * np.exp(np.cumsum(np.full(40, -0.004) + np.random.default_rng(3).normal(0, 0.004, 40)))])
    params = {"rsi_overbought": 95.0, "rsi_oversold": 5.0}
    up = get_strategy("momentum").signal(_frame(rising), params).to_numpy()[205:]  # the trend has begun
    down = get_strategy("momentum").signal(_frame(falling), params).to_numpy()[205:]  # the trend has begun
    assert (up == 1).sum() > 10 and (up == -1).sum() == 0
    assert (down == -1).sum() > 10 and (down == 1).sum() == 0


def test_momentum_rsi_filter_blocks_overbought_buys():
    rising = np.concatenate([_noisy(200, seed=2, vol=0.005), 100 * np.exp(np.cumsum(np.full(40, 0.01)))])
    strict = get_strategy("momentum").signal(_frame(rising), {"rsi_overbought": 60.0}).to_numpy()[200:]
    loose = get_strategy("momentum").signal(_frame(rising), {"rsi_overbought": 99.0}).to_numpy()[200:]
    assert (loose == 1).sum() > (strict == 1).sum()


def test_risk_manager_vetoes_a_drawdown_and_not_a_calm_market():
    calm = _noisy(200, seed=4, vol=0.003)
    assert latest_signal("risk_manager", _frame(calm))["veto"] is False
    crash = np.concatenate([calm, calm[-1] * np.linspace(1.0, 0.8, 10)])  # −20 %, at low volatility
    out = latest_signal("risk_manager", _frame(crash), {"max_drawdown": 0.15, "max_volatility": 5.0})
    assert out == {**out, "action": "SELL", "veto": True}


def test_risk_manager_vetoes_volatility_alone():
    wild = _noisy(200, seed=5, vol=0.05)  # ~80 % annualized
    out = latest_signal("risk_manager", _frame(wild), {"max_drawdown": 0.99, "max_volatility": 0.45})
    assert out["veto"] is True
    tame = latest_signal("risk_manager", _frame(wild), {"max_drawdown": 0.99, "max_volatility": 4.0})
    assert tame["veto"] is False


def test_only_risk_manager_ever_vetoes():
    frame = _frame(np.concatenate([_noisy(200, seed=6), np.linspace(120, 60, 30)]))
    for name in STRATEGIES:
        out = latest_signal(name, frame)
        assert out["veto"] is (name == "risk_manager" and out["action"] == "SELL")


@pytest.mark.parametrize("name,bad", [
    ("momentum", {"macd_fast": 30, "macd_slow": 26}),
    ("momentum", {"lookback": 1}),
    ("mean_reversion", {"entry_z": 1.0, "exit_z": -1.5}),
    ("mean_reversion", {"window": 2}),
    ("breakout", {"entry": 10, "exit": 20}),
    ("risk_manager", {"max_drawdown": 1.5}),
    ("risk_manager", {"unknown": 1}),
])
def test_bad_params_are_refused(name, bad):
    with pytest.raises(ValidationError):
        get_strategy(name).params(bad)


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_every_strategy_documents_its_rule(name):
    strategy = get_strategy(name)
    assert len(strategy.rule) > 40
    assert strategy.Params.model_config["extra"] == "forbid"
    conf = strategy.confidence(_frame(_noisy(400, seed=7, vol=0.02)))
    assert conf.between(0.0, 1.0).all()
    import pydoc

    shown = pydoc.render_doc(strategy)  # what help(momentum) prints: this strategy's rule, not another's
    assert strategy.rule in shown and all(f"`{k}`" in shown for k in strategy.Params.model_fields)
    assert not any(other.rule in shown for other in STRATEGIES.values() if other is not strategy)


def test_empty_frame_is_a_clear_error():
    with pytest.raises(ValueError, match="empty frame"):
        latest_signal("sma_crossover", _frame([]))


def test_extra_columns_are_ignored_and_a_missing_one_is_named():
    frame = _frame(_noisy(120, seed=8))
    with_extra = frame.assign(note="x", adj_close=frame["close"])
    for name in STRATEGIES:
        assert (get_strategy(name).signal(with_extra) == get_strategy(name).signal(frame)).all()
    with pytest.raises(ValueError, match="lacks column.*volume"):
        latest_signal("breakout", frame.drop(columns="volume"))


def _momentum_parts():
    """SPX's momentum indicators past warm-up, from the strategy's own helpers."""
    import importlib

    from tradeswarm.agents.strategies._base import Bars, Memo
    from tradeswarm.agents.strategies._indicators import rsi
    from tradeswarm.marketdata.shipped import load_symbol

    mod = importlib.import_module("tradeswarm.agents.strategies.momentum")  # the module, not the Strategy
    frame = load_symbol("SPX")
    strategy = get_strategy("momentum")
    p, bars, memo = strategy.params({}), Bars.of(frame), Memo()
    past = np.arange(len(frame)) >= strategy.warmup(p)
    parts = {"z": mod._z(bars, p, memo), "rsi": rsi(bars.close, p.rsi_period), "hist": mod._macd_histogram(bars, p, memo)}
    return frame, strategy.signal(frame).to_numpy(), p, parts, past


@pytest.mark.parametrize("side,failing", [("BUY", "hist"), ("BUY", "rsi"), ("SELL", "hist"), ("SELL", "rsi")])
def test_momentum_each_filter_alone_turns_a_signal_into_hold(side, failing):
    frame, sig, p, v, past = _momentum_parts()
    if side == "BUY":
        conds = {"z": v["z"] > p.entry_z, "rsi": v["rsi"] < p.rsi_overbought, "hist": v["hist"] > 0}
    else:
        conds = {"z": v["z"] < -p.entry_z, "rsi": v["rsi"] > p.rsi_oversold, "hist": v["hist"] < 0}
    others = past & np.logical_and.reduce([c for k, c in conds.items() if k != failing])
    blocked = np.flatnonzero(others & ~conds[failing])   # e.g. z > entry_z, RSI fine, MACD histogram < 0
    passed = np.flatnonzero(others & conds[failing])
    assert len(blocked) > 20 and len(passed) > 20       # SPX has both kinds of bars
    assert (sig[blocked] == 0).all()
    assert (sig[passed] == (1 if side == "BUY" else -1)).all()
    t = blocked[blocked >= 249][0]  # and a live agent with a 250-bar window at that bar says the same
    assert latest_signal("momentum", frame.iloc[t + 1 - 250: t + 1])["action"] == "HOLD"


def test_breakout_exits_on_the_exit_channel_not_the_entry_channel():
    close = np.full(40, 100.0)
    high, low = close + 1.0, close - 1.0
    low[20] = 90.0                      # 15 bars before bar 35: inside the 20-bar channel, outside the 10-bar one
    close[35], low[35] = 95.0, 95.0     # under the previous 10 lows (99), above the previous 20 lows (90)
    sig = get_strategy("breakout").signal(_frame(close, high, low), {"entry": 20, "exit": 10}).to_numpy()
    assert sig[35] == -1
    wide = get_strategy("breakout").signal(_frame(close, high, low), {"entry": 20, "exit": 20}).to_numpy()
    assert wide[35] == 0
