"""The real alpaca-py data client against the loopback server speaking Alpaca's wire format."""

import logging

import pytest

from tests.support.alpaca_server import AlpacaServer
from tradeswarm.marketdata import get_frames, load_symbol, validate_schema
from tradeswarm.marketdata.alpaca import AlpacaBars, AlpacaDataError
from tradeswarm.settings import Settings

KEY, SECRET = "CANARY-KEY-7f3a9c", "CANARY-SECRET-e41b2d"


def _settings(srv, tmp_path, key=KEY, secret=SECRET) -> Settings:
    return Settings(ALPACA_API_KEY=key, ALPACA_API_SECRET=secret, ALPACA_DATA_URL=srv.url,
                    TRADESWARM_STATE_DIR=str(tmp_path / "state"))


@pytest.fixture
def spx():
    return load_symbol("SPX").loc["2017-01-01":"2018-12-31"]


@pytest.fixture
def server(spx):
    goog = load_symbol("GOOG").loc["2012-01-01":"2012-12-31"]
    with AlpacaServer(KEY, SECRET, bars={"AAA": spx, "BBB": goog}, page_size=100) as srv:
        yield srv


def _bars(srv, tmp_path, **kw):
    return AlpacaBars(_settings(srv, tmp_path), retry_wait_s=0, min_interval_s=0, **kw)


def test_paging_assembles_every_bar(server, spx, tmp_path):
    frames = _bars(server, tmp_path).bars(["AAA"], "2017-01-01", "2018-12-31")
    got = frames["AAA"]
    assert len(got) == len(spx) == 502
    assert server.count("/v2/stocks/bars") == 6  # 502 bars at 100 per page
    assert (got.index == spx.index).all()
    assert (got["close"].to_numpy() == spx["close"].to_numpy()).all()
    validate_schema(got)
    assert got.attrs["source"] == "alpaca" and got.attrs["feed"] == "iex" and got.attrs["adjustment"] == "all"


def test_multi_symbol_pages_split_symbols_correctly(server, spx, tmp_path):
    frames = _bars(server, tmp_path).bars(["BBB", "AAA"], "2012-06-01", "2017-03-31")
    assert len(frames["AAA"]) == len(spx.loc[:"2017-03-31"])
    assert len(frames["BBB"]) == len(load_symbol("GOOG").loc["2012-06-01":"2012-12-31"])


def test_429_is_retried_then_succeeds(server, spx, tmp_path):
    server.fail_next(429, 2)
    frames = _bars(server, tmp_path).bars(["AAA"], "2018-01-01", "2018-01-31")
    assert len(frames["AAA"]) == len(spx.loc["2018-01-01":"2018-01-31"]) == 21
    assert server.count("/v2/stocks/bars") == 3


def test_429_that_persists_is_a_clear_error(server, tmp_path):
    server.fail_next(429, 10)
    with pytest.raises(AlpacaDataError, match="rate limited"):
        _bars(server, tmp_path).bars(["AAA"], "2018-01-01", "2018-01-31")
    assert server.count("/v2/stocks/bars") == 4  # the first try and the SDK's 3 retries


def test_wrong_keys_give_a_clear_401_without_the_secret(server, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    server.echo_credentials_in_errors = True  # even a server that echoes them back
    client = AlpacaBars(_settings(server, tmp_path, key="CANARY-WRONG-KEY", secret="CANARY-WRONG-SECRET"),
                        retry_wait_s=0, min_interval_s=0)
    with pytest.raises(AlpacaDataError) as err:
        client.bars(["AAA"], "2018-01-01", "2018-01-31")
    text = str(err.value)
    assert "authentication failed" in text and "not authorized" in text
    for canary in ("CANARY-WRONG-KEY", "CANARY-WRONG-SECRET"):
        assert canary not in text and canary not in repr(err.value) and canary not in caplog.text
    assert err.value.__cause__ is None and err.value.__context__ is not None  # raised `from None`
    assert err.value.__suppress_context__


def test_403_is_explained(server, tmp_path):
    server.fail_next(403)
    with pytest.raises(AlpacaDataError, match="forbidden"):
        _bars(server, tmp_path).bars(["AAA"], "2018-01-01", "2018-01-31")


def test_parquet_cache_avoids_the_second_fetch(server, tmp_path):
    first = _bars(server, tmp_path).bars(["AAA"], "2017-01-01", "2018-06-30")["AAA"]
    calls = server.count("/v2/stocks/bars")
    again = _bars(server, tmp_path).bars(["AAA"], "2017-03-01", "2018-06-30")["AAA"]  # a new client, same state dir
    assert server.count("/v2/stocks/bars") == calls
    assert (again["close"] == first.loc["2017-03-01":]["close"]).all()
    # extending the range fetches only the missing days
    more = _bars(server, tmp_path).bars(["AAA"], "2017-01-01", "2018-12-31")["AAA"]
    assert len(more) == 502
    tail_query = server.requests[-1][2]
    assert tail_query["start"][0].startswith("2018-07-01")


def test_empty_answer_is_a_clear_error(server, tmp_path):
    with pytest.raises(AlpacaDataError, match="no bars for ZZZ"):
        _bars(server, tmp_path).bars(["ZZZ"], "2018-01-01", "2018-01-31")


def test_unreachable_server_is_a_clear_error(tmp_path):
    with AlpacaServer(KEY, SECRET) as srv:
        settings = _settings(srv, tmp_path)
    with pytest.raises(AlpacaDataError, match="ConnectionError"):
        AlpacaBars(settings, retry_wait_s=0, min_interval_s=0).bars(["AAA"], "2018-01-01", "2018-01-31")


def test_get_frames_routes_unknown_symbols_to_alpaca(server, tmp_path):
    frames = get_frames(["SPX", "AAA", "SYN1"], start="2018-01-01", end="2018-03-31",
                        settings=_settings(server, tmp_path), retry_wait_s=0, min_interval_s=0)
    assert [f.attrs["source"] for f in frames.values()] == ["shipped", "alpaca", "synthetic"]
    assert len(frames["AAA"]) == len(frames["SPX"])


def test_get_frames_without_keys_names_the_problem(tmp_path, monkeypatch):
    monkeypatch.delenv("ALPACA_API_KEY", raising=False)
    monkeypatch.delenv("ALPACA_API_SECRET", raising=False)
    with pytest.raises(ValueError, match="AAA.*Alpaca keys are not set"):
        get_frames(["SPX", "AAA"], start="2018-01-01", settings=Settings(TRADESWARM_STATE_DIR=str(tmp_path)))


def test_intraday_bars_keep_their_own_timestamps(tmp_path):
    import pandas as pd

    from tradeswarm.marketdata import make_frame, synthetic_frame

    daily = synthetic_frame("SYN0", 10, seed=5)
    hours = pd.DatetimeIndex([d + pd.Timedelta(hours=h) for d in pd.bdate_range("2021-03-01", periods=10, tz="UTC")
                              for h in (14.5, 15.5, 16.5)], name="timestamp")
    values = {c: daily[c].to_numpy().repeat(3) for c in ("open", "high", "low", "close", "volume")}
    hourly = make_frame(hours, values, symbol="HHH", source="test", feed="iex", adjustment="all", timeframe="1Hour")
    with AlpacaServer(KEY, SECRET, bars={"HHH": hourly}, page_size=7) as srv:
        got = _bars(srv, tmp_path, timeframe="1Hour").bars(["HHH"], "2021-03-01", "2021-03-12")["HHH"]
        assert srv.requests[0][2]["timeframe"] == ["1Hour"]
    assert (got.index == hours).all() and got.attrs["timeframe"] == "1Hour"
    assert (tmp_path / "state" / "marketdata" / "alpaca" / "iex-all-1Hour" / "HHH.parquet").exists()
    with pytest.raises(ValueError, match="unknown timeframe"):
        _bars(srv, tmp_path, timeframe="2Weeks")


def test_requests_are_paced_under_the_plan_limit(server, tmp_path):
    import time

    client = AlpacaBars(_settings(server, tmp_path), retry_wait_s=0, min_interval_s=0.3)
    t0 = time.monotonic()
    client.bars(["AAA"], "2018-01-01", "2018-01-31")
    client.bars(["BBB"], "2012-01-01", "2012-01-31")  # a second request: must wait out the interval
    assert time.monotonic() - t0 >= 0.3
    assert client.requests == 2
