"""sma_crossover on hand-built prices, where every crossover bar is known."""

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from tradeswarm.agents.strategies import STRATEGIES, get_strategy, latest_signal


def _frame(close):
    idx = pd.date_range("2020-01-01", periods=len(close), freq="D", tz="UTC", name="timestamp")
    close = np.asarray(close, dtype=float)
    return pd.DataFrame({"open": close, "high": close, "low": close, "close": close,
                         "volume": 1.0}, index=idx)


def test_buy_on_cross_up_and_sell_on_cross_down_at_the_exact_bar():
    # falls, then rises (cross up), then falls again (cross down)
    close = [100 - i for i in range(20)] + [80 + 2 * i for i in range(20)] + [118 - 3 * i for i in range(20)]
    frame = _frame(close)
    sig = get_strategy("sma_crossover").signal(frame, {"fast": 2, "slow": 5})
    fast = frame.close.rolling(2).mean()
    slow = frame.close.rolling(5).mean()
    expected_buy = [t for t in range(5, 60) if fast.iloc[t] > slow.iloc[t] and not fast.iloc[t - 1] > slow.iloc[t - 1]]
    expected_sell = [t for t in range(5, 60) if fast.iloc[t] < slow.iloc[t] and not fast.iloc[t - 1] < slow.iloc[t - 1]]
    assert list(np.flatnonzero(sig.to_numpy() == 1)) == expected_buy
    assert list(np.flatnonzero(sig.to_numpy() == -1)) == expected_sell
    assert expected_buy and expected_sell


def test_warmup_bar_never_reads_as_crossover():
    # rising from the first bar: fast > slow as soon as slow exists, but that is no crossover
    sig = get_strategy("sma_crossover").signal(_frame(np.arange(1, 40)), {"fast": 2, "slow": 5})
    assert (sig == 0).all()
    # the same prices after a decline do cross: the rule can fire
    sig2 = get_strategy("sma_crossover").signal(_frame(list(range(40, 20, -1)) + list(range(20, 40))), {"fast": 2, "slow": 5})
    assert (sig2 == 1).sum() == 1


@pytest.mark.parametrize("bad", [{"fast": 50, "slow": 10}, {"fast": 10, "slow": 10}, {"fast": 1, "slow": 10},
                                 {"fast": 5, "slow": 10, "extra": 1}])
def test_params_are_validated(bad):
    with pytest.raises(ValidationError):
        get_strategy("sma_crossover").params(bad)


def test_unknown_strategy_names_the_known_ones():
    with pytest.raises(ValueError, match="sma_crossover"):
        get_strategy("nope")


def test_latest_signal_shape():
    out = latest_signal("sma_crossover", _frame(np.linspace(100, 120, 80)))
    assert set(out) == {"action", "confidence", "bar", "veto"}
    assert out["action"] in {"BUY", "SELL", "HOLD"} and 0.0 <= out["confidence"] <= 1.0
    assert out["veto"] is False
    assert out["bar"] == "2020-03-20T00:00:00+00:00"
    assert "sma_crossover" in STRATEGIES
