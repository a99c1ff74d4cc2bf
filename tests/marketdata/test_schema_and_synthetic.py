"""The frame schema's validator, the synthetic generator and `get_frames` routing."""

import re

import numpy as np
import pandas as pd
import pytest

from tradeswarm.marketdata import (FrameSchemaError, get_frames, load_symbol, synthetic, synthetic_frame,
                                   validate_schema)


def test_valid_frame_passes_and_each_defect_is_named():
    good = load_symbol("GOOG").iloc[:50]
    assert validate_schema(good) is good
    cases = {
        "timezone-aware": lambda f: f.set_axis(f.index.tz_localize(None)),
        "named 'timestamp'": lambda f: f.rename_axis("date"),
        "strictly ascending": lambda f: f.iloc[::-1],
        "missing column": lambda f: f.drop(columns="volume"),
        "must be float": lambda f: f.astype({"volume": "int64"}),
        "high/low do not bound": lambda f: f.assign(high=f["low"] * 0.99),
        "non-positive prices": lambda f: f.assign(close=np.where(np.arange(len(f)) == 7, -1.0, f["close"])),
        "volume not finite": lambda f: f.assign(volume=-1.0),
    }
    for message, breaker in cases.items():
        broken = breaker(good.copy())
        broken.attrs = dict(good.attrs)
        with pytest.raises(FrameSchemaError, match=message):
            validate_schema(broken)
    no_attrs = good.copy()
    no_attrs.attrs = {}
    with pytest.raises(FrameSchemaError, match="attrs lacks"):
        validate_schema(no_attrs)


def test_bad_row_error_names_the_first_bad_bar():
    frame = load_symbol("GOOG").iloc[:50].copy()
    frame.iloc[7, frame.columns.get_loc("high")] = 1.0
    with pytest.raises(FrameSchemaError, match=re.escape(frame.index[7].isoformat())):
        validate_schema(frame)


def test_synthetic_is_deterministic_and_seed_sensitive():
    a = synthetic(5, bars=800, seed=42)
    b = synthetic(5, bars=800, seed=42)
    c = synthetic(5, bars=800, seed=43)
    for sym in a:
        pd.testing.assert_frame_equal(a[sym], b[sym])
        assert not np.allclose(a[sym]["close"], c[sym]["close"])
    assert not np.allclose(a["SYN0"]["close"], a["SYN1"]["close"])


def test_a_symbol_does_not_depend_on_its_neighbours_and_longer_extends_shorter():
    alone = synthetic(["SYN7"], bars=300, seed=1)["SYN7"]
    crowd = synthetic(10, bars=300, seed=1)["SYN7"]
    pd.testing.assert_frame_equal(alone, crowd)
    longer = synthetic_frame("SYN7", 600, seed=1)
    pd.testing.assert_frame_equal(longer.iloc[:300], alone)


def test_synthetic_ohlc_is_valid_and_has_regimes_gaps_and_volume():
    frame = synthetic_frame("SYN0", 5000, seed=3)
    validate_schema(frame)  # high ≥ max(open, close), low ≤ min(open, close), positive
    assert (frame["high"] >= frame[["open", "close"]].max(axis=1)).all()
    assert (frame["low"] <= frame[["open", "close"]].min(axis=1)).all()
    gaps = np.log(frame["open"].to_numpy()[1:] / frame["close"].to_numpy()[:-1])
    assert np.count_nonzero(np.abs(gaps) > 0.02) > 20  # overnight jumps exist
    vol = pd.Series(np.log(frame["close"]).diff()).rolling(60).std().dropna()
    assert vol.max() > 1.6 * vol.min()  # two volatility regimes
    assert frame["volume"].min() > 0 and frame["volume"].std() > 0
    assert (frame.index.tz_convert("America/New_York").hour == 0).all()


def test_get_frames_slices_shipped_and_synthetic_consistently():
    frames = get_frames(["SPX", "SYN2"], start="2005-01-01", end="2005-06-30")
    assert frames["SPX"].index[0].tz_convert("America/New_York").date().isoformat() == "2005-01-03"
    full = get_frames("SYN2")["SYN2"]
    pd.testing.assert_frame_equal(frames["SYN2"], full.loc[frames["SYN2"].index[0]:frames["SYN2"].index[-1]])
    assert frames["SYN2"].attrs["source"] == "synthetic"


def test_get_frames_errors_are_clear():
    with pytest.raises(ValueError, match="no bars between"):
        get_frames("GOOG", start="2015-01-01")
    with pytest.raises(ValueError, match="unknown source"):
        get_frames("SPX", source="yahoo")
    with pytest.raises(ValueError, match="not a synthetic name"):
        get_frames("SPX", source="synthetic")
