"""Data and backtest tasks: pure functions of their inputs, so their results are cached.

The cache key is the task's inputs (including each dataset's content fingerprint) and the
task's source: a re-run after a crash skips a validation or backtest that already finished,
and any change to the data, the spec section or the code runs it again.
"""

from __future__ import annotations

from datetime import timedelta

from prefect import task
from prefect.cache_policies import INPUTS, TASK_SOURCE

CACHED = dict(cache_policy=INPUTS + TASK_SOURCE, persist_result=True, cache_expiration=timedelta(days=30))


def load(symbol: str, start: str | None, end: str | None):
    """The dataset's frame over the spec's window."""
    from tradeswarm.marketdata import get_frames

    return get_frames([symbol], start=start, end=end)[symbol]


@task(name="validate-data", **CACHED)
def validate(symbol: str, start: str | None, end: str | None, contract: dict, fingerprint: str) -> dict:
    """Run the great-expectations data contract on one dataset."""
    from validation.contract import validate_frame

    return validate_frame(load(symbol, start, end), symbol, contract)


@task(name="backtest", **CACHED)
def backtest(symbol: str, start: str | None, end: str | None, strategy: str, params_or_grid: dict,
             settings: dict, fingerprint: str) -> dict:
    """Backtest one strategy on one dataset with its gates and reference cross-check."""
    from tradeswarm.backtest import certify_backtest

    return certify_backtest(load(symbol, start, end), strategy, params_or_grid, settings)
