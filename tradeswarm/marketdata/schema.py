"""The one OHLCV frame schema every source produces and every consumer reads.

A `pandas.DataFrame` with a tz-aware `DatetimeIndex` named `timestamp` (UTC, ascending,
unique), float columns `open`, `high`, `low`, `close`, `volume`, and `frame.attrs` naming
`symbol`, `source`, `feed`, `adjustment` and `timeframe`. A daily bar is stamped at its
session date 00:00 America/New_York, converted to UTC.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np
import pandas as pd

COLUMNS = ("open", "high", "low", "close", "volume")
ATTRS = ("symbol", "source", "feed", "adjustment", "timeframe")
EXCHANGE_TZ = "America/New_York"


class FrameSchemaError(ValueError):
    """A frame does not follow the market-data schema; the message says what and where."""


def session_timestamps(dates: Iterable) -> pd.DatetimeIndex:
    """Session dates (naive = exchange-local, or tz-aware) → 00:00 America/New_York in UTC."""
    stamps = pd.DatetimeIndex(pd.to_datetime(dates))
    local = stamps.tz_localize(EXCHANGE_TZ) if stamps.tz is None else stamps.tz_convert(EXCHANGE_TZ)
    return local.normalize().tz_convert("UTC").rename("timestamp")


def make_frame(index: pd.DatetimeIndex, data: dict, *, symbol: str, source: str, feed: str,
               adjustment: str, timeframe: str = "1Day", values: bool = True) -> pd.DataFrame:
    """Build a schema frame from columns, stamping the provenance attrs, and validate it
    (`values=False`: structure only, for data the data contract is about to judge)."""
    frame = pd.DataFrame({c: np.asarray(data[c], dtype=float) for c in COLUMNS},
                         index=pd.DatetimeIndex(index).tz_convert("UTC").rename("timestamp"))
    frame.attrs.update(symbol=symbol, source=source, feed=feed, adjustment=adjustment, timeframe=timeframe)
    return validate_schema(frame, values=values)


def _first_bad(frame: pd.DataFrame, mask: np.ndarray) -> str:
    pos = int(np.flatnonzero(mask)[0])
    return f"{int(mask.sum())} bar(s), first at {frame.index[pos].isoformat()}"


def validate_schema(frame: pd.DataFrame, *, values: bool = True) -> pd.DataFrame:
    """Return `frame` unchanged if it follows the schema, else raise `FrameSchemaError`.

    Structure is always checked (index, columns, dtypes, attrs). With `values=True` the
    prices must also be finite and positive with low ≤ min(open, close) ≤ max(open, close)
    ≤ high, and volume finite and ≥ 0.
    """
    name = frame.attrs.get("symbol", "?") if isinstance(frame, pd.DataFrame) else "?"
    if not isinstance(frame, pd.DataFrame):
        raise FrameSchemaError(f"expected a pandas DataFrame, got {type(frame).__name__}")
    idx = frame.index
    if not isinstance(idx, pd.DatetimeIndex):
        raise FrameSchemaError(f"{name}: index must be a DatetimeIndex, got {type(idx).__name__}")
    if idx.tz is None:
        raise FrameSchemaError(f"{name}: index timestamps must be timezone-aware (UTC)")
    if idx.name != "timestamp":
        raise FrameSchemaError(f"{name}: index must be named 'timestamp', got {idx.name!r}")
    if not idx.is_monotonic_increasing or idx.has_duplicates:
        raise FrameSchemaError(f"{name}: timestamps must be strictly ascending and unique")
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise FrameSchemaError(f"{name}: missing column(s) {', '.join(missing)}")
    not_float = [c for c in COLUMNS if not pd.api.types.is_float_dtype(frame[c].dtype)]
    if not_float:
        raise FrameSchemaError(f"{name}: column(s) {', '.join(not_float)} must be float")
    absent = [a for a in ATTRS if a not in frame.attrs]
    if absent:
        raise FrameSchemaError(f"{name}: frame.attrs lacks {', '.join(absent)}")
    if values and len(frame):
        o, h, l, c, v = (frame[col].to_numpy() for col in COLUMNS)
        prices = np.stack([o, h, l, c])
        bad = ~np.isfinite(prices).all(axis=0) | (prices <= 0).any(axis=0)
        if bad.any():
            raise FrameSchemaError(f"{name}: non-finite or non-positive prices: {_first_bad(frame, bad)}")
        bad = (h < np.maximum(o, c)) | (l > np.minimum(o, c))
        if bad.any():
            raise FrameSchemaError(f"{name}: high/low do not bound open/close: {_first_bad(frame, bad)}")
        bad = ~np.isfinite(v) | (v < 0)
        if bad.any():
            raise FrameSchemaError(f"{name}: volume not finite and >= 0: {_first_bad(frame, bad)}")
    return frame
