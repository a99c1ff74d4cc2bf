"""Risk manager: votes a veto when drawdown or realized volatility breach a limit."""

from __future__ import annotations

import numpy as np
from pydantic import Field

from ._base import Bars, HOLD, Memo, SELL, Strategy, StrategyParams
from ._indicators import rolling_max, rolling_std

TRADING_DAYS = 252


class RiskManagerParams(StrategyParams):
    peak_window: int = Field(default=126, ge=5, le=1000,
                             description="bars the running peak looks back (bounded, so a live window sees it)")
    max_drawdown: float = Field(default=0.15, gt=0.0, lt=1.0, description="veto at this fall from the peak")
    vol_window: int = Field(default=20, ge=5, le=500, description="bars of realized volatility")
    max_volatility: float = Field(default=0.45, gt=0.0, le=5.0, description="veto above this annualized vol")


def _drawdown(bars: Bars, p: RiskManagerParams, memo: Memo) -> np.ndarray:
    return memo(("drawdown", p.peak_window), lambda: 1.0 - bars.close / rolling_max(bars.close, p.peak_window))


def _volatility(bars: Bars, p: RiskManagerParams, memo: Memo) -> np.ndarray:
    def make() -> np.ndarray:
        log_ret = memo(("log_ret",), lambda: np.diff(np.log(bars.close), prepend=np.nan))
        vol = rolling_std(log_ret, p.vol_window) * np.sqrt(TRADING_DAYS)
        vol[: p.vol_window] = np.nan  # the first return needs a previous bar
        return vol

    return memo(("vol", p.vol_window), make)


def _signal(bars: Bars, p: RiskManagerParams, memo: Memo) -> np.ndarray:
    drawdown, vol = _drawdown(bars, p, memo), _volatility(bars, p, memo)
    sig = np.full(len(drawdown), HOLD, dtype=np.int8)
    sig[(drawdown >= p.max_drawdown) | (vol >= p.max_volatility)] = SELL
    return sig


def _confidence(bars: Bars, p: RiskManagerParams, memo: Memo) -> np.ndarray:
    return np.fmax(_drawdown(bars, p, memo) / p.max_drawdown, _volatility(bars, p, memo) / p.max_volatility)


risk_manager = Strategy.from_parts(
    name="risk_manager",
    Params=RiskManagerParams,
    rule=(
        "Veto (SELL) when close has fallen max_drawdown or more below its peak of the last "
        "peak_window bars, or when annualized realized volatility of the last vol_window log "
        "returns reaches max_volatility; otherwise HOLD."
    ),
    signal=_signal,
    confidence=_confidence,
    warmup_bars=lambda p: max(p.peak_window - 1, p.vol_window),
)
