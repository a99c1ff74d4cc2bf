"""Validity gates: PSR/DSR against hand computation, walk-forward folds, the min-trades flag."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pytest

from validation import gates


def _hand_psr(r, sr_star):
    """PSR straight from the formula, moments computed by hand (no scipy)."""
    r = np.asarray(r, float)
    t = len(r)
    mu = r.mean()
    sd = math.sqrt(((r - mu) ** 2).sum() / (t - 1))
    sr = mu / sd
    m2 = ((r - mu) ** 2).mean()
    skew = ((r - mu) ** 3).mean() / m2 ** 1.5
    kurt = ((r - mu) ** 4).mean() / m2 ** 2
    z = (sr - sr_star) * math.sqrt(t - 1) / math.sqrt(1 - skew * sr + (kurt - 1) / 4 * sr ** 2)
    return NormalDist().cdf(z), sr


def test_psr_and_dsr_match_a_hand_computation():
    rng = np.random.default_rng(7)
    r = rng.standard_t(5, 1500) * 0.01 + 0.0006
    psr0, sr = _hand_psr(r, 0.0)
    assert gates.psr(r) == pytest.approx(psr0, rel=1e-9)
    trial_srs = np.array([sr, sr * 0.5, sr * 0.2, -sr * 0.3, 0.0, sr * 0.8])
    var = trial_srs.var(ddof=1)
    n = len(trial_srs)
    g = 0.5772156649015329
    inv = NormalDist().inv_cdf
    sr0 = math.sqrt(var) * ((1 - g) * inv(1 - 1 / n) + g * inv(1 - 1 / (n * math.e)))
    out = gates.deflated_sharpe(r, n, trial_srs)
    assert out["sr0"] == pytest.approx(sr0, rel=1e-9)
    assert out["dsr"] == pytest.approx(_hand_psr(r, sr0)[0], rel=1e-9)
    assert out["psr"] == pytest.approx(psr0, rel=1e-9) and out["trials"] == n


def test_more_trials_deflate_more_and_one_trial_is_psr():
    rng = np.random.default_rng(1)
    r = rng.normal(0.0005, 0.01, 2000)
    one = gates.deflated_sharpe(r, 1, None)
    assert one["dsr"] == one["psr"] and one["sr0"] == 0.0
    few = gates.deflated_sharpe(r, 10, rng.normal(0, 0.02, 10))
    many = gates.deflated_sharpe(r, 1000, rng.normal(0, 0.02, 1000))
    assert many["sr0"] > few["sr0"] > 0 and many["dsr"] < few["dsr"] < one["dsr"]


def test_expected_max_sharpe_docstring_value():
    inv = NormalDist().inv_cdf
    g = 0.5772156649015329
    hand = 0.02 * ((1 - g) * inv(0.99) + g * inv(1 - 1 / (100 * math.e)))
    assert gates.expected_max_sharpe(100, 0.0004) == pytest.approx(hand, rel=1e-12)


def test_psr_is_none_for_flat_or_tiny_samples():
    assert gates.psr(np.zeros(50)) is None and gates.psr(np.array([0.01, 0.02])) is None


def test_fold_bounds_expand_and_cover_the_data():
    assert gates.fold_bounds(100, 4) == [(0, 20, 40), (0, 40, 60), (0, 60, 80), (0, 80, 100)]
    with pytest.raises(ValueError):
        gates.fold_bounds(100, 0)


def test_walk_forward_picks_in_sample_and_reports_out_of_sample():
    calls = []

    def fake(lo, hi, signals):
        calls.append((lo, hi, signals.shape[1]))
        # column 1 is best in sample; out of sample it returns 1 % with Sharpe 0.5
        if signals.shape[1] > 1:
            return [{"sharpe": s, "total_return": 0.0, "trades": 1} for s in (0.1, 2.0, 0.3)]
        return [{"sharpe": 0.5, "total_return": 0.01, "trades": 3}]

    out = gates.walk_forward(fake, np.zeros((100, 3)), [{"a": 1}, {"a": 2}, {"a": 3}], 100, 2)
    assert [f["params"] for f in out["folds"]] == [{"a": 2}, {"a": 2}]
    assert out["is_sharpe_mean"] == 2.0 and out["oos_sharpe_mean"] == 0.5 and out["degradation"] == 1.5
    assert out["oos_return"] == pytest.approx(1.01 ** 2 - 1)
    assert calls[0] == (0, 33, 3) and calls[1] == (33, 66, 1)


def test_min_trades_flag_both_ways():
    assert gates.min_trades_gate(29, 30)["min_trades_ok"] is False
    assert gates.min_trades_gate(30, 30)["min_trades_ok"] is True
