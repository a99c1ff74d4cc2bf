"""Donchian-channel breakout."""

from __future__ import annotations

import numpy as np
from pydantic import Field, model_validator

from ._base import Bars, BUY, HOLD, Memo, SELL, Strategy, StrategyParams
from ._indicators import rolling_max, rolling_min, shift


class BreakoutParams(StrategyParams):
    entry: int = Field(default=20, ge=2, le=500, description="bars of the entry channel")
    exit: int = Field(default=10, ge=2, le=500, description="bars of the exit channel")

    @model_validator(mode="after")
    def _exit_not_longer(self):
        if self.exit > self.entry:
            raise ValueError(f"exit ({self.exit}) must be <= entry ({self.entry})")
        return self


def _channel(bars: Bars, side: str, n: int, memo: Memo) -> np.ndarray:
    """The previous `n` bars' highest high (`side="upper"`) or lowest low (`"lower"`)."""
    if side == "upper":
        return memo(("upper", n), lambda: shift(rolling_max(bars.high, n), 1))
    return memo(("lower", n), lambda: shift(rolling_min(bars.low, n), 1))


def _signal(bars: Bars, p: BreakoutParams, memo: Memo) -> np.ndarray:
    close = bars.close
    # the channel is built from the PREVIOUS bars: today's own high can never be "broken"
    upper, lower = _channel(bars, "upper", p.entry, memo), _channel(bars, "lower", p.exit, memo)
    sig = np.full(len(close), HOLD, dtype=np.int8)
    sig[close > upper] = BUY
    sig[close < lower] = SELL
    return sig


def _confidence(bars: Bars, p: BreakoutParams, memo: Memo) -> np.ndarray:
    close = bars.close
    upper, lower = _channel(bars, "upper", p.entry, memo), _channel(bars, "lower", p.exit, memo)
    with np.errstate(divide="ignore", invalid="ignore"):
        width = upper - _channel(bars, "lower", p.entry, memo)
        excess = np.maximum(close - upper, lower - close)
        return np.where(excess > 0, 0.5 + excess / width, 0.0)


breakout = Strategy.from_parts(
    name="breakout",
    Params=BreakoutParams,
    rule=(
        "BUY when close exceeds the highest high of the previous `entry` bars; SELL when it falls "
        "below the lowest low of the previous `exit` bars (today's bar is not in its own channel)."
    ),
    signal=_signal,
    confidence=_confidence,
    warmup_bars=lambda p: p.entry,
)
