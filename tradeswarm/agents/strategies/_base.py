"""The `Strategy` record every signal function is registered as, and its parameter base."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

from tradeswarm.marketdata.schema import COLUMNS

BUY, HOLD, SELL = 1, 0, -1
ACTIONS = {BUY: "BUY", HOLD: "HOLD", SELL: "SELL"}


class StrategyParams(BaseModel):
    """Base of every strategy's parameters: unknown keys are refused, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class Bars:
    """The OHLCV columns of a frame as float numpy arrays: what a strategy computes on."""

    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray

    @classmethod
    def of(cls, frame: pd.DataFrame) -> "Bars":
        """Pull the columns out in one `to_numpy` (per-column access deep-copies `frame.attrs`
        each time, which costs more than a strategy's arithmetic on a live window)."""
        where = {c: i for i, c in enumerate(frame.columns)}
        missing = [c for c in COLUMNS if c not in where]
        if missing:
            raise ValueError(f"frame lacks column(s) {', '.join(missing)}")
        try:
            values = frame.to_numpy(dtype=float)
        except (TypeError, ValueError):  # extra non-numeric columns
            values = np.column_stack([frame[c].to_numpy(dtype=float) for c in COLUMNS])
            where = {c: i for i, c in enumerate(COLUMNS)}
        return cls(*(values[:, where[c]] for c in COLUMNS))


#: `compute(bars, params) -> (signal int8 array, confidence float array)`, one pass.
Compute = Callable[[Bars, Any], "tuple[np.ndarray, np.ndarray]"]


@dataclass(frozen=True)
class Strategy:
    """A named, pure, causal signal function with validated parameters.

    `signal` and `confidence` run the same `compute` a live agent runs through
    `latest_signal`, so a backtest trades exactly what an agent would have said.
    """

    name: str
    Params: type[StrategyParams]
    rule: str
    compute: Compute
    warmup_bars: Callable[[Any], int]

    def params(self, params: StrategyParams | Mapping[str, Any] | None = None) -> StrategyParams:
        """Validate `params` (a dict, a `Params` instance, or None for the defaults)."""
        if params is None:
            return self.Params()
        if isinstance(params, self.Params):
            return params
        if isinstance(params, BaseModel):
            params = params.model_dump()
        return self.Params.model_validate(dict(params))

    def warmup(self, params: StrategyParams | Mapping[str, Any] | None = None) -> int:
        """Bars before the signal can be non-zero; a window of `warmup + 1` bars suffices."""
        return self.warmup_bars(self.params(params))

    def arrays(self, frame: pd.DataFrame, params=None) -> tuple[np.ndarray, np.ndarray]:
        """Signal and confidence as numpy arrays, warm-up bars forced to HOLD / 0."""
        p = self.params(params)
        sig, conf = self.compute(Bars.of(frame), p)
        sig = np.asarray(sig, dtype=np.int8)
        conf = np.clip(np.nan_to_num(np.asarray(conf, dtype=float), nan=0.0), 0.0, 1.0)
        cut = min(self.warmup_bars(p), len(sig))
        sig[:cut] = HOLD
        conf[:cut] = 0.0
        return sig, conf

    def signal(self, frame: pd.DataFrame, params=None) -> pd.Series:
        """+1 BUY, −1 SELL, 0 HOLD per bar; causal (bar t reads bars ≤ t only)."""
        return pd.Series(self.arrays(frame, params)[0], index=frame.index, name=self.name)

    def confidence(self, frame: pd.DataFrame, params=None) -> pd.Series:
        """How strongly the rule fires at each bar, in [0, 1]."""
        return pd.Series(self.arrays(frame, params)[1], index=frame.index, name=self.name)
