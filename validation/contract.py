"""The market-data contract, checked with great-expectations before any dataset is used.

One expectation suite is built once per process (an ephemeral GX context) and reused; the
configurable bounds are GX suite parameters, so different settings need no new suite.

Expectations (each reported under its `check` name):

| check | GX expectation | column |
|---|---|---|
| `not_null_<col>` | expect_column_values_to_not_be_null | open, high, low, close, volume |
| `positive_<col>` | expect_column_values_to_be_between (min 0, strict) | open, high, low, close |
| `volume_non_negative` | expect_column_values_to_be_between (min 0) | volume |
| `high_ge_open`, `high_ge_close` | expect_column_pair_values_a_to_be_greater_than_b (or equal) | high vs open/close |
| `open_ge_low`, `close_ge_low` | expect_column_pair_values_a_to_be_greater_than_b (or equal) | open/close vs low |
| `timestamp_unique` | expect_column_values_to_be_unique | timestamp |
| `timestamp_increasing` | expect_column_values_to_be_increasing (strictly) | timestamp |
| `max_gap` | expect_column_values_to_be_between (max `max_gap_days`) | gap_sessions: NYSE sessions missing before the bar |
| `min_rows` | expect_table_row_count_to_be_between (min `min_rows`) | — |
| `max_move` | expect_column_values_to_be_between (max `max_move`) | move: abs close-to-close change, 0 on `marked_dates` |

`validate_frame` returns one `data_validation` evidence entry (docs/contracts.md §5) and records
the verdict in `frame.attrs["data_validation"]` with a fingerprint of the data, which the
backtest API checks (`require_valid`): a frame that failed, or changed since it passed, is
refused with `DataContractError`.

```python
>>> from tradeswarm.marketdata import load_symbol           # doctest: +SKIP
>>> entry = validate_frame(load_symbol("SPX"), "SPX")       # doctest: +SKIP
>>> entry["failed"], entry["expectations"]                  # doctest: +SKIP
(0, 19)
```
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping

import numpy as np
import pandas as pd

PRICE_COLUMNS = ("open", "high", "low", "close")
OHLCV = (*PRICE_COLUMNS, "volume")
EXCHANGE_TZ = "America/New_York"
SAMPLE_ROWS = 5


@dataclass(frozen=True)
class ContractSettings:
    """Bounds of the contract: see the module docstring for what each one limits."""

    max_gap_days: int = 3  # NYSE sessions that may be missing between two bars
    min_rows: int = 250
    max_move: float = 0.25  # largest allowed abs close-to-close change of one bar
    marked_dates: tuple[str, ...] = field(default_factory=tuple)  # session dates allowed to move more

    @classmethod
    def from_any(cls, settings: "ContractSettings | Mapping[str, Any] | Any | None") -> "ContractSettings":
        """Accept None (defaults), an instance, a mapping, or any object with these attributes."""
        from tradeswarm.backtest.settings import coerce

        cfg = coerce(cls, settings)
        marked = tuple(str(pd.Timestamp(d).date()) for d in cfg.marked_dates or ())
        return cfg if marked == cfg.marked_dates else cls(**{**asdict(cfg), "marked_dates": marked})


class DataContractError(ValueError):
    """A dataset failed the data contract (or was never validated); `.entry` has the failures."""

    def __init__(self, message: str, entry: dict | None = None):
        super().__init__(message)
        self.entry = entry


def _expectations(gxe) -> list:
    """The suite, with bounds as suite parameters (filled in per run)."""
    exps = []
    for col in OHLCV:
        exps.append(gxe.ExpectColumnValuesToNotBeNull(column=col, meta={"check": f"not_null_{col}"}))
    for col in PRICE_COLUMNS:
        exps.append(gxe.ExpectColumnValuesToBeBetween(
            column=col, min_value=0, strict_min=True, meta={"check": f"positive_{col}"}))
    exps.append(gxe.ExpectColumnValuesToBeBetween(column="volume", min_value=0, meta={"check": "volume_non_negative"}))
    for a, b, name in (("high", "open", "high_ge_open"), ("high", "close", "high_ge_close"),
                       ("open", "low", "open_ge_low"), ("close", "low", "close_ge_low")):
        exps.append(gxe.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A=a, column_B=b, or_equal=True, meta={"check": name}))
    exps.append(gxe.ExpectColumnValuesToBeUnique(column="timestamp", meta={"check": "timestamp_unique"}))
    exps.append(gxe.ExpectColumnValuesToBeIncreasing(
        column="timestamp", strictly=True, meta={"check": "timestamp_increasing"}))
    exps.append(gxe.ExpectColumnValuesToBeBetween(
        column="gap_sessions", max_value={"$PARAMETER": "max_gap_days"}, meta={"check": "max_gap"}))
    exps.append(gxe.ExpectTableRowCountToBeBetween(min_value={"$PARAMETER": "min_rows"}, meta={"check": "min_rows"}))
    exps.append(gxe.ExpectColumnValuesToBeBetween(
        column="move", max_value={"$PARAMETER": "max_move"}, meta={"check": "max_move"}))
    return exps


_lock = threading.Lock()
_validation = None  # the process-wide GX ValidationDefinition


def _definition():
    """Build the ephemeral context, suite and validation definition once per process."""
    global _validation
    with _lock:
        if _validation is None:
            import great_expectations as gx
            import great_expectations.expectations as gxe

            from great_expectations.data_context.types.base import ProgressBarsConfig

            ctx = gx.get_context(mode="ephemeral")
            # tqdm bars on stderr would garble CLI output and logs
            ctx.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
            batch = (ctx.data_sources.add_pandas("tradeswarm").add_dataframe_asset("ohlcv")
                     .add_batch_definition_whole_dataframe("frame"))
            suite = ctx.suites.add(gx.ExpectationSuite(name="ohlcv_contract"))
            for exp in _expectations(gxe):
                suite.add_expectation(exp)
            _validation = ctx.validation_definitions.add(
                gx.ValidationDefinition(name="ohlcv_contract", data=batch, suite=suite))
        return _validation


def warm_up() -> None:
    """Import great-expectations and build the suite now (it takes ~3 s in a fresh process)."""
    _definition()


def session_dates(index: pd.Index) -> pd.DatetimeIndex:
    """Exchange-local session dates of a frame's index (naive dates are taken as they are)."""
    idx = pd.DatetimeIndex(index)
    if idx.tz is not None:
        idx = idx.tz_convert(EXCHANGE_TZ).tz_localize(None)
    return idx.normalize()


def _table(frame: pd.DataFrame, settings: ContractSettings) -> pd.DataFrame:
    """The frame as GX sees it: OHLCV, the timestamp as a column, and the derived columns."""
    from validation._calendar import missing_sessions

    n = len(frame)
    table = pd.DataFrame(index=pd.RangeIndex(n))
    for col in OHLCV:  # a missing column is all-null, so its not-null check fails by name
        table[col] = pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=float) if col in frame else np.nan
    try:
        stamps = pd.DatetimeIndex(frame.index)
    except (TypeError, ValueError) as e:
        raise DataContractError(f"index is not a timestamp index: {e}") from e
    table["timestamp"] = stamps
    dates = session_dates(stamps)
    table["gap_sessions"] = missing_sessions(dates) if n else np.zeros(0, dtype=np.int64)
    close = table["close"].to_numpy()
    move = np.full(n, 0.0)
    if n > 1:
        with np.errstate(divide="ignore", invalid="ignore"):
            move[1:] = np.abs(close[1:] / close[:-1] - 1.0)
    move[~np.isfinite(move)] = 0.0  # nulls and zero prices have their own checks
    if settings.marked_dates:
        move[dates.isin(pd.DatetimeIndex(list(settings.marked_dates)))] = 0.0
    table["move"] = move
    return table


def _jsonable(value: Any) -> Any:
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, (np.floating, float)):
        return None if np.isnan(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


def _sample(table: pd.DataFrame, rows: list[int], columns: list[str]) -> list[dict]:
    out = []
    for r in rows[:SAMPLE_ROWS]:
        rec = {"row": int(r), "timestamp": _jsonable(table.at[r, "timestamp"])}
        rec.update({c: _jsonable(table.at[r, c]) for c in columns if c != "timestamp"})
        out.append(rec)
    return out


def fingerprint(frame: pd.DataFrame) -> str:
    """A cheap content hash of the index and OHLCV values (detects any later edit)."""
    cols = [c for c in OHLCV if c in frame]
    h = pd.util.hash_pandas_object(frame[cols], index=True).to_numpy()
    return f"{len(frame)}:{int(np.bitwise_xor.reduce(h * np.arange(1, len(h) + 1, dtype=np.uint64)) if len(h) else 0):x}"


def validate_frame(frame: pd.DataFrame, dataset: str, settings: ContractSettings | Mapping | None = None) -> dict:
    """Validate `frame` against the contract; return one `data_validation` evidence entry.

    Entry: `{dataset, rows, expectations, failed, passed, failures: [{expectation, check,
    column, unexpected_count, sample}], results: [{check, expectation, column, success,
    unexpected_count}], settings}`. `sample` holds up to 5 failing rows (position, timestamp,
    values). Also stamps `frame.attrs["data_validation"]` for the backtest API.
    """
    cfg = ContractSettings.from_any(settings)
    table = _table(frame, cfg)
    res = _definition().run(
        batch_parameters={"dataframe": table},
        expectation_parameters={"max_gap_days": cfg.max_gap_days, "min_rows": cfg.min_rows, "max_move": cfg.max_move},
        result_format="COMPLETE",
    )
    results, failures = [], []
    for r in res.results:
        conf = r.expectation_config
        check = conf.meta.get("check", conf.type)
        cols = [c for c in (conf.kwargs.get("column"), conf.kwargs.get("column_A"), conf.kwargs.get("column_B")) if c]
        column = ",".join(cols) or None
        if conf.type == "expect_table_row_count_to_be_between":
            observed = r.result.get("observed_value")
            unexpected = 0 if r.success else max(cfg.min_rows - int(observed or 0), 1)
            sample = [] if r.success else [{"rows": observed, "min_rows": cfg.min_rows}]
        else:
            unexpected = int(r.result.get("unexpected_count") or 0)
            rows = [int(i) for i in r.result.get("unexpected_index_list") or []]
            sample = _sample(table, rows, cols)
        if r.exception_info and r.exception_info.get("raised_exception"):
            sample = [{"error": str(r.exception_info.get("exception_message"))[:300]}]
        results.append({"check": check, "expectation": conf.type, "column": column,
                        "success": bool(r.success), "unexpected_count": unexpected})
        if not r.success:
            failures.append({"expectation": conf.type, "check": check, "column": column,
                             "unexpected_count": unexpected, "sample": sample})
    entry = {
        "dataset": dataset,
        "rows": int(len(frame)),
        "expectations": len(results),
        "failed": len(failures),
        "passed": not failures,
        "failures": failures,
        "results": results,
        "settings": {**asdict(cfg), "marked_dates": list(cfg.marked_dates)},
    }
    frame.attrs["data_validation"] = {"dataset": dataset, "passed": not failures,
                                      "fingerprint": fingerprint(frame), "failed": [f["check"] for f in failures]}
    return entry


def ensure_valid(frame: pd.DataFrame, dataset: str | None = None, settings=None) -> None:
    """Refuse a frame that failed the contract or changed since it passed; validate it if never seen.

    Raises `DataContractError` naming the failed checks (the entry is on `.entry`).
    """
    stamp = frame.attrs.get("data_validation")
    if stamp and stamp.get("fingerprint") == fingerprint(frame):
        if stamp["passed"]:
            return
        raise DataContractError(
            f"dataset {stamp.get('dataset')!r} failed the data contract: {', '.join(stamp['failed'])}")
    name = dataset or frame.attrs.get("symbol") or "frame"
    entry = validate_frame(frame, name, settings)
    if not entry["passed"]:
        detail = "; ".join(f"{f['check']} ({f['unexpected_count']} rows, first {f['sample'][:1]})" for f in entry["failures"])
        raise DataContractError(f"dataset {name!r} failed the data contract: {detail}", entry)
