"""A plain event-loop backtester: the independent check on the vectorbt engine.

It walks the bars one at a time with a cash balance and a share count, and shares nothing with
`tradeswarm.backtest` but the written convention. Prices and fees come from the paper broker's
fill rule (`tradeswarm.broker.fills`), so agreeing with vectorbt also proves the live broker
books what the backtest booked: the signal of bar t fills at the open of bar t + 1 + lag; a
buy pays `open × (1 + slippage)` plus `fees` × its value and spends all cash
(whole shares by default); a sell gets `open × (1 − slippage)` minus fees; long only; equity
is cash + shares × close at each bar's end; a trade still open at the end is valued at the
last close without exit fees.

`crosscheck` compares the two trade for trade (entry and exit bars, quantities, prices) and the
final equity to 1e-9 relative, and names the first trade that differs.

```python
>>> import numpy as np
>>> o = np.array([10.0, 10, 11, 12, 13]); c = o
>>> res = simulate(o, c, np.array([1, 0, -1, 0, 0]), fees=0, slippage=0, cash=100)
>>> res.trades[0]["entry_bar"], res.trades[0]["exit_bar"], res.final_equity
(1, 3, 120.0)

```
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from tradeswarm.broker.fills import BUY, SELL, fill_fee, fill_price

REL_TOL = 1e-9


@dataclass
class Result:
    trades: list[dict] = field(default_factory=list)
    equity: list[float] = field(default_factory=list)

    @property
    def final_equity(self) -> float:
        return self.equity[-1]


def simulate(open_, close, signal, *, fees: float, slippage: float, cash: float,
             whole_shares: bool = True, lag: int = 0, fill: str = "next_open") -> Result:
    """Run the event loop over one signal series.

    `fill="next_open"` is the project's convention. `fill="signal_close"` fills at the signal
    bar's own close — a deliberately wrong (look-ahead) convention the tests use to prove that
    `crosscheck` catches a broken engine.
    """
    if fill not in ("next_open", "signal_close"):
        raise ValueError(f"unknown fill convention {fill!r}")
    delay = 0 if fill == "signal_close" else 1 + lag
    out = Result()
    shares = 0.0
    trade = None
    for t in range(len(close)):
        s = t - delay  # the bar whose signal acts now
        wanted = int(signal[s]) if s >= 0 else 0
        base = close[t] if fill == "signal_close" else open_[t]
        if wanted == 1 and shares == 0:
            price = fill_price(base, BUY, slippage)
            budget = cash / (1 + fees)
            qty = math.floor(budget / price) if whole_shares else budget / price
            if qty > 0:
                fee = fill_fee(qty, price, fees)
                cash -= qty * price + fee
                shares = qty
                trade = {"entry_bar": t, "exit_bar": None, "qty": float(qty), "entry_price": price,
                         "exit_price": None, "entry_fees": fee}
        elif wanted == -1 and shares > 0:
            price = fill_price(base, SELL, slippage)
            fee = fill_fee(shares, price, fees)
            cash += shares * price - fee
            trade.update(exit_bar=t, exit_price=price,
                         pnl=shares * price - fee - (trade["qty"] * trade["entry_price"] + trade["entry_fees"]))
            out.trades.append(trade)
            shares, trade = 0.0, None
        out.equity.append(float(cash + shares * close[t]))
    if trade is not None:
        trade["pnl"] = shares * close[-1] - (trade["qty"] * trade["entry_price"] + trade["entry_fees"])
        out.trades.append(trade)
    return out


def _differs(a, b) -> bool:
    if a is None or b is None:
        return a is not b
    return not math.isclose(a, b, rel_tol=REL_TOL, abs_tol=0.0)


def crosscheck(engine_trades: list[dict], engine_final_equity: float, reference: Result) -> dict:
    """`{agree, first_divergence, equity_rel_diff, trades}` of an engine run against the reference.

    `first_divergence` is None when they agree, else `{trade, field, engine, reference}` for the
    first trade (0-based) whose bars, quantity or prices differ (a missing trade is None).
    """
    first = None
    for i in range(max(len(engine_trades), len(reference.trades))):
        e = engine_trades[i] if i < len(engine_trades) else None
        r = reference.trades[i] if i < len(reference.trades) else None
        if e is None or r is None:
            first = {"trade": i, "field": "missing", "engine": e, "reference": _public(r)}
            break
        bad = [k for k in ("entry_bar", "exit_bar") if e[k] != r[k]]
        bad += [k for k in ("qty", "entry_price", "exit_price") if _differs(e[k], r[k])]
        if bad:
            first = {"trade": i, "field": bad[0], "engine": e, "reference": _public(r)}
            break
    ref_eq = reference.final_equity
    rel = abs(engine_final_equity - ref_eq) / abs(ref_eq) if ref_eq else abs(engine_final_equity)
    return {
        "agree": bool(first is None and rel <= REL_TOL),
        "first_divergence": first,
        "equity_rel_diff": float(rel),
        "trades": len(reference.trades),
    }


def _public(trade: dict | None) -> dict | None:
    return None if trade is None else {k: trade[k] for k in ("entry_bar", "exit_bar", "qty", "entry_price", "exit_price")}
