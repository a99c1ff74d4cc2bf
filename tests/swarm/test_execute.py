"""`tradeswarm.swarm.execute` without sandboxes: the saved paper account and acting on a decision
with the real alpaca-py client against the loopback Alpaca server."""

from __future__ import annotations

import json

import pytest

from tests.support.alpaca_server import AlpacaServer
from tradeswarm.broker import AlpacaBroker, InvariantViolation
from tradeswarm.marketdata.shipped import load_symbol
from tradeswarm.settings import Settings
from tradeswarm.swarm.execute import PaperStateError, default_costs, load_paper, paper_path, reset_paper, save_paper, trade

KEY, SECRET = "CANARY-EXEC-KEY-7e21", "CANARY-EXEC-SECRET-03bd"


def test_paper_account_persists_with_the_backtests_costs(tmp_path):
    fees, slippage = default_costs()
    assert fees > 0 and slippage > 0
    spx = load_symbol("SPX")
    fresh = load_paper(tmp_path, fees=fees, slippage=slippage)
    stamp = spx.loc[:"2018-05-09"].index[-1]
    assert trade(fresh, "SPX", "SELL", spx, stamp, 10_000) is None  # nothing held: nothing to sell
    order = trade(fresh, "SPX", "BUY", spx, stamp, 10_000)
    nxt = spx.loc[spx.index > stamp].iloc[0]
    assert order["status"] == "filled" and order["filled_avg_price"] == pytest.approx(nxt["open"] * (1 + slippage))
    assert order["fee"] == pytest.approx(fees * order["qty"] * order["filled_avg_price"])
    save_paper(tmp_path, fresh)
    back = load_paper(tmp_path, fees=fees, slippage=slippage)
    assert back.get_positions()["SPX"]["qty"] == order["qty"] and back.get_account() == fresh.get_account()
    later = spx.loc[:"2018-06-25"].index[-1]
    sold = trade(back, "SPX", "SELL", spx, later, 10_000)
    assert sold["status"] == "filled" and sold["qty"] == order["qty"] and back.get_positions() == {}
    # a damaged file is refused with one line, never silently replaced by a fresh account
    doc = json.loads(paper_path(tmp_path).read_text())
    doc["portfolio"]["positions"]["SPX"]["qty"] *= 2
    paper_path(tmp_path).write_text(json.dumps(doc))
    with pytest.raises(PaperStateError, match="inconsistent"):
        load_paper(tmp_path, fees=fees, slippage=slippage)
    assert reset_paper(tmp_path) and not reset_paper(tmp_path)
    assert load_paper(tmp_path, fees=fees, slippage=slippage).get_account()["cash"] == 100_000.0


def test_alpaca_account_is_checked_after_every_fill():
    spx = load_symbol("SPX")
    stamp = spx.loc[:"2018-05-09"].index[-1]
    with AlpacaServer(KEY, SECRET, cash=100_000, prices={"SPX": 2700.0}) as srv:
        settings = Settings(ALPACA_API_KEY=KEY, ALPACA_API_SECRET=SECRET, ALPACA_TRADING_URL=srv.url)
        broker = AlpacaBroker(settings, poll_s=0.01, fill_timeout_s=2.0, retry_wait_s=0)
        order = trade(broker, "SPX", "BUY", spx, stamp, 10_000, broker.check_invariant)
        assert order["status"] == "filled" and broker.counters()["invariant_violations"] == 0
        original = srv._account

        def lying_account():  # equity that cash + positions do not explain
            status, body = original()
            body["equity"] = f"{float(body['equity']) + 5:.2f}"
            return status, body

        srv._account = lying_account
        assert trade(broker, "SPX", "HOLD", spx, stamp, 10_000, broker.check_invariant) is None  # no fill, no check
        assert broker.counters()["invariant_violations"] == 0
        with pytest.raises(InvariantViolation):
            trade(broker, "SPX", "SELL", spx, stamp, 10_000, broker.check_invariant)
        assert broker.counters() == {"orders": 2, "fills": 2, "rejected": 0, "invariant_violations": 1}
