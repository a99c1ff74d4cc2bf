"""Seeded synthetic daily OHLCV for scale tests: GBM with regime switches, gaps and volume.

Each symbol draws from its own random stream derived from `(seed, symbol)`, and each
component (regimes, returns, gaps, ranges, volume) from its own child stream, so a symbol's
series is the same whichever other symbols are requested, and a longer series extends a
shorter one bar for bar.
"""

from __future__ import annotations

import zlib
from typing import Iterable

import numpy as np
import pandas as pd

from .schema import make_frame, session_timestamps

#: Canonical first session of every synthetic series.
SYNTHETIC_START = "2000-01-03"
TRADING_DAYS = 252
# (annual drift, annual volatility) of a calm bull regime and a volatile bear regime
_REGIMES = np.array([[0.10, 0.15], [-0.15, 0.35]])
_SWITCH_PROB = 0.01  # per bar: regimes last ~100 bars on average
_JUMP_PROB = 0.02  # per bar: an overnight gap of several sigmas


def synthetic_symbols(count: int) -> list[str]:
    """`SYN0` … `SYN{count-1}`."""
    return [f"SYN{i}" for i in range(count)]


_COMPONENTS = ("regime", "session", "gap", "jump", "jump_sign", "wick_high", "wick_low", "volume", "price")


def _streams(seed: int, symbol: str) -> dict[str, np.random.Generator]:
    seq = np.random.SeedSequence([int(seed), zlib.crc32(symbol.encode())])
    return {name: np.random.default_rng(s) for name, s in zip(_COMPONENTS, seq.spawn(len(_COMPONENTS)))}


def synthetic_frame(symbol: str, bars: int, seed: int = 0, start: str = SYNTHETIC_START) -> pd.DataFrame:
    """One symbol's series of `bars` business-day bars starting at `start`."""
    if bars < 1:
        raise ValueError(f"bars must be >= 1, got {bars}")
    rng = _streams(seed, symbol)
    regime = np.cumsum(rng["regime"].random(bars) < _SWITCH_PROB) % 2
    drift = _REGIMES[regime, 0] / TRADING_DAYS
    sigma = _REGIMES[regime, 1] / np.sqrt(TRADING_DAYS)
    # a day's variance splits 20 % overnight (the gap) and 80 % in session
    overnight = rng["gap"].normal(0.0, 1.0, bars) * sigma * np.sqrt(0.2)
    jumps = (rng["jump"].random(bars) < _JUMP_PROB) * np.where(rng["jump_sign"].random(bars) < 0.5, -3.0, 3.0)
    overnight += jumps * sigma
    overnight[0] = 0.0
    session = drift - 0.5 * sigma**2 + rng["session"].normal(0.0, 1.0, bars) * sigma * np.sqrt(0.8)
    first = 50.0 * np.exp(rng["price"].uniform(0.0, 2.0))
    log_close = np.log(first) + np.cumsum(overnight + session)
    close = np.exp(log_close)
    open_ = np.exp(log_close - session)
    high = np.maximum(open_, close) * np.exp(np.abs(rng["wick_high"].normal(0.0, 1.0, bars)) * sigma * 0.5)
    low = np.minimum(open_, close) * np.exp(-np.abs(rng["wick_low"].normal(0.0, 1.0, bars)) * sigma * 0.5)
    surprise = np.abs(overnight + session) / sigma
    volume = np.round(rng["volume"].lognormal(np.log(1e6), 0.3, bars) * (1.0 + surprise))
    dates = pd.bdate_range(start=start, periods=bars)
    return make_frame(
        session_timestamps(dates),
        {"open": open_, "high": high, "low": low, "close": close, "volume": volume},
        symbol=symbol, source="synthetic", feed=f"gbm-regimes(seed={int(seed)})",
        adjustment="none", timeframe="1Day",
    )


def synthetic(symbols: Iterable[str] | int, bars: int, seed: int = 0) -> dict[str, pd.DataFrame]:
    """Synthetic frames for `symbols` (names, or a count meaning `SYN0`…); same seed, same data.

    >>> frames = synthetic(3, bars=100, seed=7)
    >>> sorted(frames), len(frames["SYN0"])
    (['SYN0', 'SYN1', 'SYN2'], 100)
    >>> bool((synthetic(["SYN1"], 100, seed=7)["SYN1"] == frames["SYN1"]).all().all())
    True
    """
    names = synthetic_symbols(symbols) if isinstance(symbols, int) else list(symbols)
    return {name: synthetic_frame(name, bars, seed) for name in names}
