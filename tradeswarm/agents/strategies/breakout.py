"""Donchian-channel breakout."""

from __future__ import annotations

import numpy as np
from pydantic import Field, model_validator

from ._base import Bars, BUY, HOLD, SELL, Strategy, StrategyParams
from ._indicators import rolling_max, rolling_min, shift


class BreakoutParams(StrategyParams):
    entry: int = Field(default=20, ge=2, le=500, description="bars of the entry channel")
    exit: int = Field(default=10, ge=2, le=500, description="bars of the exit channel")

    @model_validator(mode="after")
    def _exit_not_longer(self):
        if self.exit > self.entry:
            raise ValueError(f"exit ({self.exit}) must be <= entry ({self.entry})")
        return self


def _compute(bars: Bars, p: BreakoutParams) -> tuple[np.ndarray, np.ndarray]:
    close = bars.close
    # the channel is built from the PREVIOUS bars: today's own high can never be "broken"
    upper = shift(rolling_max(bars.high, p.entry), 1)
    lower = shift(rolling_min(bars.low, p.exit), 1)
    sig = np.full(len(close), HOLD, dtype=np.int8)
    sig[close > upper] = BUY
    sig[close < lower] = SELL
    with np.errstate(divide="ignore", invalid="ignore"):
        width = upper - shift(rolling_min(bars.low, p.entry), 1)
        excess = np.maximum(close - upper, lower - close)
        conf = np.where(excess > 0, 0.5 + excess / width, 0.0)
    return sig, conf


breakout = Strategy(
    name="breakout",
    Params=BreakoutParams,
    rule=(
        "BUY when close exceeds the highest high of the previous `entry` bars; SELL when it falls "
        "below the lowest low of the previous `exit` bars (today's bar is not in its own channel)."
    ),
    compute=_compute,
    warmup_bars=lambda p: p.entry,
)
