"""The fill rule shared by the paper broker and the backtest engine.

A market order decided on bar t fills at bar t+1's open, moved against the trader by
`slippage` (a fraction of the price), and pays `fees` (a fraction of the filled notional).
This is the same convention as vectorbt's `Portfolio.from_signals(price=next_open,
fees=fees, slippage=slippage)`, so a backtest and the paper broker book identical fills.

>>> fill_price(100.0, BUY, slippage=0.001), fill_price(100.0, SELL, slippage=0.001)
(100.1, 99.9)
>>> fill_fee(10, 100.1, fees=0.002)
2.002
"""

from __future__ import annotations

import numpy as np

BUY, SELL = 1, -1


def fill_price(next_open, side, slippage: float):
    """Price a market order fills at: `next_open × (1 + side × slippage)`; side is +1 buy, −1 sell.

    Works on scalars and on numpy/pandas arrays alike (the backtest passes whole columns).
    """
    if slippage < 0:
        raise ValueError(f"slippage must be >= 0, got {slippage}")
    price = next_open * (1.0 + np.sign(side) * slippage)
    return float(price) if np.ndim(price) == 0 else price


def fill_fee(qty, price, fees: float):
    """Fee on a fill: `fees × |qty| × price`."""
    if fees < 0:
        raise ValueError(f"fees must be >= 0, got {fees}")
    fee = fees * np.abs(qty) * price
    return float(fee) if np.ndim(fee) == 0 else fee
