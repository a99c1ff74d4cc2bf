"""Lookback-return momentum, filtered by RSI and MACD."""

from __future__ import annotations

import numpy as np
from pydantic import Field, model_validator

from ._base import Bars, BUY, HOLD, Memo, SELL, Strategy, StrategyParams, z_confidence
from ._indicators import ema_length, rsi, shift, truncated_ema, zscore


class MomentumParams(StrategyParams):
    lookback: int = Field(default=20, ge=2, le=250, description="bars of the momentum return")
    z_window: int = Field(default=60, ge=10, le=500, description="bars the return is z-scored over")
    entry_z: float = Field(default=0.5, gt=0.0, le=5.0, description="|z| needed to act")
    rsi_period: int = Field(default=14, ge=2, le=100)
    rsi_overbought: float = Field(default=70.0, gt=50.0, lt=100.0, description="no BUY above this RSI")
    rsi_oversold: float = Field(default=30.0, gt=0.0, lt=50.0, description="no SELL below this RSI")
    macd_fast: int = Field(default=12, ge=2, le=100)
    macd_slow: int = Field(default=26, ge=3, le=200)
    macd_signal: int = Field(default=9, ge=2, le=100)

    @model_validator(mode="after")
    def _ordered(self):
        if self.macd_fast >= self.macd_slow:
            raise ValueError(f"macd_fast ({self.macd_fast}) must be < macd_slow ({self.macd_slow})")
        return self


def _close_ema(bars: Bars, span: int, memo: Memo) -> np.ndarray:
    return memo(("ema", span), lambda: truncated_ema(bars.close, span))


def _macd_histogram(bars: Bars, p: MomentumParams, memo: Memo) -> np.ndarray:
    def make() -> np.ndarray:
        macd = _close_ema(bars, p.macd_fast, memo) - _close_ema(bars, p.macd_slow, memo)
        return macd - truncated_ema(macd, p.macd_signal)

    return memo(("hist", p.macd_fast, p.macd_slow, p.macd_signal), make)


def _warmup(p: MomentumParams) -> int:
    z_ready = p.lookback + p.z_window - 1
    macd_ready = ema_length(p.macd_slow) - 1 + ema_length(p.macd_signal) - 1
    return max(z_ready, p.rsi_period, macd_ready)


def _z(bars: Bars, p: MomentumParams, memo: Memo) -> np.ndarray:
    """z-score over `z_window` bars of the `lookback`-bar return."""
    def make() -> np.ndarray:
        close = bars.close
        ret = memo(("ret", p.lookback), lambda: close / shift(close, p.lookback) - 1.0)
        return zscore(ret, p.z_window)

    return memo(("z", p.lookback, p.z_window), make)


def _signal(bars: Bars, p: MomentumParams, memo: Memo) -> np.ndarray:
    z = _z(bars, p, memo)
    strength = memo(("rsi", p.rsi_period), lambda: rsi(bars.close, p.rsi_period))
    hist = _macd_histogram(bars, p, memo)
    sig = np.full(len(z), HOLD, dtype=np.int8)
    sig[(z > p.entry_z) & (strength < p.rsi_overbought) & (hist > 0)] = BUY
    sig[(z < -p.entry_z) & (strength > p.rsi_oversold) & (hist < 0)] = SELL
    return sig


momentum = Strategy.from_parts(
    name="momentum",
    Params=MomentumParams,
    rule=(
        "BUY while the lookback return's z-score is above entry_z, RSI is below overbought and "
        "the MACD histogram is positive; SELL while the z-score is below −entry_z, RSI is above "
        "oversold and the histogram is negative (EMAs truncated at four spans)."
    ),
    signal=_signal,
    confidence=z_confidence(_z),
    warmup_bars=_warmup,
)
