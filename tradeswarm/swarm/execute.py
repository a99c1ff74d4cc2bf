"""One trading round: a consensus per symbol, then orders to the broker.

The agents of the chosen strategy vote on a bar (with every `risk_manager` serving the symbol
adding its veto); a BUY buys `notional` dollars at the decision bar's close price, a SELL
closes the held position. The paper broker fills at the *next* bar's open, like the
backtests: deciding on the latest bar leaves the order `accepted` until that bar exists.
Alpaca paper trading is used when its keys are set.
"""

from __future__ import annotations

import math
from typing import Any, Sequence


def _broker(settings: Any) -> Any:
    from tradeswarm.broker import AlpacaBroker, PaperBroker

    return AlpacaBroker(settings) if settings.has_alpaca else PaperBroker()


async def execute_round(coord: Any, strategy: str, symbols: Sequence[str], *, end: str | None = None,
                        window: int = 250, weighted: bool = False, notional: float = 10_000.0,
                        broker: Any = None, settings: Any = None) -> dict:
    """Decide each symbol by consensus and send the orders; `LookupError` when no agent can vote."""
    from tradeswarm.agents.runner import load_frame, window_of
    from tradeswarm.settings import Settings
    from tradeswarm.swarm.consensus import Rule

    broker = broker if broker is not None else _broker(settings or Settings())
    rule = Rule(weighted=weighted)
    decisions, orders = [], []
    for symbol in symbols:
        voters = [a for a in coord.live() if a.type == strategy and symbol in a.symbols]
        if not voters:
            raise LookupError(f"no live {strategy} agent serves {symbol}: deploy one first "
                              f"(tradeswarm deploy --agent {strategy} --symbols {symbol})")
        risk = [a for a in coord.live() if a.type == "risk_manager" and symbol in a.symbols]
        dec = await coord.consensus(symbol, end, k=len(voters) + len(risk), window=window, rule=rule,
                                    agent_types=(strategy, "risk_manager"))
        decisions.append(dec.to_dict())
        frame = load_frame(symbol, coord.synthetic)
        bar = window_of(frame, end, 1)
        price, stamp = float(bar["close"].iloc[-1]), bar.index[-1]
        held = float(broker.get_positions().get(symbol, {}).get("qty", 0.0))
        if dec.action == "BUY":
            qty = math.floor(notional / price)
        elif dec.action == "SELL":
            qty = held
        else:
            qty = 0
        if qty <= 0:
            continue
        order = broker.submit_order(symbol, qty, "buy" if dec.action == "BUY" else "sell")
        following = frame.loc[frame.index > stamp]
        if hasattr(broker, "on_bar") and len(following):
            nxt = following.iloc[0]
            broker.on_bar(symbol, open=float(nxt["open"]), close=float(nxt["close"]), timestamp=following.index[0])
        orders.append({"symbol": order.symbol, "side": order.side, "qty": order.qty, "status": order.status,
                       "filled_avg_price": order.filled_avg_price, "fee": order.fee, "reason": order.reason,
                       "decided_on": stamp.isoformat()})
    account = broker.get_account()
    counters = broker.counters()
    return {"broker": broker.name, "decisions": decisions, "orders": orders,
            "fills": counters.get("fills", 0), "portfolio": counters,
            "equity": account["equity"], "cash": account["cash"], "positions": broker.get_positions()}
