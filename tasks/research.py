"""Data and backtest tasks: pure functions of their inputs and code, so their results are cached.

The cache key (`tasks._cachekey.ResultKey`) covers the task inputs (the spec section, each
dataset's content fingerprint and file SHA-256), the source of every project module the tasks
can run and the versions of the libraries that compute the numbers: a re-run after a crash
skips a validation or backtest that already finished, and any change to the data, the spec
section, the code or a library runs it again. The cache lives in the run's state directory
(`<TRADESWARM_STATE_DIR>/cache`), never in a home shared by other checkouts.

```python
cache = ResultCache(Path(".swarm/cache"), run_id="20261207T...-smoke-1a2b3c")
row = cache.validate("SPX", "2017-01-03", None, contract, fingerprint)
cache.summary()["served"]   # what came from the cache: from which run, under which code hash
```
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE

from tasks import _cachekey

EXPIRATION = timedelta(days=30)


def load(symbol: str, start: str | None, end: str | None):
    """The dataset's frame over the spec's window."""
    from tradeswarm.marketdata import get_frames

    return get_frames([symbol], start=start, end=end)[symbol]


def _computed(row: dict, run_id: str, code: str) -> dict:
    """A result with who computed it: what a later run served from the cache reports."""
    return {"result": row, "run_id": run_id, "code_sha256": code}


@task(name="validate-data", cache_policy=NO_CACHE)
def validate(symbol: str, start: str | None, end: str | None, contract: dict, fingerprint: str,
             data_sha256: str | None, run_id: str, code: str) -> dict:
    """Run the great-expectations data contract on one dataset."""
    from validation.contract import validate_frame

    return _computed(validate_frame(load(symbol, start, end), symbol, contract), run_id, code)


@task(name="backtest", cache_policy=NO_CACHE)
def backtest(symbol: str, start: str | None, end: str | None, strategy: str, params_or_grid: dict,
             settings: dict, fingerprint: str, data_sha256: str | None, run_id: str, code: str) -> dict:
    """Backtest one strategy on one dataset with its gates and reference cross-check."""
    from validation.backtest_validity import certify_backtest

    return _computed(certify_backtest(load(symbol, start, end), strategy, params_or_grid, settings), run_id, code)


class ResultCache:
    """The research tasks of one run, bound to its cache directory (None: no usable cache),
    with `refresh` (`certify --no-cache`) recomputing everything and storing the fresh results.

    Which task results were served from the cache, and from which run, is in `summary()`.
    """

    def __init__(self, directory: Path | None, run_id: str, *, refresh: bool = False, reason: str | None = None):
        self.directory, self.run_id, self.refresh = directory, run_id, refresh
        self.code, self.libraries = _cachekey.code_sha256(), _cachekey.library_versions()
        self.reason = reason
        self.rows: list[dict] = []
        self._data: dict[str, str | None] = {}
        if directory is None:
            self._options: dict = {"cache_policy": NO_CACHE}
        else:
            self._options = {"cache_policy": _cachekey.ResultKey(code=self.code, libraries=self.libraries),
                             "result_storage": directory, "persist_result": True,
                             "cache_expiration": EXPIRATION, "refresh_cache": refresh}

    @classmethod
    def for_state_dir(cls, state_dir: Path, run_id: str, *, refresh: bool = False) -> "ResultCache":
        """The cache in `<state_dir>/cache`; a directory that cannot be made means no cache, said why."""
        directory = Path(state_dir).absolute() / "cache"
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            return cls(None, run_id, refresh=refresh, reason=f"cache directory unusable: {e}")
        return cls(directory, run_id, refresh=refresh)

    def _data_sha256(self, symbol: str) -> str | None:
        if symbol not in self._data:
            self._data[symbol] = _cachekey.data_sha256(symbol)
        return self._data[symbol]

    def _run(self, fn, stage: str, item: str, *args) -> dict:
        state = fn.with_options(**self._options)(*args, run_id=self.run_id, code=self.code, return_state=True)
        # raises what the task raised; sync even in the worker thread of an async flow
        out = state.result(_sync=True)
        cached = state.name == "Cached"
        self.rows.append({"stage": stage, "task": fn.name, "item": item, "cached": cached,
                          "from_run": out["run_id"], "code_sha256": out["code_sha256"]})
        return out["result"]

    def validate(self, symbol: str, start: str | None, end: str | None, contract: dict, fingerprint: str) -> dict:
        """One `data_validation` entry (see `validate`)."""
        return self._run(validate, "data", symbol, symbol, start, end, contract, fingerprint,
                         self._data_sha256(symbol))

    def backtest(self, symbol: str, start: str | None, end: str | None, strategy: str, params_or_grid: dict,
                 settings: dict, fingerprint: str) -> dict:
        """One `backtests` entry (see `backtest`)."""
        return self._run(backtest, "backtests", f"{strategy}/{symbol}", symbol, start, end, strategy,
                         params_or_grid, settings, fingerprint, self._data_sha256(symbol))

    def summary(self) -> dict:
        """The results.json `cache` section (docs/contracts.md §7)."""
        stages: dict[str, dict] = {}
        for r in self.rows:
            s = stages.setdefault(r["stage"], {"computed": 0, "cached": 0, "from_runs": []})
            s["cached" if r["cached"] else "computed"] += 1
            if r["cached"] and r["from_run"] not in s["from_runs"]:
                s["from_runs"].append(r["from_run"])
        return {"enabled": self.directory is not None, "refresh": self.refresh, "reason": self.reason,
                "directory": str(self.directory) if self.directory else None, "code_sha256": self.code,
                "libraries": self.libraries, "stages": stages,
                "served": [{k: r[k] for k in ("stage", "task", "item", "from_run", "code_sha256")}
                           for r in self.rows if r["cached"]]}
