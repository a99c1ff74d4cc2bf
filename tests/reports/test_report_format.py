"""Formatters and escaping of reports._format, as plain functions."""

from __future__ import annotations

import pytest

from reports._format import code, esc, fmt_int, fmt_keyed, fmt_ms, fmt_pct, fmt_pct_value, fmt_time, fmt_usd, fmt_value


@pytest.mark.parametrize(
    "v, text",
    [(0.4213, "0.42 ms"), (4.216, "4.22 ms"), (42.14, "42.1 ms"), (421.4, "421 ms"), (4213.4, "4,213 ms"), (None, "—"), (float("nan"), "—")],
)
def test_fmt_ms_precision_follows_magnitude(v, text):
    assert fmt_ms(v) == text


@pytest.mark.parametrize(
    "v, text",
    [(0.000014, "$0.000014"), (0.0000045, "$0.0000045"), (0.0123, "$0.0123"), (0.5, "$0.50"), (1234.5, "$1,234.50"), (0, "$0.00"), (-0.002, "-$0.002")],
)
def test_fmt_usd_keeps_tiny_costs_visible(v, text):
    assert fmt_usd(v) == text


def test_counts_and_percentages():
    assert fmt_int(1234567) == "1,234,567"
    assert fmt_pct(0.9734) == "97.3%"
    assert fmt_pct_value(90.74) == "90.7%"
    assert fmt_int(True) == "—"  # a bool is not a count


@pytest.mark.parametrize(
    "v, unit, text",
    [
        (5000.0, "ms", "5,000 ms"),
        (0.972, "ratio", "97.2%"),
        (90.74, "%", "90.7%"),
        (4.12, "USD/day", "$4.12/day"),
        (0.0034, "USD", "$0.0034"),
        (5, "agents", "5 agents"),
        (3, "count", "3"),
        (True, None, "yes"),
        (None, "ms", "not measured in this run"),
        ("nan('x')", None, "nan('x')"),
    ],
)
def test_fmt_value_by_unit(v, unit, text):
    assert fmt_value(v, unit) == text


def test_fmt_keyed_uses_the_unit_suffix():
    assert fmt_keyed("recovery_ms", 1412.6) == "1,413 ms"
    assert fmt_keyed("vcpu_usd", 0.00297) == "$0.00297"
    assert fmt_keyed("elapsed_s", 41.3) == "41.3 s"
    assert fmt_keyed("rss_bytes", 1536) == "1.5 KiB"
    assert fmt_keyed("folds", 3) == "3"


def test_fmt_time_only_rewrites_utc_timestamps():
    assert fmt_time("2026-11-27T22:05:13.123456+00:00") == "2026-11-27 22:05:13 UTC"
    assert fmt_time("2026-11-27T22:05:13Z") == "2026-11-27 22:05:13 UTC"
    assert fmt_time("2026-11-27T22:05:13+02:00") == "2026-11-27T22:05:13+02:00"  # not UTC: shown as is


def test_esc_neutralises_markdown_and_html():
    s = esc("a|b`c`\n# x <script>alert(1)</script> *y* [l](javascript:z) &amp;")
    assert "\n" not in s and "<" not in s and ">" not in s
    assert "\\|" in s and "\\`" in s and "\\*" in s and "\\[" in s and "&amp;amp;" in s


@pytest.mark.parametrize("text", ["# heading", "- item", "+ item", "1. item"])
def test_esc_line_start_cannot_start_a_block(text):
    assert esc(text).startswith(text[0] if text[0].isdigit() else "\\")
    assert esc(text) != text


def test_esc_leaves_plain_numbers_alone():
    assert esc("-19.3%") == "-19.3%" and esc("0.973") == "0.973"


def test_code_span_survives_backticks_and_pipes():
    assert code("a`b") == "`` a`b ``"
    assert code("x|y") == "`x\\|y`"
    assert code("") == "—"
