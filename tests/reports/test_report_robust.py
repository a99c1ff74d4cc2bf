"""Any JSON document renders: a malformed section shows as missing, it never crashes the report."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reports import junit_xml, markdown_report, summary_rows
from reports.charts import render_charts
from reports.markdown import shown_keys

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)
SECTIONS = sorted({k.split(".")[0].split("[")[0] for k in shown_keys()})


@pytest.mark.slow
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(SECTIONS), json_values, max_size=8))
def test_arbitrary_sections_never_crash(doc):
    md = markdown_report(doc)
    assert md.startswith("# Certification report")
    summary_rows(doc)
    ET.fromstring(junit_xml(doc))


@settings(max_examples=50, deadline=None)
@given(st.lists(st.dictionaries(st.sampled_from(["id", "category", "status", "observed", "unit", "threshold", "critical", "details", "waiver"]),
                                json_values, max_size=9), max_size=5))
def test_arbitrary_checks_never_crash(checks):
    doc = {"checks": checks, "waivers": [{"active": False, "check": "x"}], "history": {"previous_run_id": "p", "regressions": checks}}
    markdown_report(doc)
    ET.fromstring(junit_xml(doc))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.dictionaries(st.sampled_from(["categories", "backtests", "stress", "latency", "spec", "readiness_score", "verdict"]), json_values, max_size=5),
       st.dictionaries(st.sampled_from(["stress_task", "task"]), json_values, max_size=2))
def test_arbitrary_evidence_never_crashes_the_charts(tmp_path, doc, samples):
    render_charts(doc, samples, tmp_path / "charts")


def test_malformed_nested_entries_show_as_missing(results):
    results["latency"]["stress_task"]["insufficient"] = [["p99"], {"x": 1}]
    results["spec"]["scoring"] = ["pass", 90]
    results["stress"]["resources"] = {"coordinator": [1, 2], "sandboxes": {"sb": "n/a"}}
    md = markdown_report(results)
    assert "certified at ≥" not in md and "| `stress_task` |" in md


def test_huge_equal_latencies_do_not_break_the_histogram(tmp_path):
    """Regression (found by the property test above): two equal samples of 5.6e14 ms left numpy
    no room for 10 finite bins and the chart raised."""
    from reports.charts import stress_latency_chart

    samples = {"stress_task": [562949953421312.0, 562949953421312.0]}
    assert stress_latency_chart({}, samples, tmp_path / "latency.png") and (tmp_path / "latency.png").is_file()
