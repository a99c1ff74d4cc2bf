"""Alpaca paper trading through alpaca-py's `TradingClient(paper=True)`."""

from __future__ import annotations

import threading
import time

from ..marketdata.alpaca_client import build_client, describe_failure
from ..settings import Settings, get_settings
from .base import Broker, BrokerError, OrderResult, check_order

_TERMINAL = {"filled", "canceled", "expired", "rejected", "done_for_day", "stopped", "suspended"}
_REFUSALS = (403, 422)  # Alpaca's answers to an order it will not take (buying power, qty, asset)


def _f(value) -> float:
    """Alpaca sends numbers as strings (and sometimes null)."""
    return float(value) if value not in (None, "") else 0.0


class AlpacaBroker(Broker):
    """Market orders, account and positions on Alpaca's paper-trading API.

    `settings` supplies the keys (unwrapped only in `build_client`) and `ALPACA_TRADING_URL`
    (the SDK's `url_override`; tests point it at a loopback server). `submit_order` waits
    up to `fill_timeout_s` for the order to reach a final state, polling every `poll_s`.
    Orders Alpaca refuses (403/422, e.g. insufficient buying power) come back `rejected`
    and are counted; transport and auth failures raise `BrokerError` with a key-free message.
    """

    name = "alpaca"

    def __init__(self, settings: Settings | None = None, *, fill_timeout_s: float = 10.0, poll_s: float = 0.2,
                 retry_wait_s: float | None = None, equity_tolerance: float = 0.02) -> None:
        self._settings = settings or get_settings()
        if not self._settings.has_alpaca:
            raise BrokerError("Alpaca keys are not set (ALPACA_API_KEY and ALPACA_API_SECRET)")
        self.fill_timeout_s, self.poll_s = fill_timeout_s, poll_s
        self.retry_wait_s = retry_wait_s
        self.equity_tolerance = equity_tolerance  # Alpaca rounds money to cents
        self._counts = {"orders": 0, "fills": 0, "rejected": 0, "invariant_violations": 0}
        self.violations: list[str] = []
        self._client_obj = None
        self._lock = threading.Lock()

    def _client(self):
        if self._client_obj is None:
            from alpaca.trading.client import TradingClient

            self._client_obj = build_client(TradingClient, self._settings, self._settings.alpaca_trading_url,
                                            self.retry_wait_s, paper=True)
        return self._client_obj

    def _call(self, what: str, fn, *args):
        try:
            return fn(*args)
        except Exception as exc:  # APIError or transport: one clear, key-free line
            raise BrokerError(describe_failure(exc, f"Alpaca {what}", self._settings.secret_values())) from None

    def _count(self, key: str) -> None:
        with self._lock:
            self._counts[key] += 1

    def submit_order(self, symbol: str, qty: float, side: str) -> OrderResult:
        from alpaca.trading.enums import OrderSide, TimeInForce
        from alpaca.trading.requests import MarketOrderRequest

        symbol, qty, side = check_order(symbol, qty, side)
        request = MarketOrderRequest(symbol=symbol, qty=qty, side=OrderSide(side), time_in_force=TimeInForce.DAY)
        self._count("orders")
        try:
            order = self._client().submit_order(request)
        except Exception as exc:
            message = describe_failure(exc, f"Alpaca order {side} {qty:g} {symbol}", self._settings.secret_values())
            if getattr(exc, "status_code", None) in _REFUSALS:
                self._count("rejected")
                return OrderResult(symbol=symbol, side=side, qty=qty, status="rejected", reason=message)
            raise BrokerError(message) from None
        deadline = time.monotonic() + self.fill_timeout_s
        while str(order.status.value) not in _TERMINAL and time.monotonic() < deadline:
            time.sleep(self.poll_s)
            order = self._call("order status", self._client().get_order_by_id, order.id)
        status = str(order.status.value)
        outcome = "filled" if status == "filled" else "rejected" if status in _TERMINAL else "accepted"
        result = OrderResult(
            symbol=symbol, side=side, qty=qty, id=str(order.id), status=outcome,
            filled_qty=_f(order.filled_qty),
            filled_avg_price=_f(order.filled_avg_price) if order.filled_avg_price is not None else None,
            reason=None if outcome == "filled" else f"order {status}",
            filled_at=order.filled_at.isoformat() if order.filled_at else None,
        )
        if outcome != "accepted":  # still open after the timeout: neither filled nor refused yet
            self._count("fills" if outcome == "filled" else "rejected")
        return result

    def get_account(self) -> dict[str, float]:
        acct = self._call("account", self._client().get_account)
        return {"cash": _f(acct.cash), "equity": _f(acct.equity), "buying_power": _f(acct.buying_power),
                "portfolio_value": _f(acct.portfolio_value)}

    def get_positions(self) -> dict[str, dict[str, float]]:
        positions = self._call("positions", self._client().get_all_positions)
        return {p.symbol: {"qty": _f(p.qty), "avg_entry_price": _f(p.avg_entry_price),
                           "market_value": _f(p.market_value), "unrealized_pl": _f(p.unrealized_pl)}
                for p in positions}

    def check_invariant(self) -> None:
        """Alpaca's equity must equal cash + Σ position market value (to the cent); counted and raised."""
        from .portfolio import InvariantViolation

        account, positions = self.get_account(), self.get_positions()
        held = sum(p["market_value"] for p in positions.values())
        if abs(account["equity"] - (account["cash"] + held)) > self.equity_tolerance:
            problem = f"Alpaca equity {account['equity']:.2f} != cash {account['cash']:.2f} + positions {held:.2f}"
            self._count("invariant_violations")
            self.violations.append(problem)
            raise InvariantViolation(problem)

    def counters(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)
