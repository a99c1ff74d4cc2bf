"""Portfolio accounting: the invariant holds for any order sequence and catches a broken book."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradeswarm.broker import INITIAL_CASH, InvariantViolation, OrderRejected, Portfolio

SYMBOLS = ("SPX", "NDX", "GOOG")
order_steps = st.lists(
    st.tuples(
        st.sampled_from(("buy", "sell", "mark")),
        st.sampled_from(SYMBOLS),
        st.floats(min_value=0.001, max_value=2_000, allow_nan=False),   # qty
        st.floats(min_value=0.5, max_value=5_000, allow_nan=False),     # price
        st.floats(min_value=0.0, max_value=0.01, allow_nan=False),      # fee fraction
    ),
    max_size=80,
)


@settings(max_examples=200, deadline=None)
@given(order_steps)
def test_random_order_sequences_never_break_the_invariant(steps):
    pf = Portfolio()
    for kind, symbol, qty, price, fee_frac in steps:
        if kind == "mark":
            pf.mark(symbol, price)
            continue
        pf.order_submitted()
        held = pf.positions[symbol].qty if symbol in pf.positions else 0.0
        cash_before = pf.cash
        try:
            pf.apply_fill(symbol, kind, qty, price, fee=fee_frac * qty * price)
        except OrderRejected:
            # refused exactly when it would overdraw cash or sell more than is held
            assert (kind == "buy" and qty * price * (1 + fee_frac) > cash_before) or (kind == "sell" and qty > held)
            assert pf.cash == cash_before
        assert pf.cash >= 0
        assert all(p.qty > 0 for p in pf.positions.values())
    snap = pf.snapshot()
    assert snap["invariant_violations"] == 0
    assert snap["orders"] == snap["fills"] + snap["rejected"]
    assert snap["equity"] == pytest.approx(INITIAL_CASH + snap["realized_pnl"] - snap["fees_paid"] + snap["unrealized_pnl"],
                                           rel=1e-9, abs=1e-6)


def test_overdraw_is_refused_and_counted():
    pf = Portfolio(1_000)
    pf.order_submitted()
    with pytest.raises(OrderRejected, match="costs 1001.00 > cash 1000.00"):
        pf.apply_fill("SPX", "buy", 10, 100.0, fee=1.0)
    assert (pf.cash, pf.rejected, pf.fills, pf.positions) == (1_000, 1, 0, {})
    pf.apply_fill("SPX", "buy", 10, 99.9, fee=1.0)  # 999 + 1 fits exactly
    assert pf.cash == pytest.approx(0.0, abs=1e-9) and pf.fills == 1


def test_selling_more_than_held_is_refused():
    pf = Portfolio()
    pf.apply_fill("SPX", "buy", 5, 100.0)
    with pytest.raises(OrderRejected, match="long-only"):
        pf.apply_fill("SPX", "sell", 6, 100.0)
    assert pf.positions["SPX"].qty == 5 and pf.rejected == 1


def test_pnl_by_hand():
    pf = Portfolio(10_000)
    pf.apply_fill("SPX", "buy", 10, 100.0, fee=2.0)    # cash 8998
    pf.apply_fill("SPX", "buy", 10, 120.0, fee=2.0)    # cash 7796, avg 110
    pf.apply_fill("SPX", "sell", 5, 130.0, fee=1.0)    # cash 8445, realized 5 × 20 = 100
    pf.mark("SPX", 90.0)                               # 15 × (90 − 110) = −300 unrealized
    assert pf.cash == pytest.approx(8445.0)
    assert pf.positions["SPX"].avg_price == pytest.approx(110.0)
    assert pf.realized_pnl == pytest.approx(100.0)
    assert pf.unrealized_pnl() == pytest.approx(-300.0)
    assert pf.fees_paid == pytest.approx(5.0)
    assert pf.equity() == pytest.approx(8445.0 + 15 * 90.0) == pytest.approx(10_000 + 100 - 5 - 300)


def test_a_broken_book_is_recorded_and_raised():
    pf = Portfolio()
    pf.apply_fill("SPX", "buy", 10, 100.0)
    pf.cash += 50.0  # money appears from nowhere: the cash book no longer matches the P&L book
    with pytest.raises(InvariantViolation, match="P&L book"):
        pf.mark("SPX", 101.0)
    assert pf.invariant_violations == 1 and len(pf.violations) == 1
    assert pf.snapshot()["invariant_violations"] == 1


def test_a_wrong_average_cost_is_caught():
    pf = Portfolio()
    pf.apply_fill("SPX", "buy", 10, 100.0)
    pf.positions["SPX"].avg_price = 90.0  # a bookkeeping bug in the average cost
    with pytest.raises(InvariantViolation):
        pf.apply_fill("SPX", "sell", 5, 100.0)


def test_bad_fill_fields_are_value_errors():
    pf = Portfolio()
    for args in (("SPX", "hold", 1, 1.0), ("SPX", "buy", 0, 1.0), ("SPX", "buy", 1, -1.0)):
        with pytest.raises(ValueError):
            pf.apply_fill(*args)
    with pytest.raises(ValueError):
        Portfolio(0)
