"""Bars from Alpaca's market-data API (alpaca-py), daily or intraday, cached locally as Parquet.

The SDK follows `next_page_token` itself and retries 429/504 answers; this module adds
what it lacks: client-side pacing under the plan's request limit, a guard for empty
answers, errors that say what went wrong without echoing a key, and a per-symbol Parquet
cache in the state directory that remembers which session dates it covers, so a nightly
run fetches only the days it has not seen.
"""

from __future__ import annotations

import io
import json
import threading
import time
from datetime import date, datetime, time as dtime, timedelta
from pathlib import Path
from typing import Iterable

import pandas as pd

from ..atomic import atomic_write_bytes
from ..settings import Settings, get_settings
from .alpaca_client import build_client, describe_failure
from .schema import EXCHANGE_TZ, make_frame, session_timestamps

_META_KEY = b"tradeswarm.coverage"


class AlpacaDataError(RuntimeError):
    """Alpaca market data could not be fetched; the message says why (never a key)."""


def _session_date(value) -> date:
    """A date from a date, an ISO string, or a (tz-aware or naive) timestamp."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    ts = pd.Timestamp(value)
    return (ts.tz_convert(EXCHANGE_TZ) if ts.tz is not None else ts).date()


def _ny_midnight(day: date) -> datetime:
    return pd.Timestamp(datetime.combine(day, dtime()), tz=EXCHANGE_TZ).to_pydatetime()


def missing_segments(coverage: tuple[date, date] | None, start: date, end: date) -> list[tuple[date, date]]:
    """Date ranges of [start, end] outside the cached `coverage`, which stays contiguous.

    >>> from datetime import date as d
    >>> missing_segments((d(2020, 1, 1), d(2020, 12, 31)), d(2019, 7, 1), d(2021, 1, 31))
    [(datetime.date(2019, 7, 1), datetime.date(2019, 12, 31)), (datetime.date(2021, 1, 1), datetime.date(2021, 1, 31))]
    >>> missing_segments((d(2020, 1, 1), d(2020, 12, 31)), d(2020, 3, 1), d(2020, 4, 1))
    []
    """
    if coverage is None:
        return [(start, end)]
    segments = []
    if start < coverage[0]:
        segments.append((start, coverage[0] - timedelta(days=1)))
    if end > coverage[1]:
        segments.append((coverage[1] + timedelta(days=1), end))
    return segments


#: Bar sizes this client asks for: the schema's `timeframe` name → (amount, alpaca unit name).
TIMEFRAMES = {"1Min": (1, "Minute"), "5Min": (5, "Minute"), "15Min": (15, "Minute"),
              "1Hour": (1, "Hour"), "1Day": (1, "Day")}


class AlpacaBars:
    """Fetch bars (`timeframe` in `TIMEFRAMES`, default daily) for symbols and dates, through the Parquet cache.

    `settings` supplies the keys (unwrapped only in `build_client`) and `ALPACA_DATA_URL`
    (the SDK's `url_override`). `retry_wait_s` overrides the SDK's fixed 3 s wait after a
    429 (tests set 0); `min_interval_s` paces requests (the free plan allows 200/min).
    `requests` counts the `get_stock_bars` calls made (each may be several HTTP pages).
    """

    def __init__(self, settings: Settings | None = None, *, feed: str = "iex", adjustment: str = "all",
                 timeframe: str = "1Day", cache_dir: str | Path | None = None, retry_wait_s: float | None = None,
                 min_interval_s: float = 60.0 / 200) -> None:
        self._settings = settings or get_settings()
        if not self._settings.has_alpaca:
            raise AlpacaDataError("Alpaca keys are not set (ALPACA_API_KEY and ALPACA_API_SECRET)")
        if timeframe not in TIMEFRAMES:
            raise ValueError(f"unknown timeframe {timeframe!r}; choose one of {', '.join(TIMEFRAMES)}")
        self.feed, self.adjustment, self.timeframe = feed, adjustment, timeframe
        base = Path(cache_dir) if cache_dir is not None else self._settings.state_dir / "marketdata" / "alpaca"
        self.cache_dir = base / f"{feed}-{adjustment}-{timeframe}"
        self.retry_wait_s = retry_wait_s
        self.min_interval_s = min_interval_s
        self.requests = 0
        self._client_obj = None
        self._last_request = 0.0
        self._lock = threading.Lock()

    def _client(self):
        if self._client_obj is None:
            from alpaca.data.historical import StockHistoricalDataClient

            self._client_obj = build_client(StockHistoricalDataClient, self._settings,
                                            self._settings.alpaca_data_url, self.retry_wait_s)
        return self._client_obj

    # -- cache -------------------------------------------------------------------------
    def _cache_path(self, symbol: str) -> Path:
        return self.cache_dir / f"{symbol}.parquet"

    def _read_cache(self, symbol: str) -> tuple[pd.DataFrame | None, tuple[date, date] | None]:
        import pyarrow.parquet as pq

        path = self._cache_path(symbol)
        if not path.exists():
            return None, None
        table = pq.read_table(path)
        meta = json.loads(table.schema.metadata[_META_KEY])
        frame = table.to_pandas()
        return frame, (date.fromisoformat(meta["start"]), date.fromisoformat(meta["end"]))

    def _write_cache(self, symbol: str, frame: pd.DataFrame, coverage: tuple[date, date]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pandas(frame)
        meta = dict(table.schema.metadata or {})
        meta[_META_KEY] = json.dumps({"start": coverage[0].isoformat(), "end": coverage[1].isoformat(),
                                      "feed": self.feed, "adjustment": self.adjustment}).encode()
        buf = io.BytesIO()
        pq.write_table(table.replace_schema_metadata(meta), buf)
        atomic_write_bytes(self._cache_path(symbol), buf.getvalue())

    # -- fetching ----------------------------------------------------------------------
    def _pace(self) -> None:
        with self._lock:
            wait = self._last_request + self.min_interval_s - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            self._last_request = time.monotonic()

    def _fetch(self, symbols: list[str], start: date, end: date) -> dict[str, pd.DataFrame]:
        """One `get_stock_bars` call (all pages) for `symbols` over session dates [start, end]."""
        amount, unit = TIMEFRAMES[self.timeframe]
        from alpaca.data.enums import Adjustment, DataFeed
        from alpaca.data.requests import StockBarsRequest
        from alpaca.data.timeframe import TimeFrame, TimeFrameUnit

        request = StockBarsRequest(
            symbol_or_symbols=symbols, timeframe=TimeFrame(amount, TimeFrameUnit(unit)), start=_ny_midnight(start),
            end=_ny_midnight(end + timedelta(days=1)) - timedelta(seconds=1), feed=DataFeed(self.feed), adjustment=Adjustment(self.adjustment),
        )
        self._pace()
        self.requests += 1
        try:
            barset = self._client().get_stock_bars(request)
        except Exception as exc:  # APIError, connection refused, malformed answer
            raise AlpacaDataError(describe_failure(exc, f"Alpaca bars for {', '.join(symbols)}",
                                                   self._settings.secret_values())) from None
        out = {}
        for symbol in symbols:
            bars = (barset.data or {}).get(symbol) or []
            out[symbol] = pd.DataFrame(
                {"open": [b.open for b in bars], "high": [b.high for b in bars], "low": [b.low for b in bars],
                 "close": [b.close for b in bars], "volume": [b.volume for b in bars]},
                index=self._stamps([b.timestamp for b in bars]), dtype=float,
            )
        return out

    def _stamps(self, stamps) -> pd.DatetimeIndex:
        """Daily bars carry their session date (NY midnight); intraday bars their own UTC open."""
        if self.timeframe == "1Day":
            return session_timestamps(stamps)
        return pd.DatetimeIndex(pd.to_datetime(stamps, utc=True)).rename("timestamp")

    def bars(self, symbols: Iterable[str], start, end=None) -> dict[str, pd.DataFrame]:
        """Schema frames of bars for `symbols` over session dates [start, end].

        `end` defaults to today (New York). Days before today are cached once fetched;
        today's bar may still change, so it is fetched again next time.
        """
        symbols = list(dict.fromkeys(symbols))
        start_d = _session_date(start)
        today = pd.Timestamp.now(tz=EXCHANGE_TZ).date()
        end_d = min(_session_date(end) if end is not None else today, today)
        if end_d < start_d:
            raise ValueError(f"end {end_d} is before start {start_d}")
        final_end = min(end_d, today - timedelta(days=1))

        cached = {symbol: self._read_cache(symbol) for symbol in symbols}
        # symbols missing the same dates share one request (the nightly case)
        by_segment: dict[tuple[date, date], list[str]] = {}
        for symbol, (_, coverage) in cached.items():
            for seg in missing_segments(coverage, start_d, end_d):
                by_segment.setdefault(seg, []).append(symbol)
        fetched: dict[str, list[pd.DataFrame]] = {s: [] for s in symbols}
        for (seg_start, seg_end), group in by_segment.items():
            for symbol, frame in self._fetch(group, seg_start, seg_end).items():
                fetched[symbol].append(frame)

        out = {}
        for symbol in symbols:
            frame, coverage = cached[symbol]
            parts = ([frame] if frame is not None else []) + fetched[symbol]
            merged = pd.concat(parts) if parts else pd.DataFrame()
            merged = merged[~merged.index.duplicated(keep="last")].sort_index()
            if fetched[symbol]:
                cov_start = min(start_d, coverage[0]) if coverage else start_d
                cov_end = max(final_end, coverage[1]) if coverage else final_end
                if cov_end >= cov_start:
                    self._write_cache(symbol, merged[merged.index < _ny_midnight(cov_end + timedelta(days=1))],
                                      (cov_start, cov_end))
            lo, hi = _ny_midnight(start_d), _ny_midnight(end_d + timedelta(days=1))
            window = merged[(merged.index >= lo) & (merged.index < hi)] if len(merged) else merged
            if window.empty:
                raise AlpacaDataError(f"Alpaca returned no bars for {symbol} between {start_d} and {end_d} "
                                      f"(feed={self.feed}); check the symbol and the dates")
            out[symbol] = make_frame(window.index, window, symbol=symbol, source="alpaca", feed=self.feed,
                                     adjustment=self.adjustment, timeframe=self.timeframe)
        return out
