"""Simple-moving-average crossover."""

from __future__ import annotations

import numpy as np
from pydantic import Field, model_validator

from ._base import Bars, BUY, HOLD, Memo, SELL, Strategy, StrategyParams
from ._indicators import rolling_mean, rolling_std


class SmaCrossoverParams(StrategyParams):
    fast: int = Field(default=10, ge=2, le=200, description="bars in the fast average")
    slow: int = Field(default=50, ge=3, le=400, description="bars in the slow average")

    @model_validator(mode="after")
    def _fast_below_slow(self):
        if self.fast >= self.slow:
            raise ValueError(f"fast ({self.fast}) must be < slow ({self.slow})")
        return self


def _sma(bars: Bars, n: int, memo: Memo) -> np.ndarray:
    return memo(("sma", n), lambda: rolling_mean(bars.close, n))


def _signal(bars: Bars, p: SmaCrossoverParams, memo: Memo) -> np.ndarray:
    close = bars.close
    fast, slow = _sma(bars, p.fast, memo), _sma(bars, p.slow, memo)
    above = fast > slow  # NaN compares False: a warm-up bar is never "above"
    below = fast < slow
    prev_valid = np.zeros(len(close), dtype=bool)
    prev_valid[1:] = ~np.isnan(slow[:-1])
    prev_above = np.zeros(len(close), dtype=bool)
    prev_above[1:] = above[:-1]
    prev_below = np.zeros(len(close), dtype=bool)
    prev_below[1:] = below[:-1]
    sig = np.full(len(close), HOLD, dtype=np.int8)
    sig[prev_valid & above & ~prev_above] = BUY
    sig[prev_valid & below & ~prev_below] = SELL
    return sig


def _confidence(bars: Bars, p: SmaCrossoverParams, memo: Memo) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.abs(_sma(bars, p.fast, memo) - _sma(bars, p.slow, memo)) / rolling_std(bars.close, p.slow)


sma_crossover = Strategy.from_parts(
    name="sma_crossover",
    Params=SmaCrossoverParams,
    rule=(
        "BUY on the bar the fast SMA of close crosses above the slow SMA, SELL on the bar it "
        "crosses below; confidence is the gap between them in units of the slow window's "
        "standard deviation (capped at 1)."
    ),
    signal=_signal,
    confidence=_confidence,
    # the first crossover needs both averages on the previous bar: bar index `slow`
    warmup_bars=lambda p: p.slow,
)
