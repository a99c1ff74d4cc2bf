"""A simulated broker that fills like the backtests: at the next bar's open, with costs."""

from __future__ import annotations

import threading
from dataclasses import asdict

import pandas as pd

from .base import Broker, OrderResult, check_order
from .fills import BUY, SELL, fill_fee, fill_price
from .portfolio import INITIAL_CASH, OrderRejected, Portfolio


class PaperBroker(Broker):
    """Market orders wait for the symbol's next bar and fill at its open.

    `fees` is a fraction of the filled notional and `slippage` a fraction of the price moved
    against the trader — the rule in `tradeswarm.broker.fills`, which the backtest engine
    uses too. A fill the `Portfolio` refuses (overdraw, short) ends as `rejected`.

    >>> broker = PaperBroker(fees=0.001, slippage=0.0005)
    >>> order = broker.submit_order("SPX", 10, "buy")          # decided on bar t
    >>> [o.filled_avg_price for o in broker.on_bar("SPX", open=200.0, close=202.0)]  # bar t+1
    [200.1]
    >>> round(broker.get_account()["cash"], 4)
    97996.999
    """

    name = "paper"

    def __init__(self, portfolio: Portfolio | None = None, *, fees: float = 0.0, slippage: float = 0.0,
                 cash: float = INITIAL_CASH) -> None:
        if fees < 0 or slippage < 0:
            raise ValueError(f"fees and slippage must be >= 0 (got {fees}, {slippage})")
        self.portfolio = portfolio if portfolio is not None else Portfolio(cash)
        self.fees, self.slippage = float(fees), float(slippage)
        self._pending: dict[str, list[OrderResult]] = {}
        self.filled: list[dict] = []  # every fill booked, oldest first (what `state` persists)
        self._lock = threading.Lock()

    def state(self) -> dict:
        """The account as JSON-ready data: the portfolio's snapshot and the fills booked so far.

        Orders still waiting for their next bar are not part of it: they lapse with the broker.
        """
        return {"portfolio": self.portfolio.snapshot(), "fills": list(self.filled)}

    @classmethod
    def from_state(cls, state: dict, *, fees: float = 0.0, slippage: float = 0.0) -> "PaperBroker":
        """A broker trading on from `state()`; `InvariantViolation` if the saved books disagree."""
        broker = cls(Portfolio.restore(state["portfolio"]), fees=fees, slippage=slippage)
        broker.filled = list(state.get("fills") or [])
        return broker

    def submit_order(self, symbol: str, qty: float, side: str) -> OrderResult:
        """Queue a market order; it fills on the next `on_bar` for its symbol."""
        symbol, qty, side = check_order(symbol, qty, side)
        order = OrderResult(symbol=symbol, side=side, qty=qty, status="accepted")
        self.portfolio.order_submitted()
        with self._lock:
            self._pending.setdefault(symbol, []).append(order)
        return order

    def pending(self, symbol: str | None = None) -> list[OrderResult]:
        with self._lock:
            if symbol is not None:
                return list(self._pending.get(symbol, ()))
            return [o for orders in self._pending.values() for o in orders]

    def on_bar(self, symbol: str, open: float, close: float | None = None,  # noqa: A002 (OHLC name)
               timestamp=None) -> list[OrderResult]:
        """A new bar for `symbol`: fill its waiting orders at this open, then mark at the close."""
        with self._lock:
            orders = self._pending.pop(symbol, [])
        stamp = pd.Timestamp(timestamp).isoformat() if timestamp is not None else None
        for order in orders:
            price = fill_price(float(open), BUY if order.side == "buy" else SELL, self.slippage)
            fee = fill_fee(order.qty, price, self.fees)
            try:
                self.portfolio.apply_fill(symbol, order.side, order.qty, price, fee)
            except OrderRejected as exc:
                order.status, order.reason = "rejected", str(exc)
                continue
            order.status, order.filled_qty, order.filled_avg_price = "filled", order.qty, price
            order.fee, order.filled_at = fee, stamp
            self.filled.append(asdict(order))
        self.portfolio.mark(symbol, float(close if close is not None else open))
        return orders

    def get_account(self) -> dict[str, float]:
        snap = self.portfolio.snapshot()
        return {"cash": snap["cash"], "equity": snap["equity"], "buying_power": snap["cash"],
                "portfolio_value": snap["equity"]}

    def get_positions(self) -> dict[str, dict[str, float]]:
        return {s: {"qty": p["qty"], "avg_entry_price": p["avg_price"],
                    "market_value": p["qty"] * p["last_price"],
                    "unrealized_pl": p["qty"] * (p["last_price"] - p["avg_price"])}
                for s, p in self.portfolio.snapshot()["positions"].items()}

    def counters(self) -> dict[str, int]:
        snap = self.portfolio.snapshot()
        return {k: snap[k] for k in ("orders", "fills", "rejected", "invariant_violations")}
