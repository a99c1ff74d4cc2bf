"""The data contract run in a helper process: its verdicts reach this process's frames."""

from __future__ import annotations

import numpy as np
import pytest

from tests.backtest.shipped import load
from tradeswarm.backtest import run_sweep
from validation.contract import DataContractError, ensure_valid
from validation.contract_job import STAMP, validate_in_background

# each test starts a helper process that imports great-expectations (~3-5 s)
pytestmark = pytest.mark.slow

GRID = {"fast": [5, 10], "slow": [50]}


def test_background_verdicts_stamp_the_frames_and_backtests_obey_them():
    good, bad = load("GOOG"), load("NDX")
    bad.iloc[100, bad.columns.get_loc("close")] = -1.0  # a negative price fails `positive_close`
    job = validate_in_background({"GOOG": good, "NDX": bad})
    assert job.entry("GOOG")["passed"] and good.attrs[STAMP]["passed"]
    assert STAMP not in bad.attrs  # one frame's verdict stamps that frame only
    entries = job.result()
    assert entries["GOOG"]["passed"] and not entries["NDX"]["passed"]
    assert "positive_close" in [f["check"] for f in entries["NDX"]["failures"]]
    assert good.attrs[STAMP]["passed"] and not bad.attrs[STAMP]["passed"]
    assert run_sweep(good, "sma_crossover", GRID, check_data=ensure_valid)["trials"] == 2
    with pytest.raises(DataContractError, match="positive_close"):
        run_sweep(bad, "sma_crossover", GRID, check_data=ensure_valid)


def test_a_frame_edited_after_the_helper_validated_it_is_checked_again():
    frame = load("SPX")
    validate_in_background({"SPX": frame}).result()
    assert frame.attrs[STAMP]["passed"]
    frame.iloc[200, frame.columns.get_loc("high")] = np.nan  # after the verdict: the stamp no longer fits
    with pytest.raises(DataContractError, match="not_null_high"):
        run_sweep(frame, "sma_crossover", GRID, check_data=ensure_valid)


def test_the_helpers_errors_are_raised_by_result():
    frame = load("GOOG")
    # a non-numeric bound reaches great-expectations in the helper, which refuses it
    with pytest.raises(ValueError, match="validation errors for ExpectColumnValuesToBeBetween"):
        validate_in_background({"GOOG": frame}, {"max_gap_days": "not a number"}).result()
    assert STAMP not in frame.attrs


def test_a_backtest_run_while_validating_is_returned_only_for_data_that_passed():
    good, bad = load("GOOG"), load("NDX")
    bad.iloc[100, bad.columns.get_loc("close")] = -1.0
    job = validate_in_background({"GOOG": good, "NDX": bad})
    sweep = lambda frame: run_sweep(frame, "sma_crossover", GRID)  # noqa: E731
    entry, result = job.run_while_validating("GOOG", sweep)
    assert entry["passed"] and result["trials"] == 2
    entry, result = job.run_while_validating("NDX", sweep)  # simulated, but held back: the data failed
    assert not entry["passed"] and result is None
    assert "positive_close" in [f["check"] for f in entry["failures"]]

    def broken(frame):
        raise ZeroDivisionError("what bad data can do to a simulation")

    # an error on failed data is the data's (dropped with the result); on good data it is raised
    assert job.run_while_validating("NDX", broken) == (entry, None)
    with pytest.raises(ZeroDivisionError):
        job.run_while_validating("GOOG", broken)
