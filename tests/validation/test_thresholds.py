"""Threshold expressions: round trips, units, boundaries and clear rejections."""

from __future__ import annotations

import math

import pytest
from hypothesis import assume, given, settings, strategies as st

from validation.thresholds import (AGGREGATES, COMPARATORS, PERCENTILES, UNITS, Threshold, ThresholdError,
                                   judge_interval, parse, wilson_interval)


@pytest.mark.parametrize("text, agg, op, value", [
    ("p95 < 5000ms", "p95", "<", 5000.0),
    ("p95<5s", "p95", "<", 5000.0),
    ("p(95) < 2s", "p95", "<", 2000.0),
    ("p(99.9) <= 800ms", "p999", "<=", 800.0),
    ("p( 50 ) < 1s", "p50", "<", 1000.0),
    ("p(90.0) < 1s", "p90", "<", 1000.0),
    ("rate >= 0.90", "rate", ">=", 0.9),
    ("rate >= 90%", "rate", ">=", 0.9),
    (">= 0.90", None, ">=", 0.9),
    ("< 5%", None, "<", 0.05),
    ("max <= 0", "max", "<=", 0.0),
    ("< $5.00", None, "<", 5.0),
    ("< 5$", None, "<", 5.0),
    ("mean != 1e-3", "mean", "!=", 0.001),
])
def test_parses_the_k6_like_forms(text, agg, op, value):
    t = parse(text)
    assert (t.aggregate, t.op) == (agg, op)
    assert math.isclose(t.value, value)


@pytest.mark.parametrize("text, expected", [
    ("p95 < fast", "expected a number"),
    ("p95 5000ms", "expected a comparator"),
    ("p96 < 5", "expected an aggregate"),
    ("p95 < 5000 ms extra", "expected a unit"),
    ("p95 < 5 minutes", "expected a unit"),
    ("", "expected a comparator"),
    ("< $5ms", "nothing after a $ amount"),
    ("<< 5", "expected a number"),
    ("p(9.99) < 5ms", "percentile 9.99 is not computed"),  # once read as p999, the same as p(99.9)
    ("p(97.5) < 5ms", "computed: p(50), p(90), p(95), p(99), p(99.9)"),
    ("p(0) < 5ms", "needs 0 < N < 100, got 0"),
    ("p(100) < 5ms", "needs 0 < N < 100, got 100"),
    ("p(150) < 5ms", "needs 0 < N < 100"),
])
def test_rejects_garbage_naming_the_expression_and_what_was_expected(text, expected):
    with pytest.raises(ThresholdError) as e:
        parse(text)
    assert repr(text) in str(e.value)
    assert expected in str(e.value)


def test_boundaries_are_exact():
    assert parse("p95 < 5000ms").holds(4999.999)
    assert not parse("p95 < 5000ms").holds(5000.0)
    assert parse("rate >= 0.90").holds(0.90)
    assert not parse("rate >= 0.90").holds(0.8999)
    assert not parse("max <= 0").holds(1)


def test_nan_and_none_never_hold():
    for op in COMPARATORS:
        assert not parse(f"{op} 1").holds(float("nan"))
        assert not parse(f"{op} 1").holds(None)


finite = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e12, max_value=1e12)


@settings(deadline=None)  # a shared 2-core machine: timing is not what these properties are about
@given(st.one_of(st.none(), st.sampled_from(AGGREGATES)), st.sampled_from(list(COMPARATORS)), finite,
       st.one_of(st.none(), st.sampled_from(list(UNITS))))
def test_round_trip(agg, op, number, unit):
    t = Threshold(agg, op, number, unit)
    assert parse(str(t)) == t


@settings(deadline=None)  # a shared 2-core machine: timing is not what these properties are about
@given(st.text(max_size=30))
def test_arbitrary_text_parses_or_raises_threshold_error(text):
    try:
        t = parse(text)
    except ThresholdError as e:
        assert repr(text) in str(e)
    else:
        assert parse(str(t)) == t


@settings(deadline=None)  # a shared 2-core machine: timing is not what these properties are about
@given(st.one_of(st.sampled_from(list(PERCENTILES.values())), st.floats(0.0001, 99.9999)),
       st.sampled_from(["p({})", "p( {} )"]))
def test_a_percentile_is_read_by_its_number(n, form):
    """p(N) names the percentile N itself (never its digits), round trips, or is rejected naming what is computed."""
    text = form.format(format(n, "f")) + " < 5ms"
    if n in PERCENTILES.values():
        t = parse(text)
        assert PERCENTILES[t.aggregate] == n
        assert parse(str(t)) == t
    else:
        with pytest.raises(ThresholdError, match="is not computed by the latency summaries"):
            parse(text)


def test_percentiles_are_the_ones_the_latency_summaries_compute():
    """The parser accepts exactly the percentiles the stress statistics report (contracts §5)."""
    from tradeswarm.stress.stats import PERCENTILES as computed

    assert PERCENTILES == computed


# ----------------------------------------------------------------------------- noise-aware judging

@pytest.mark.parametrize("expr, point, ci, status", [
    ("p95 < 1000ms", 400.0, [350.0, 480.0], "pass"),        # the whole interval below the bound
    ("p95 < 1000ms", 980.0, [900.0, 1100.0], "marginal"),   # straddles, point inside the bound
    ("p95 < 1000ms", 1020.0, [900.0, 1100.0], "marginal"),  # straddles, point outside: still marginal
    ("p95 < 1000ms", 1300.0, [1200.0, 1450.0], "fail"),     # the whole interval above the bound
    (">= 0.90", 0.99, [0.95, 1.0], "pass"),
    (">= 0.90", 0.92, [0.86, 0.96], "marginal"),
    (">= 0.90", 0.80, [0.71, 0.87], "fail"),
    ("p95 < 1000ms", 1200.0, [400.0, 900.0], "marginal"),   # a point outside its own interval widens it
    ("p95 < 1000ms", 400.0, None, "pass"),                  # no interval: the point alone
    ("p95 < 1000ms", 400.0, [float("nan"), 500.0], "pass"),
    ("== 0", 0.0, [-1.0, 1.0], "pass"),                     # equality cannot be straddled
])
def test_judge_interval_passes_only_a_whole_interval_and_fails_only_a_whole_miss(expr, point, ci, status):
    assert judge_interval(parse(expr), point, ci) == status


def test_wilson_interval_matches_a_hand_computation_and_stays_in_0_1():
    lo, hi = wilson_interval(2, 100)
    assert math.isclose(lo, 0.005503, abs_tol=1e-5) and math.isclose(hi, 0.070004, abs_tol=1e-5)
    assert wilson_interval(0, 100)[0] == 0.0 and wilson_interval(100, 100)[1] == 1.0
    assert wilson_interval(0, 100)[1] < 0.05 < wilson_interval(1, 100)[1]  # 0 of 100 shows < 5 %, 1 does not
    assert wilson_interval(0, 0) is None and wilson_interval(3, 2) is None


@settings(deadline=None)  # a shared 2-core machine: timing is not what these properties are about
@given(st.integers(0, 500), st.integers(1, 500))
def test_wilson_interval_holds_its_proportion(k, n):
    assume(k <= n)
    lo, hi = wilson_interval(k, n)
    assert 0.0 <= lo <= k / n <= hi <= 1.0
