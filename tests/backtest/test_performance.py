"""Metrics on constructed equity curves and trades with answers worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tradeswarm.backtest import performance as m


def _orders(rows):
    dt = np.dtype([("id", "i8"), ("col", "i8"), ("idx", "i8"), ("size", "f8"), ("price", "f8"), ("fees", "f8"), ("side", "i8")])
    return np.array([(i, *r) for i, r in enumerate(rows)], dtype=dt)


def test_equity_metrics_known_answer():
    eq = np.array([[100.0], [110.0], [99.0], [121.0]])
    r = np.array([0.0, 0.1, -0.1, 121 / 99 - 1])
    assert np.allclose(m.returns(eq, 100.0)[:, 0], r)
    mean, sd = r.mean(), math.sqrt(((r - r.mean()) ** 2).sum() / 3)
    assert m.sharpe(m.returns(eq, 100.0))[0] == pytest.approx(mean / sd * math.sqrt(252))
    assert m.sortino(m.returns(eq, 100.0))[0] == pytest.approx(mean / math.sqrt(0.01 / 4) * math.sqrt(252))
    assert m.max_drawdown(eq)[0] == pytest.approx(-0.1)
    assert m.max_drawdown_duration(eq)[0] == 1
    # never recovered: the duration runs to the end
    assert m.max_drawdown_duration(np.array([[100.0], [120.0], [90.0], [95.0], [100.0]]))[0] == 3
    assert m.sharpe(np.zeros((5, 1)))[0] != m.sharpe(np.zeros((5, 1)))[0]  # flat → NaN, never inf


def test_trades_and_summary_known_answer():
    close = np.array([10.0, 10.0, 12.0, 11.0, 9.0, 10.0, 13.0])
    # col 0: win (buy 10 @10 fee 1, sell @12 fee 1: pnl 18), loss (buy 10 @11, sell @9: pnl -20 - 2),
    #        then an open trade bought @10 at bar 5 (valued at the last close 13)
    orders = _orders([
        (0, 1, 10, 10.0, 1.0, 0), (0, 2, 10, 12.0, 1.0, 1),
        (0, 3, 10, 11.0, 1.0, 0), (0, 4, 10, 9.0, 1.0, 1),
        (0, 5, 5, 10.0, 0.5, 0),
    ])
    tr = m.trades_from_orders(orders, close[-1])
    assert tr.pnl.tolist() == [18.0, -22.0, 5 * 13.0 - 50.5]
    assert tr.is_open.tolist() == [False, False, True]
    eq = m.equity_from_trades(tr, close, 1000.0, 1)
    assert eq[:, 0].tolist() == pytest.approx([1000, 999, 1018, 1017, 996, 995.5, 1010.5])
    s = m.summarize(eq, tr, close, 1000.0)[0]
    assert s["trades"] == 3 and s["closed_trades"] == 2 and s["open_trade"] is True
    assert s["win_rate"] == 0.5 and s["profit_factor"] == pytest.approx(18 / 22)
    assert s["exposure"] == pytest.approx(4 / 7)  # bars 1, 3, 5, 6 end holding shares
    assert s["total_return"] == pytest.approx(0.0105)
    assert s["cagr"] == pytest.approx(1.0105 ** (252 / 7) - 1)
    assert s["benchmark_return"] == pytest.approx(0.3)
    assert s["final_equity"] == pytest.approx(1010.5)


def test_profit_factor_is_none_without_a_loss_and_win_rate_none_without_trades():
    close = np.array([10.0, 11.0, 12.0])
    tr = m.trades_from_orders(_orders([(0, 1, 1, 11.0, 0.0, 0), (0, 2, 1, 12.0, 0.0, 1)]), close[-1])
    s = m.summarize(m.equity_from_trades(tr, close, 100.0, 2), tr, close, 100.0)
    assert s[0]["profit_factor"] is None and s[0]["win_rate"] == 1.0
    assert s[1]["trades"] == 0 and s[1]["win_rate"] is None and s[1]["total_return"] == 0.0


@pytest.mark.parametrize("columns", [1, 2, 16, 17, 33, 40])
def test_block_by_block_curve_metrics_equal_whole_matrix_ones_bit_for_bit(columns):
    """33 columns would leave a lone last column, which numpy would sum in another order."""
    rng = np.random.default_rng(columns)
    equity = 1000.0 * np.cumprod(1.0 + rng.normal(0.0005, 0.01, size=(400, columns)), axis=0)
    curve = m._curve_metrics(equity, 1000.0)
    r = m.returns(equity, 1000.0)
    np.testing.assert_array_equal(curve["sharpe"], m.sharpe(r))
    np.testing.assert_array_equal(curve["sortino"], m.sortino(r))
    np.testing.assert_array_equal(curve["volatility"], m._std(r) * np.sqrt(m.YEAR))
    np.testing.assert_array_equal(curve["max_drawdown"], m.max_drawdown(equity))
    np.testing.assert_array_equal(curve["max_drawdown_duration"], m.max_drawdown_duration(equity))
    assert [hi - lo for lo, hi in m._blocks(columns)].count(1) == (columns == 1)


def test_equity_of_columns_without_any_trade_is_float_cash():
    """Regression: bincount over no trades counts in integers, and in-place float adds refused it."""
    tr = m.trades_from_orders(_orders([]), 10.0)
    close = np.array([10.0, 11.0, 12.0])
    eq = m.equity_from_trades(tr, close, 500.0, 2)
    assert eq.dtype == float and eq.shape == (3, 2) and (eq == 500.0).all()
    assert [s["total_return"] for s in m.summarize(eq, tr, close, 500.0)] == [0.0, 0.0]
