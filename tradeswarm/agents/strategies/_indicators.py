"""Causal, window-independent indicators over numpy arrays.

Every value at bar t depends on a fixed number of bars ending at t, never on where the
array starts: a live agent holding the last 250 bars computes bit-for-bit what a backtest
over twenty years computes for the same bar. That is why EMAs here are truncated (a true
EMA remembers its first bar) and why rolling sums reduce each window on its own instead of
keeping a running total (a running total carries rounding from wherever it started).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from numpy.lib.stride_tricks import as_strided

#: A truncated EMA keeps this many spans of weights; the dropped tail weighs e^-8 ≈ 0.03 %.
EMA_SPANS_KEPT = 4


def _windows(x: np.ndarray, n: int) -> np.ndarray | None:
    """Read-only (len − n + 1, n) view of every window; as_strided directly, because
    `sliding_window_view`'s argument checks cost more than the reduction on 250 bars."""
    if len(x) < n:
        return None
    x = np.ascontiguousarray(x, dtype=float)
    return as_strided(x, shape=(len(x) - n + 1, n), strides=(x.strides[0], x.strides[0]), writeable=False)


def _pad(values: np.ndarray, length: int) -> np.ndarray:
    """Left-pad `values` with NaN to `length` (the bars before the first full window)."""
    out = np.full(length, np.nan)
    if len(values):
        out[length - len(values):] = values
    return out


def rolling_mean(x: np.ndarray, n: int) -> np.ndarray:
    """Mean of the last `n` values at each bar (NaN before `n` are available)."""
    w = _windows(x, n)
    return _pad(w.mean(axis=1) if w is not None else np.empty(0), len(x))


def rolling_std(x: np.ndarray, n: int) -> np.ndarray:
    """Sample standard deviation (ddof=1) of the last `n` values at each bar."""
    w = _windows(x, n)
    return _pad(w.std(axis=1, ddof=1) if w is not None else np.empty(0), len(x))


def rolling_max(x: np.ndarray, n: int) -> np.ndarray:
    """Highest of the last `n` values at each bar."""
    w = _windows(x, n)
    return _pad(w.max(axis=1) if w is not None else np.empty(0), len(x))


def rolling_min(x: np.ndarray, n: int) -> np.ndarray:
    """Lowest of the last `n` values at each bar."""
    w = _windows(x, n)
    return _pad(w.min(axis=1) if w is not None else np.empty(0), len(x))


def shift(x: np.ndarray, k: int) -> np.ndarray:
    """`x` delayed by `k` bars (NaN for the first `k`)."""
    out = np.full(len(x), np.nan)
    if k < len(x):
        out[k:] = x[: len(x) - k]
    return out


def ema_length(span: int) -> int:
    """Bars a truncated EMA of `span` reads."""
    return EMA_SPANS_KEPT * span


def truncated_ema(x: np.ndarray, span: int) -> np.ndarray:
    """EMA with alpha = 2/(span+1), its weights cut after `ema_length(span)` bars and renormalised.

    NaN until a full kernel of non-NaN values is available, so the value never depends on
    how much history precedes it.
    """
    weights = _ema_weights(span)
    w = _windows(x, len(weights))
    return _pad(w @ weights if w is not None else np.empty(0), len(x))


@lru_cache(maxsize=64)
def _ema_weights(span: int) -> np.ndarray:
    alpha = 2.0 / (span + 1.0)
    weights = (1.0 - alpha) ** np.arange(ema_length(span) - 1, -1, -1)  # oldest bar first
    weights /= weights.sum()
    weights.flags.writeable = False
    return weights


def rsi(close: np.ndarray, n: int) -> np.ndarray:
    """Cutler's RSI: 100 − 100/(1 + mean gain/mean loss) over the last `n` price changes.

    Simple averages (not Wilder's recursive smoothing) keep the value window-independent.
    """
    diff = np.diff(close, prepend=np.nan)
    gain = rolling_mean(np.where(diff > 0, diff, 0.0), n)
    loss = rolling_mean(np.where(diff < 0, -diff, 0.0), n)
    gain[: n] = np.nan  # the first change needs a previous bar
    loss[: n] = np.nan
    with np.errstate(divide="ignore", invalid="ignore"):
        value = 100.0 - 100.0 / (1.0 + gain / loss)
    value = np.where((loss == 0) & (gain > 0), 100.0, value)
    return np.where((loss == 0) & (gain == 0), 50.0, value)


def zscore(x: np.ndarray, n: int) -> np.ndarray:
    """(x − rolling mean) / rolling std over the last `n` values; 0 where the std is 0."""
    mean = rolling_mean(x, n)
    std = rolling_std(x, n)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (x - mean) / std
    return np.where(std == 0, 0.0, z)
