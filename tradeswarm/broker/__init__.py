"""Brokers and the portfolio they book into.

`Broker` is the one interface: `PaperBroker` fills at the next bar's open with the same
fees/slippage rule the backtests use (`fills.fill_price`, `fills.fill_fee`), and
`AlpacaBroker` trades on Alpaca's paper API. `Portfolio` keeps cash, positions and P&L and
checks its accounting invariant after every fill.
"""

from .alpaca import AlpacaBroker
from .base import Broker, BrokerError, OrderResult, check_order
from .fills import fill_fee, fill_price
from .paper import PaperBroker
from .portfolio import INITIAL_CASH, Fill, InvariantViolation, OrderRejected, Portfolio, Position

__all__ = [
    "INITIAL_CASH", "AlpacaBroker", "Broker", "BrokerError", "Fill", "InvariantViolation", "OrderRejected", "OrderResult",
    "PaperBroker", "Portfolio", "Position", "check_order", "fill_fee", "fill_price",
]

