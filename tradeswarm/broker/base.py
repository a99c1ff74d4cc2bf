"""The one interface every broker offers, and the order record it returns."""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

SIDES = ("buy", "sell")


class BrokerError(RuntimeError):
    """The broker could not be reached or refused the request for a reason other than the order."""


@dataclass
class OrderResult:
    """What became of one market order."""

    symbol: str
    side: str
    qty: float
    status: str  # accepted (waiting for a fill) | filled | rejected
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    filled_qty: float = 0.0
    filled_avg_price: float | None = None
    fee: float = 0.0
    reason: str | None = None
    filled_at: str | None = None  # ISO 8601 of the bar (paper) or the broker's fill time


def check_order(symbol: str, qty: float, side: str) -> tuple[str, float, str]:
    """Normalise and validate an order's fields; `ValueError` with one clear line otherwise."""
    side = str(getattr(side, "value", side)).lower()
    if side not in SIDES:
        raise ValueError(f"side must be one of {', '.join(SIDES)}, got {side!r}")
    if not symbol or not isinstance(symbol, str):
        raise ValueError(f"symbol must be a non-empty string, got {symbol!r}")
    try:
        qty = float(qty)
    except (TypeError, ValueError):
        raise ValueError(f"qty must be a number, got {qty!r}") from None
    if not qty > 0:
        raise ValueError(f"qty must be > 0, got {qty}")
    return symbol, qty, side


class Broker(ABC):
    """Submit market orders, read the account and positions, count what happened.

    `PaperBroker` simulates fills with the backtests' rule; `AlpacaBroker` talks to Alpaca's
    paper-trading API. Both return plain floats (Alpaca's strings are converted).
    """

    name: str

    @abstractmethod
    def submit_order(self, symbol: str, qty: float, side: str) -> OrderResult:
        """Submit a market order for `qty` shares; `side` is `buy` or `sell`."""

    @abstractmethod
    def get_account(self) -> dict[str, float]:
        """`{"cash", "equity", "buying_power", "portfolio_value"}` as floats."""

    @abstractmethod
    def get_positions(self) -> dict[str, dict[str, float]]:
        """symbol → `{"qty", "avg_entry_price", "market_value", "unrealized_pl"}` as floats."""

    @abstractmethod
    def counters(self) -> dict[str, int]:
        """`{"orders", "fills", "rejected", "invariant_violations"}`."""
