"""The real alpaca-py TradingClient against the loopback server speaking Alpaca's wire format."""

import logging

import pytest

from tests.support.alpaca_server import AlpacaServer
from tradeswarm.broker import AlpacaBroker, BrokerError, InvariantViolation
from tradeswarm.settings import Settings

KEY, SECRET = "CANARY-TRADE-KEY-51c0", "CANARY-TRADE-SECRET-9ad4"


def _broker(srv, key=KEY, secret=SECRET, **kw) -> AlpacaBroker:
    settings = Settings(ALPACA_API_KEY=key, ALPACA_API_SECRET=secret, ALPACA_TRADING_URL=srv.url)
    return AlpacaBroker(settings, poll_s=0.01, fill_timeout_s=2.0, retry_wait_s=0, **kw)


@pytest.fixture
def server():
    with AlpacaServer(KEY, SECRET, cash=10_000, prices={"SPY": 400.0, "QQQ": 300.0}) as srv:
        yield srv


def test_account_numbers_arrive_as_strings_and_leave_as_floats(server):
    acct = _broker(server).get_account()
    assert acct == {"cash": 10_000.0, "equity": 10_000.0, "buying_power": 10_000.0, "portfolio_value": 10_000.0}
    assert all(type(v) is float for v in acct.values())


def test_market_order_fills_and_positions_follow(server):
    broker = _broker(server)
    order = broker.submit_order("SPY", 5, "buy")
    assert order.status == "filled" and order.filled_qty == 5 and order.filled_avg_price == 400.0
    assert server.count("/v2/orders/") >= 1  # the order was polled until filled
    server.prices["SPY"] = 410.0
    pos = broker.get_positions()
    assert pos == {"SPY": {"qty": 5.0, "avg_entry_price": 400.0, "market_value": 2050.0, "unrealized_pl": 50.0}}
    assert broker.get_account()["cash"] == pytest.approx(8_000.0)
    broker.check_invariant()
    assert broker.submit_order("SPY", 5, "sell").status == "filled"
    assert broker.get_positions() == {}
    assert broker.counters() == {"orders": 2, "fills": 2, "rejected": 0, "invariant_violations": 0}


def test_insufficient_buying_power_is_a_counted_rejection(server):
    broker = _broker(server)
    order = broker.submit_order("SPY", 100, "buy")  # $40,000 > $10,000
    assert order.status == "rejected" and "insufficient buying power" in order.reason
    assert broker.counters()["rejected"] == 1 and broker.counters()["fills"] == 0


def test_order_still_open_after_the_timeout_is_neither_filled_nor_rejected(server):
    server.fill_delay_polls = 10_000
    broker = _broker(server)
    broker.fill_timeout_s = 0.05
    order = broker.submit_order("QQQ", 1, "buy")
    assert order.status == "accepted"
    assert broker.counters() == {"orders": 1, "fills": 0, "rejected": 0, "invariant_violations": 0}


def test_429_on_submit_is_retried(server):
    server.fail_next(429, 2)
    assert _broker(server).submit_order("QQQ", 1, "buy").status == "filled"


def test_equity_mismatch_is_recorded_and_raised(server):
    broker = _broker(server)
    broker.submit_order("SPY", 1, "buy")
    broker.check_invariant()  # a consistent account passes
    original = server._account

    def lying_account():
        status, body = original()
        body["equity"] = f"{float(body['equity']) + 5:.2f}"
        return status, body

    server._account = lying_account
    with pytest.raises(InvariantViolation, match="equity"):
        broker.check_invariant()
    assert broker.counters()["invariant_violations"] == 1


def test_wrong_keys_are_a_clear_error_without_the_secret(server, caplog):
    caplog.set_level(logging.DEBUG)
    server.echo_credentials_in_errors = True
    broker = _broker(server, key="CANARY-BAD-KEY-0001", secret="CANARY-BAD-SECRET-0002")
    with pytest.raises(BrokerError) as err:
        broker.get_account()
    assert "authentication failed" in str(err.value)
    for canary in ("CANARY-BAD-KEY-0001", "CANARY-BAD-SECRET-0002"):
        assert canary not in str(err.value) and canary not in caplog.text
    with pytest.raises(BrokerError) as err2:
        broker.submit_order("SPY", 1, "buy")
    assert "CANARY-BAD" not in str(err2.value)
    assert broker.counters()["rejected"] == 0  # an auth failure is not an order refusal


def test_keys_never_appear_in_the_broker_repr_or_settings_dump(server):
    broker = _broker(server)
    broker.get_account()
    text = repr(broker) + repr(broker._settings) + str(broker._settings.model_dump())
    assert KEY not in text and SECRET not in text


def test_missing_keys_refused_up_front(monkeypatch):
    monkeypatch.delenv("ALPACA_API_KEY", raising=False)
    monkeypatch.delenv("ALPACA_API_SECRET", raising=False)
    with pytest.raises(BrokerError, match="keys are not set"):
        AlpacaBroker(Settings())
