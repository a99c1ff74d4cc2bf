"""PaperBroker fills at the next bar's open with fees and slippage, hand-computed."""

import numpy as np
import pandas as pd
import pytest

from tradeswarm.broker import PaperBroker, fill_fee, fill_price
from tradeswarm.broker.fills import BUY, SELL


def test_fill_rule_by_hand():
    assert fill_price(200.0, BUY, 0.001) == pytest.approx(200.2)
    assert fill_price(200.0, SELL, 0.001) == pytest.approx(199.8)
    assert fill_fee(3, 200.2, 0.0025) == pytest.approx(1.5015)
    opens = pd.Series([10.0, 20.0])
    np.testing.assert_allclose(fill_price(opens, np.array([1, -1]), 0.01), [10.1, 19.8])
    with pytest.raises(ValueError):
        fill_price(1.0, BUY, -0.1)


def test_order_fills_at_the_next_bar_open_not_the_current_close():
    broker = PaperBroker(fees=0.001, slippage=0.002)
    broker.on_bar("SPX", open=100.0, close=105.0)       # bar t: the agent sees close 105
    order = broker.submit_order("SPX", 10, "buy")       # decided after bar t
    assert order.status == "accepted" and broker.get_positions() == {}
    filled = broker.on_bar("GOOG", open=500.0)          # another symbol's bar fills nothing
    assert filled == [] and order.status == "accepted"
    broker.on_bar("SPX", open=110.0, close=111.0, timestamp="2020-01-03T05:00:00Z")  # bar t+1
    price = 110.0 * 1.002                               # 110.22, adverse for a buy
    fee = 0.001 * 10 * price                            # 1.1022
    assert order.status == "filled" and order.filled_avg_price == pytest.approx(price)
    assert order.fee == pytest.approx(fee) and order.filled_at == "2020-01-03T05:00:00+00:00"
    acct = broker.get_account()
    assert acct["cash"] == pytest.approx(100_000 - 10 * price - fee)
    assert acct["equity"] == pytest.approx(acct["cash"] + 10 * 111.0)  # marked at the close

    sell = broker.submit_order("SPX", 10, "sell")
    broker.on_bar("SPX", open=120.0, close=119.0)
    sell_price = 120.0 * 0.998
    assert sell.filled_avg_price == pytest.approx(sell_price)
    assert broker.get_account()["cash"] == pytest.approx(
        100_000 - 10 * price - fee + 10 * sell_price - 0.001 * 10 * sell_price)
    assert broker.portfolio.realized_pnl == pytest.approx(10 * (sell_price - price))
    assert broker.counters() == {"orders": 2, "fills": 2, "rejected": 0, "invariant_violations": 0}


def test_an_order_that_would_overdraw_is_rejected_at_fill_time():
    broker = PaperBroker(cash=1_000, fees=0.01)
    order = broker.submit_order("SPX", 10, "buy")
    broker.on_bar("SPX", open=99.5)  # 995 + 9.95 fee > 1000
    assert order.status == "rejected" and "cash" in order.reason
    assert broker.counters() == {"orders": 1, "fills": 0, "rejected": 1, "invariant_violations": 0}
    ok = broker.submit_order("SPX", 9, "buy")
    broker.on_bar("SPX", open=99.5)
    assert ok.status == "filled"


def test_bad_orders_are_refused_before_queueing():
    broker = PaperBroker()
    for args in (("SPX", 0, "buy"), ("SPX", 1, "short"), ("", 1, "buy"), ("SPX", "x", "buy")):
        with pytest.raises(ValueError):
            broker.submit_order(*args)
    assert broker.pending() == [] and broker.counters()["orders"] == 0


def test_replaying_signals_matches_a_hand_ledger():
    """Trade every crossover of a small price path and check cash against an independent loop."""
    opens = [100.0, 101.0, 99.0, 103.0, 104.0, 102.0, 98.0, 100.0]
    closes = [100.5, 100.0, 102.0, 104.5, 103.0, 99.0, 99.5, 101.0]
    signal = [0, 1, 0, 0, -1, 0, 1, 0]  # decided at each bar's close
    fees, slip, qty = 0.0005, 0.001, 100
    broker = PaperBroker(fees=fees, slippage=slip)
    for t in range(len(opens)):
        broker.on_bar("X", open=opens[t], close=closes[t])
        if signal[t] == 1:
            broker.submit_order("X", qty, "buy")
        elif signal[t] == -1:
            broker.submit_order("X", qty, "sell")
    cash = 100_000.0
    for t in range(len(opens) - 1):  # independent: fill at opens[t+1]
        if signal[t]:
            p = opens[t + 1] * (1 + signal[t] * slip)
            cash += -signal[t] * qty * p - fees * qty * p
    assert broker.get_account()["cash"] == pytest.approx(cash)
    assert broker.get_account()["equity"] == pytest.approx(cash + qty * closes[-1])


def test_state_round_trip_keeps_the_account_and_a_tampered_one_is_refused():
    import json

    from tradeswarm.broker import InvariantViolation

    broker = PaperBroker(fees=0.001, slippage=0.0005)
    broker.submit_order("SPX", 10, "buy")
    broker.on_bar("SPX", open=100.0, close=101.0, timestamp="2018-05-10")
    state = json.loads(json.dumps(broker.state()))  # what goes to disk
    again = PaperBroker.from_state(state, fees=0.001, slippage=0.0005)
    assert again.get_account() == broker.get_account() and again.get_positions() == broker.get_positions()
    assert again.counters() == broker.counters() and again.filled == broker.filled and len(again.filled) == 1
    sell = again.submit_order("SPX", 10, "sell")  # the restored position can be sold
    again.on_bar("SPX", open=102.0)
    assert sell.status == "filled" and again.get_positions() == {} and len(again.filled) == 2
    state["portfolio"]["cash"] += 500.0  # cash the P&L book cannot explain
    with pytest.raises(InvariantViolation):
        PaperBroker.from_state(state)
