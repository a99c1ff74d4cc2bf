"""Measure live/backtest parity: does `latest_signal` on a live window say what the series says?

The certification's `parity` evidence (docs/contracts.md §5) comes from here: for sampled
bars t past warm-up, the answer a live agent would give from the `window` bars ending at t
is compared with `Strategy.signal(frame)[t]` computed over the whole history.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd

from . import get_strategy, latest_signal
from ._base import ACTIONS


def parity_report(name: str, frame: pd.DataFrame, params: Mapping[str, Any] | None = None, *,
                  window: int = 250, bars: int = 500) -> dict:
    """`{strategy, symbol, bars, mismatches, window, first_mismatch}` over up to `bars` sampled bars.

    Bars are spread evenly over the part of history where a `window`-bar live window exists.
    A mismatch is a different action or a confidence differing by more than 1e-9.

    >>> from tradeswarm.marketdata import load_symbol
    >>> r = parity_report("breakout", load_symbol("GOOG"), bars=50)
    >>> r["bars"], r["mismatches"]
    (50, 0)
    """
    strategy = get_strategy(name)
    p = strategy.params(params)
    if window < strategy.warmup(p) + 1:
        raise ValueError(f"{name}: a window of {window} bars is shorter than warm-up + 1 "
                         f"({strategy.warmup(p) + 1})")
    sig, conf = strategy.arrays(frame, p)
    candidates = np.arange(window - 1, len(frame))
    if len(candidates) == 0:
        raise ValueError(f"{name}: {len(frame)} bars are fewer than one live window of {window}")
    picks = np.unique(np.linspace(0, len(candidates) - 1, min(bars, len(candidates))).round().astype(int))
    mismatches, first = 0, None
    for t in candidates[picks]:
        live = latest_signal(name, frame.iloc[t + 1 - window: t + 1], p)
        if live["action"] != ACTIONS[int(sig[t])] or abs(live["confidence"] - conf[t]) > 1e-9:
            mismatches += 1
            first = first or frame.index[t].isoformat()
    return {"strategy": name, "symbol": frame.attrs.get("symbol", "?"), "bars": int(len(picks)),
            "mismatches": mismatches, "window": window, "first_mismatch": first}
