"""One trading round: a consensus per symbol, then orders to the broker.

The agents of the chosen strategy vote on a bar (with every `risk_manager` serving the symbol
adding its veto); a BUY buys `notional` dollars at the decision bar's close price, a SELL
closes the held position. The paper broker fills at the *next* bar's open with the backtests'
fees and slippage (`tradeswarm.backtest.Fills` defaults): deciding on the latest bar leaves
the order `accepted` until that bar exists, and such an order lapses with the round. After
every fill the account's invariant is checked (the paper portfolio checks itself; a broker
with `check_invariant`, Alpaca, is read back), and a violation raises `InvariantViolation`.

The CLI's paper account outlives one call: `<state_dir>/swarm/paper.json` (beside the agent
registry, replaced atomically) holds its cash, positions and fills, so a SELL can close what an
earlier `execute` bought. Delete it (or pass `tradeswarm execute --reset`) to start over at
$100,000. Alpaca paper trading is used instead when its keys are set.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from tradeswarm.atomic import atomic_write_json

if TYPE_CHECKING:
    from tradeswarm.swarm.coordinator import Coordinator

PAPER_SCHEMA = "tradeswarm.paper/v1"


class PaperStateError(ValueError):
    """The saved paper account exists but cannot be used."""


def paper_path(state_dir: str | Path) -> Path:
    return Path(state_dir) / "swarm" / "paper.json"


def load_paper(state_dir: str | Path, *, fees: float, slippage: float) -> Any:
    """The saved paper account (a fresh $100,000 one when none is saved) as a `PaperBroker`."""
    import json

    from tradeswarm.broker import InvariantViolation, PaperBroker

    path = paper_path(state_dir)
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        return PaperBroker(fees=fees, slippage=slippage)
    except (OSError, ValueError) as e:
        raise PaperStateError(f"unreadable paper account {path}: {e} (delete it to start over)") from None
    if not isinstance(doc, dict) or doc.get("schema") != PAPER_SCHEMA:
        raise PaperStateError(f"{path} is not a paper account ({PAPER_SCHEMA}); delete it to start over")
    try:
        return PaperBroker.from_state(doc, fees=fees, slippage=slippage)
    except (KeyError, TypeError, ValueError, InvariantViolation) as e:
        raise PaperStateError(f"paper account {path} is inconsistent: {e} (delete it to start over)") from None


def save_paper(state_dir: str | Path, broker: Any) -> Path:
    """Write the paper account (atomically)."""
    return atomic_write_json(paper_path(state_dir), {"schema": PAPER_SCHEMA, "fees": broker.fees,
                                                      "slippage": broker.slippage, **broker.state()})


def reset_paper(state_dir: str | Path) -> bool:
    """Forget the saved paper account; True when there was one."""
    try:
        paper_path(state_dir).unlink()
        return True
    except FileNotFoundError:
        return False


def default_costs() -> tuple[float, float]:
    """`(fees, slippage)` of the backtests, the one convention paper fills share."""
    from tradeswarm.backtest import Fills

    return Fills.fees, Fills.slippage


async def execute_round(coord: Coordinator, strategy: str, symbols: Sequence[str], *, end: str | None = None,
                        window: int = 250, weighted: bool = False, notional: float = 10_000.0,
                        broker: Any = None, settings: Any = None, fees: float | None = None,
                        slippage: float | None = None) -> dict:
    """Decide each symbol by consensus and send the orders; `LookupError` when no agent can vote.

    Without `broker`: Alpaca's paper account when the settings have its keys, else the paper
    account saved in the state dir (with `fees`/`slippage`, default the backtests'), written
    back after the round.
    """
    from tradeswarm.agents.runner import load_frame, window_of
    from tradeswarm.broker import AlpacaBroker
    from tradeswarm.settings import Settings
    from tradeswarm.swarm.consensus import Rule

    persist = None
    if broker is None:
        settings = settings or Settings()
        if settings.has_alpaca:
            broker = AlpacaBroker(settings)
        else:
            base_fees, base_slippage = default_costs()
            persist = settings.state_dir
            broker = load_paper(persist, fees=base_fees if fees is None else fees,
                                slippage=base_slippage if slippage is None else slippage)
    check = getattr(broker, "check_invariant", None)  # the paper portfolio checks itself on each fill
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
        order = trade(broker, symbol, dec.action, frame, window_of(frame, end, 1).index[-1], notional, check)
        if order is not None:
            orders.append(order)
    if persist is not None:
        save_paper(persist, broker)
    account = broker.get_account()
    counters = broker.counters()
    return {"broker": broker.name, "decisions": decisions, "orders": orders,
            "fills": counters.get("fills", 0), "portfolio": counters,
            "equity": account["equity"], "cash": account["cash"], "positions": broker.get_positions()}


def trade(broker: Any, symbol: str, action: str, frame: Any, stamp: Any, notional: float,
          check: Any = None) -> dict | None:
    """Act on one decision taken on bar `stamp` of `symbol`'s `frame`; the order record, or None.

    A BUY buys whole shares for `notional` at that bar's close, a SELL sells the whole
    position. A paper broker is handed the next bar (its fill); `check()` runs after a fill.
    """
    price = float(frame.loc[stamp, "close"])
    held = float(broker.get_positions().get(symbol, {}).get("qty", 0.0))
    qty = math.floor(notional / price) if action == "BUY" else held if action == "SELL" else 0
    if qty <= 0:
        return None
    order = broker.submit_order(symbol, qty, "buy" if action == "BUY" else "sell")
    following = frame.loc[frame.index > stamp]
    if hasattr(broker, "on_bar") and len(following):
        nxt = following.iloc[0]
        broker.on_bar(symbol, open=float(nxt["open"]), close=float(nxt["close"]), timestamp=following.index[0])
    if order.status == "filled" and check is not None:
        check()
    return {"symbol": order.symbol, "side": order.side, "qty": order.qty, "status": order.status,
            "filled_avg_price": order.filled_avg_price, "fee": order.fee, "reason": order.reason,
            "decided_on": stamp.isoformat()}
