"""The `Strategy` record every signal function is registered as, and its parameter base."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

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


class Memo:
    """Indicator values computed once per `Bars` and shared by every parameter set that asks.

    `memo(key, make)` returns the cached array for `key` or stores `make()`'s. A sweep shares
    one memo across its combinations (twenty `fast` windows × fifty `slow` windows need seventy
    averages, not two thousand); a live call uses a fresh one. The values are the ones `make`
    computes either way, so the sharing cannot change a bit. Stored arrays are made read-only:
    a rule that edited a shared indicator in place would corrupt the next combination.
    """

    def __init__(self) -> None:
        self._values: dict = {}

    def __call__(self, key, make: Callable[[], np.ndarray]) -> np.ndarray:
        try:
            return self._values[key]
        except KeyError:
            value = self._values[key] = make()
            value.flags.writeable = False
            return value


#: `signal(bars, params, memo) -> int8 array`: the rule alone, without its confidence.
SignalFn = Callable[[Bars, Any, Memo], np.ndarray]


def z_confidence(z: SignalFn) -> SignalFn:
    """Confidence of a z-score strategy: |z| / (2 × entry_z), so a signal just past its entry
    threshold is 0.5 and one twice as far is 1."""
    return lambda bars, p, memo: np.abs(z(bars, p, memo)) / (2.0 * p.entry_z)


@dataclass(frozen=True)
class Strategy:
    """A named, pure, causal signal function with validated parameters.

    `signal` and `confidence` run the same `compute` a live agent runs through
    `latest_signal`, so a backtest trades exactly what an agent would have said. A strategy
    built with `split_compute` also passes its signal half as `signal_only`: `signal` and
    `signal_grid` (a sweep's many parameter sets at once) then skip the confidence and share
    indicators through a `Memo`, running the very function `compute` runs.
    """

    name: str
    Params: type[StrategyParams]
    rule: str
    compute: Compute
    warmup_bars: Callable[[Any], int]
    signal_only: SignalFn | None = None

    def __post_init__(self) -> None:
        # `help(momentum)` documents this object: its rule and parameters, not the class
        fields = "\n".join(f"- `{k}` (default {f.default!r})" + (f": {f.description}" if f.description else "")
                           for k, f in self.Params.model_fields.items())
        object.__setattr__(self, "__doc__", f"Strategy `{self.name}`.\n\n{self.rule}\n\nParameters:\n{fields}")

    @classmethod
    def from_parts(cls, *, signal: SignalFn, confidence: Callable[[Bars, Any, Memo], np.ndarray],
                   **fields) -> "Strategy":
        """A strategy written as a signal and a confidence that share indicators via a `Memo`."""

        def compute(bars: Bars, p) -> tuple[np.ndarray, np.ndarray]:
            memo = Memo()
            return signal(bars, p, memo), confidence(bars, p, memo)

        return cls(compute=compute, signal_only=signal, **fields)

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
        conf = np.clip(np.nan_to_num(np.asarray(conf, dtype=float), nan=0.0), 0.0, 1.0)
        conf[: min(self.warmup_bars(p), len(conf))] = 0.0
        return self._held(sig, p), conf

    def _held(self, sig, p) -> np.ndarray:
        """`sig` as int8 with the warm-up bars forced to HOLD."""
        sig = np.array(sig, dtype=np.int8)  # a copy: a memoised array is never edited
        sig[: min(self.warmup_bars(p), len(sig))] = HOLD
        return sig

    def _signal(self, bars: Bars, p, memo: Memo) -> np.ndarray:
        raw = self.compute(bars, p)[0] if self.signal_only is None else self.signal_only(bars, p, memo)
        return self._held(raw, p)

    def signal(self, frame: pd.DataFrame, params=None) -> pd.Series:
        """+1 BUY, −1 SELL, 0 HOLD per bar; causal (bar t reads bars ≤ t only)."""
        sig = self._signal(Bars.of(frame), self.params(params), Memo())
        return pd.Series(sig, index=frame.index, name=self.name)

    def signal_grid(self, frame: pd.DataFrame, combos: Sequence[StrategyParams | Mapping[str, Any] | None]) -> np.ndarray:
        """bars × combos int8 matrix: column j is `signal(frame, combos[j])`, bit for bit.

        The combinations share one `Memo`, so each distinct indicator (an SMA of one window,
        a z-score of one lookback) is computed once for the whole grid, and no confidence is
        computed at all: what a 1,000-combination sweep needs.

        >>> from tradeswarm.marketdata import load_symbol
        >>> from tradeswarm.agents.strategies import get_strategy
        >>> sma, goog = get_strategy("sma_crossover"), load_symbol("GOOG")
        >>> grid = sma.signal_grid(goog, [{"fast": 5, "slow": 50}, {"fast": 10, "slow": 50}])
        >>> grid.shape == (len(goog), 2), bool((grid[:, 1] == sma.signal(goog, {"fast": 10, "slow": 50})).all())
        (True, True)
        """
        bars, memo = Bars.of(frame), Memo()
        out = np.empty((len(frame), len(combos)), dtype=np.int8)
        for j, params in enumerate(combos):
            out[:, j] = self._signal(bars, self.params(params), memo)
        return out

    def confidence(self, frame: pd.DataFrame, params=None) -> pd.Series:
        """How strongly the rule fires at each bar, in [0, 1]."""
        return pd.Series(self.arrays(frame, params)[1], index=frame.index, name=self.name)
