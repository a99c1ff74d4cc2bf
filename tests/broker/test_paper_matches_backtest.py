"""The paper broker and the backtest engine book the same trades to the cent.

Replays a strategy's signals bar by bar through `PaperBroker` and compares the final equity
with `tradeswarm.backtest.engine.run_backtest` on the same data, fees and slippage. Sizing
copies the engine's convention (all cash, whole shares, sized at the fill price), which is
a backtest convention, not what a live agent knows when it orders.
"""

import math

import pytest

from tradeswarm.agents.strategies import get_strategy
from tradeswarm.broker import PaperBroker
from tradeswarm.broker.fills import BUY, fill_price
from tradeswarm.marketdata import load_symbol

FEES, SLIPPAGE = 0.001, 0.0005


def _replay(frame, name: str, *, fees: float, slippage: float) -> PaperBroker:
    sig = get_strategy(name).signal(frame).to_numpy()
    opens, closes = frame["open"].to_numpy(), frame["close"].to_numpy()
    broker = PaperBroker(fees=fees, slippage=slippage)
    for t in range(len(frame)):
        broker.on_bar("X", open=opens[t], close=closes[t])
        if t + 1 == len(frame):
            break
        held = broker.portfolio.positions["X"].qty if "X" in broker.portfolio.positions else 0.0
        if sig[t] == 1 and held == 0:
            price = fill_price(opens[t + 1], BUY, slippage)
            qty = math.floor(broker.portfolio.cash / (price * (1 + fees)))
            if qty > 0:
                broker.submit_order("X", qty, "buy")
        elif sig[t] == -1 and held > 0:
            broker.submit_order("X", held, "sell")
    return broker


@pytest.mark.slow  # the first call imports vectorbt and compiles its kernels
@pytest.mark.parametrize("name", ["sma_crossover", "breakout", "mean_reversion", "momentum"])
def test_paper_broker_equity_equals_the_backtest(name):
    engine = pytest.importorskip("tradeswarm.backtest.engine")
    frame = load_symbol("SPX")
    broker = _replay(frame, name, fees=FEES, slippage=SLIPPAGE)
    result = engine.run_backtest(frame, name, fees=FEES, slippage=SLIPPAGE)
    assert broker.get_account()["equity"] == pytest.approx(result["final_equity"], rel=1e-9)
    counts = broker.counters()
    assert counts["fills"] == counts["orders"] > 0 and counts["invariant_violations"] == 0
    # the comparison can fail: other costs in the broker give another equity
    other = _replay(frame, name, fees=FEES, slippage=SLIPPAGE * 4)
    assert other.get_account()["equity"] != pytest.approx(result["final_equity"], rel=1e-6)
