"""Bollinger-band mean reversion."""

from __future__ import annotations

import numpy as np
from pydantic import Field, model_validator

from ._base import Bars, BUY, HOLD, Memo, SELL, Strategy, StrategyParams, z_confidence
from ._indicators import zscore


class MeanReversionParams(StrategyParams):
    window: int = Field(default=20, ge=5, le=500, description="bars of the band's mean and std")
    entry_z: float = Field(default=2.0, gt=0.0, le=5.0, description="BUY at or below −entry_z")
    exit_z: float = Field(default=0.0, ge=-5.0, le=5.0, description="SELL at or above exit_z")

    @model_validator(mode="after")
    def _exit_above_entry(self):
        if self.exit_z <= -self.entry_z:
            raise ValueError(f"exit_z ({self.exit_z}) must be > -entry_z ({-self.entry_z})")
        return self


def _z(bars: Bars, p: MeanReversionParams, memo: Memo) -> np.ndarray:
    return memo(("z", p.window), lambda: zscore(bars.close, p.window))


def _signal(bars: Bars, p: MeanReversionParams, memo: Memo) -> np.ndarray:
    z = _z(bars, p, memo)
    sig = np.full(len(z), HOLD, dtype=np.int8)
    sig[z <= -p.entry_z] = BUY
    sig[z >= p.exit_z] = SELL
    return sig


mean_reversion = Strategy.from_parts(
    name="mean_reversion",
    Params=MeanReversionParams,
    rule=(
        "BUY while close is at or below the lower Bollinger band (z-score of close over `window` "
        "bars ≤ −entry_z); SELL once it is back at or above exit_z standard deviations from the mean."
    ),
    signal=_signal,
    confidence=z_confidence(_z),
    warmup_bars=lambda p: p.window - 1,
)
