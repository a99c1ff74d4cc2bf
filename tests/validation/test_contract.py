"""The data contract: shipped data passes; each corruption is caught under its check name."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.backtest.shipped import SYMBOLS, load
from validation.contract import ContractSettings, DataContractError, ensure_valid, validate_frame


def _failed(entry: dict) -> set[str]:
    return {f["check"] for f in entry["failures"]}


@pytest.mark.parametrize("symbol", SYMBOLS)
def test_every_shipped_dataset_passes(symbol):
    frame = load(symbol)
    entry = validate_frame(frame, symbol)
    assert entry["failures"] == [] and entry["passed"]
    assert entry["rows"] == len(frame) and entry["expectations"] == len(entry["results"]) == 19
    assert frame.attrs["data_validation"]["passed"] is True


def test_clean_copy_passes_and_each_corruption_is_named():
    clean = load("GOOG")
    assert validate_frame(clean, "GOOG")["failed"] == 0

    nan = load("GOOG")
    nan.iloc[10, nan.columns.get_loc("close")] = np.nan
    assert "not_null_close" in _failed(validate_frame(nan, "nan"))

    inverted = load("GOOG")
    inverted.iloc[20, inverted.columns.get_loc("high")] = inverted["low"].iloc[20] - 1.0
    assert {"high_ge_open", "high_ge_close"} <= _failed(validate_frame(inverted, "inverted"))

    negative = load("GOOG")
    negative.iloc[30, negative.columns.get_loc("open")] = -5.0
    assert "positive_open" in _failed(validate_frame(negative, "negative"))

    dup = load("GOOG")
    dup = pd.concat([dup.iloc[:50], dup.iloc[49:50], dup.iloc[50:]])
    assert "timestamp_unique" in _failed(validate_frame(dup, "dup"))

    swapped = load("GOOG")
    order = list(range(len(swapped)))
    order[60], order[61] = order[61], order[60]
    swapped = swapped.iloc[order]
    failed = _failed(validate_frame(swapped, "swapped"))
    assert "timestamp_increasing" in failed and "timestamp_unique" not in failed

    hole = load("GOOG")
    hole = hole.drop(hole.index[100:110])
    entry = validate_frame(hole, "hole")
    gap = next(f for f in entry["failures"] if f["check"] == "max_gap")
    assert gap["unexpected_count"] == 1 and gap["sample"][0]["gap_sessions"] == 10
    assert gap["sample"][0]["timestamp"] == load("GOOG").index[110].isoformat()

    neg_volume = load("GOOG")
    neg_volume.iloc[5, neg_volume.columns.get_loc("volume")] = -1.0
    assert _failed(validate_frame(neg_volume, "vol")) == {"volume_non_negative"}


def test_sample_rows_name_the_failing_rows():
    frame = load("SPX")
    frame.iloc[[7, 9], frame.columns.get_loc("close")] = np.nan
    f = next(f for f in validate_frame(frame, "SPX")["failures"] if f["check"] == "not_null_close")
    assert f["unexpected_count"] == 2 and [s["row"] for s in f["sample"]] == [7, 9]
    assert f["expectation"] == "expect_column_values_to_not_be_null" and f["column"] == "close"


def test_holidays_and_weekends_are_not_gaps_but_a_missing_session_is():
    frame = load("SPX").loc["2018-11-01":"2018-12-31"]  # Thanksgiving, Christmas, the Bush closure
    strict = ContractSettings(max_gap_days=0, min_rows=10)
    assert validate_frame(frame, "SPX", strict)["failed"] == 0
    holed = frame.drop(frame.index[5])
    assert _failed(validate_frame(holed, "SPX", strict)) == {"max_gap"}


def test_min_rows_and_max_move_with_marked_dates():
    frame = load("GOOG").iloc[:100]
    assert _failed(validate_frame(frame, "GOOG", {"min_rows": 101})) == {"min_rows"}
    assert validate_frame(frame, "GOOG", {"min_rows": 100})["failed"] == 0
    day = frame.index[40]
    jumped = frame.copy()
    jumped.iloc[40:, :4] *= 1.5  # a 50 % jump on one bar, consistent OHLC
    assert _failed(validate_frame(jumped, "GOOG", {"min_rows": 100})) == {"max_move"}
    marked = {"min_rows": 100, "marked_dates": [str(day.tz_convert("America/New_York").date())]}
    assert validate_frame(jumped, "GOOG", marked)["failed"] == 0


def test_suite_is_built_once_per_process():
    from validation import contract

    validate_frame(load("GOOG"), "GOOG")
    first = contract._definition()
    validate_frame(load("SPX"), "SPX", {"max_gap_days": 0})
    assert contract._definition() is first


def test_unknown_setting_is_refused():
    with pytest.raises(ValueError, match="max_gapdays"):
        ContractSettings.from_any({"max_gapdays": 3})


def test_backtest_refuses_failed_and_edited_data():
    frame = load("GOOG")
    frame.iloc[10, frame.columns.get_loc("close")] = np.nan
    with pytest.raises(DataContractError, match="not_null_close"):
        ensure_valid(frame, "GOOG")
    good = load("GOOG")
    assert validate_frame(good, "GOOG")["passed"]
    ensure_valid(good)  # stamped and unchanged: accepted without re-running
    good.iloc[3, good.columns.get_loc("high")] = 0.5  # edited after it passed
    with pytest.raises(DataContractError, match="high_ge"):
        ensure_valid(good)
