"""The shipped datasets as schema frames, for the backtest and data-contract tests."""

from __future__ import annotations

from functools import lru_cache

import pandas as pd

SYMBOLS = ("SPX", "NDX", "GOOG")


@lru_cache(maxsize=None)
def _cached(name: str) -> pd.DataFrame:
    from tradeswarm.marketdata import load_symbol

    return load_symbol(name)


def load(name: str) -> pd.DataFrame:
    """A fresh copy of a shipped dataset (tests may corrupt it freely)."""
    frame = _cached(name)
    out = frame.copy()
    out.attrs = {k: v for k, v in frame.attrs.items() if k != "data_validation"}
    return out
