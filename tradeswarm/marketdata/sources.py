"""`get_frames`: the one entry the rest of tradeswarm asks for market data."""

from __future__ import annotations

import re
from datetime import date
from typing import Iterable

import pandas as pd

from ..settings import Settings, get_settings
from .schema import session_timestamps
from .shipped import load_symbol, manifest, shipped_symbols
from .synthetic import SYNTHETIC_START, synthetic_frame

SOURCES = ("auto", "shipped", "synthetic", "alpaca")
_SYNTHETIC_NAME = re.compile(r"^SYN\d+$")
#: Bars a synthetic series has when no end date asks for more (about 20 years).
DEFAULT_SYNTHETIC_BARS = 5040


def is_synthetic(symbol: str) -> bool:
    """`SYN<n>` names come from the seeded generator."""
    return bool(_SYNTHETIC_NAME.match(symbol))


def coverage(symbol: str) -> tuple[date | None, date | None] | None:
    """The session dates a symbol's data covers, `None` at an open end, or `None` when unknown.

    Shipped symbols: the manifest's range; `SYN<n>`: from the generator's start, as far as
    asked; any other symbol (Alpaca) is unknown until fetched.

    >>> coverage("SPX")
    (datetime.date(1999, 1, 4), datetime.date(2018, 12, 31))
    """
    if is_synthetic(symbol):
        return date.fromisoformat(SYNTHETIC_START), None
    entry = manifest().get(symbol)
    if entry is None:
        return None
    return date.fromisoformat(entry["start"]), date.fromisoformat(entry["end"])


def uncovered(symbol: str, start: date | None, end: date | None) -> str | None:
    """Why the session window [start, end] reaches past `symbol`'s data, or None when it does not.

    A window the data covers only in part is refused rather than clipped: a run asked for
    1990 → 2099 must not silently use 1999 → 2018. Unknown coverage (Alpaca) is not judged here.

    >>> uncovered("SPX", date(2010, 1, 4), date(2099, 1, 1))
    'SPX: data covers 1999-01-04 → 2018-12-31, asked 2010-01-04 → 2099-01-01'
    """
    span = coverage(symbol)
    if span is None:
        return None
    first, last = span
    if (start is not None and start < first) or (end is not None and last is not None and end > last) \
            or (start is not None and last is not None and start > last) or (end is not None and end < first):
        return (f"{symbol}: data covers {first} → {last or 'any end'}, "
                f"asked {start or '…'} → {end or '…'}")
    return None


def check_window(symbols: Iterable[str], start: date | None, end: date | None) -> None:
    """`ValueError` naming every symbol whose data does not cover [start, end] (see `uncovered`)."""
    problems = [p for p in (uncovered(s, start, end) for s in symbols) if p]
    if problems:
        raise ValueError("; ".join(problems))


def _between(frame: pd.DataFrame, symbol: str, start, end) -> pd.DataFrame:
    lo = session_timestamps([start])[0] if start is not None else None
    hi = session_timestamps([end])[0] if end is not None else None
    mask = pd.Series(True, index=frame.index)
    if lo is not None:
        mask &= frame.index >= lo
    if hi is not None:
        mask &= frame.index <= hi
    out = frame[mask.to_numpy()]
    if out.empty:
        first, last = (frame.index[0].date(), frame.index[-1].date()) if len(frame) else ("-", "-")
        raise ValueError(f"{symbol}: no bars between {start or 'the start'} and {end or 'the end'} "
                         f"(data covers {first} → {last})")
    out.attrs = dict(frame.attrs)
    return out


def _synthetic(symbol: str, start, end, seed: int) -> pd.DataFrame:
    bars = DEFAULT_SYNTHETIC_BARS
    if end is not None:
        # enough bars to reach `end`; a longer series extends a shorter one bar for bar
        bars = max(1, len(pd.bdate_range(SYNTHETIC_START, pd.Timestamp(end).tz_localize(None)
                                         if pd.Timestamp(end).tz is not None else end)))
    return synthetic_frame(symbol, bars, seed)


def get_frames(symbols: Iterable[str] | str, start=None, end=None, source: str = "auto", *,
               seed: int = 0, settings: Settings | None = None, **alpaca_options) -> dict[str, pd.DataFrame]:
    """Schema frames for `symbols` over session dates [start, end] (both optional, inclusive).

    With `source="auto"`: shipped symbols (`SPX`, `NDX`, `GOOG`) load from `data/`, `SYN<n>`
    names come from the seeded generator, anything else from Alpaca when keys are set —
    otherwise a `ValueError` says which symbols cannot be served and why. `source` may
    force one of `shipped`, `synthetic`, `alpaca`. `alpaca_options` go to `AlpacaBars`.

    >>> frames = get_frames(["SPX", "SYN3"], start="2010-01-01", end="2010-12-31")
    >>> len(frames["SPX"]), frames["SYN3"].attrs["source"]
    (252, 'synthetic')
    """
    symbols = [symbols] if isinstance(symbols, str) else list(dict.fromkeys(symbols))
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}; choose one of {', '.join(SOURCES)}")
    if not symbols:
        raise ValueError("no symbols requested")
    shipped = set(shipped_symbols()) if source in ("auto", "shipped") else set()

    def route(sym: str) -> str:
        if source != "auto":
            return source
        if sym in shipped:
            return "shipped"
        return "synthetic" if is_synthetic(sym) else "alpaca"

    routes = {sym: route(sym) for sym in symbols}
    out: dict[str, pd.DataFrame] = {}
    for sym, kind in routes.items():
        if kind == "shipped":
            out[sym] = _between(load_symbol(sym), sym, start, end)
        elif kind == "synthetic":
            if not is_synthetic(sym):
                raise ValueError(f"{sym!r} is not a synthetic name (SYN0, SYN1, …)")
            out[sym] = _between(_synthetic(sym, start, end, seed), sym, start, end)
    remote = [sym for sym, kind in routes.items() if kind == "alpaca"]
    if remote:
        settings = settings or get_settings()
        if not settings.has_alpaca:
            raise ValueError(
                f"no data source for {', '.join(remote)}: not shipped ({', '.join(sorted(shipped_symbols()))}), "
                "not synthetic (SYN<n>), and Alpaca keys are not set (ALPACA_API_KEY, ALPACA_API_SECRET)")
        from .alpaca import AlpacaBars

        if start is None:
            raise ValueError(f"a start date is needed to fetch {', '.join(remote)} from Alpaca")
        out.update(AlpacaBars(settings, **alpaca_options).bars(remote, start, end))
    return {sym: out[sym] for sym in symbols}
