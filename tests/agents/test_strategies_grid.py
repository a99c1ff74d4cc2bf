"""`Strategy.signal_grid` (a sweep's many parameter sets at once) equals one-by-one signals.

The grid shares indicators across combinations and skips the confidence; the reference is
`Strategy.arrays`, the path a live agent's `latest_signal` runs, one combination at a time.
"""

import numpy as np
import pytest

from tradeswarm.agents.strategies import STRATEGIES, get_strategy
from tradeswarm.agents.strategies._base import Memo
from tradeswarm.marketdata import load_symbol, shipped_symbols

#: Per strategy, parameter sets that repeat some windows and vary others (what a sweep does).
GRIDS = {
    "sma_crossover": [{"fast": f, "slow": s} for f in (2, 5, 10, 20) for s in (30, 50, 200)],
    "momentum": [{"lookback": lb, "z_window": zw, "entry_z": ez, "macd_fast": mf}
                 for lb in (5, 20) for zw in (20, 60) for ez in (0.25, 1.0) for mf in (8, 12)],
    "mean_reversion": [{"window": w, "entry_z": ez, "exit_z": xz}
                       for w in (10, 20, 60) for ez in (1.0, 2.0) for xz in (-0.5, 0.0, 0.5)],
    "breakout": [{"entry": e, "exit": x} for e in (10, 20, 55) for x in (5, 10) if x <= e],
    "risk_manager": [{"peak_window": pw, "max_drawdown": md, "vol_window": vw}
                     for pw in (20, 126) for md in (0.05, 0.15) for vw in (10, 20)],
}
CASES = [(name, sym) for name in sorted(STRATEGIES) for sym in shipped_symbols()]


def test_every_strategy_has_a_grid_here():
    assert set(GRIDS) == set(STRATEGIES)


@pytest.mark.parametrize("name,symbol", CASES)
def test_signal_grid_equals_one_by_one_signals_bit_for_bit(name, symbol):
    frame = load_symbol(symbol)
    strategy = get_strategy(name)
    combos = [{}] + GRIDS[name]
    grid = strategy.signal_grid(frame, combos)
    assert grid.shape == (len(frame), len(combos)) and grid.dtype == np.int8
    for j, params in enumerate(combos):
        np.testing.assert_array_equal(grid[:, j], strategy.arrays(frame, params)[0], err_msg=f"{name} {params}")
        np.testing.assert_array_equal(grid[:, j], strategy.signal(frame, params).to_numpy())
    # the comparison can fail: the parameter sets give different signals on real data
    assert len({grid[:, j].tobytes() for j in range(len(combos))}) > 1


def test_a_grid_that_mixed_up_shared_indicators_would_be_caught():
    """Sharing the fast SMA under the wrong key (every window memoised as one) changes columns."""
    frame = load_symbol("GOOG")
    strategy = get_strategy("sma_crossover")
    combos = GRIDS["sma_crossover"]
    good = strategy.signal_grid(frame, combos)

    class OneKeyMemo(Memo):
        def __call__(self, key, make):
            return super().__call__(key[:1], make)

    from tradeswarm.agents.strategies._base import Bars

    memo = OneKeyMemo()
    wrong = np.column_stack([strategy._signal(Bars.of(frame), strategy.params(p), memo) for p in combos])
    assert not np.array_equal(good, wrong)


def test_memoised_indicators_are_read_only():
    memo = Memo()
    value = memo(("x",), lambda: np.arange(3.0))
    assert memo(("x",), lambda: np.zeros(3)) is value
    with pytest.raises(ValueError):
        value[0] = 1.0


def test_a_strategy_without_a_signal_half_still_grids_through_compute():
    from tradeswarm.agents.strategies import Strategy, StrategyParams

    def compute(bars, p):
        return np.where(bars.close > bars.open, 1, -1), np.ones(len(bars.close))

    plain = Strategy(name="up_bar", Params=StrategyParams, rule="BUY an up bar", compute=compute,
                     warmup_bars=lambda p: 3)
    frame = load_symbol("GOOG")
    grid = plain.signal_grid(frame, [{}, None])
    np.testing.assert_array_equal(grid[:, 0], plain.arrays(frame)[0])
    np.testing.assert_array_equal(grid[:, 1], plain.arrays(frame)[0])
    assert (grid[:3] == 0).all() and (grid[3:] != 0).all()
