"""Any JSON document is either rendered or refused in one line at the boundary (`Results.parse`):
a malformed section never crashes the report, and is never rendered as if it were measured."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reports import junit_xml, markdown_report, summary_rows
from reports.charts import render_charts
from reports.markdown import shown_keys
from validation.evidence import Results, ResultsError

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)
SECTIONS = sorted({k.split(".")[0].split("[")[0] for k in shown_keys()})


def _parsed(doc: dict) -> Results | None:
    """The document as Results, or None after checking the refusal is one line naming results.json."""
    try:
        return Results.parse(doc)
    except ResultsError as e:
        assert "\n" not in str(e) and str(e).startswith("results.json")
        return None


@pytest.mark.slow
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(SECTIONS), json_values, max_size=8))
def test_arbitrary_sections_render_or_are_refused_in_one_line(doc):
    r = _parsed(doc)
    if r is not None:
        assert markdown_report(r).startswith("# Certification report")
        summary_rows(r)
        ET.fromstring(junit_xml(r))


@settings(max_examples=50, deadline=None)
@given(st.lists(st.dictionaries(st.sampled_from(["id", "category", "status", "observed", "unit", "threshold", "critical", "details", "waiver"]),
                                json_values, max_size=9), max_size=5))
def test_arbitrary_checks_render_or_are_refused_in_one_line(checks):
    doc = {"checks": checks, "waivers": [{"active": False, "check": "x"}], "history": {"previous_run_id": "p", "regressions": checks}}
    r = _parsed(doc)
    if r is not None:
        markdown_report(r)
        ET.fromstring(junit_xml(r))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.dictionaries(st.sampled_from(["categories", "backtests", "stress", "latency", "spec", "readiness_score", "verdict"]), json_values, max_size=5),
       st.dictionaries(st.sampled_from(["stress_task", "task"]), json_values, max_size=2))
def test_arbitrary_evidence_never_crashes_the_charts(tmp_path, doc, samples):
    r = _parsed(doc)
    if r is not None:
        render_charts(r, samples if all(type(v) is list for v in samples.values()) else None, tmp_path / "charts")


def test_each_section_left_out_renders_as_not_measured(results):
    """The other side of the refusals above: a document missing any one section still renders."""
    for section in SECTIONS:
        doc = {k: v for k, v in results.items() if k != section}
        assert markdown_report(doc).startswith("# Certification report"), section


@pytest.mark.parametrize("path, value, named", [
    (("latency", "stress_task", "insufficient"), [["p99"], {"x": 1}], "latency.stress_task.insufficient[0]"),
    (("spec", "scoring"), ["pass", 90], "spec.scoring"),
    (("stress", "resources"), {"coordinator": [1, 2]}, "stress.resources.coordinator"),
    (("sandboxes", "lifecycle_ok"), "yes", "sandboxes.lifecycle_ok"),
    (("stress", "completed"), "983", "stress.completed"),
])
def test_a_malformed_entry_is_refused_naming_it_never_rendered(results, path, value, named):
    *parents, key = path
    node = results
    for p in parents:
        node = node[p]
    good = markdown_report(results)
    node[key] = value
    with pytest.raises(ResultsError, match="^" + re.escape(f"results.json: {named}: ")):
        markdown_report(results)
    assert good.startswith("# Certification report")  # the well-formed document renders


def test_huge_equal_latencies_do_not_break_the_histogram(tmp_path):
    """Regression (found by the property test above): two equal samples of 5.6e14 ms left numpy
    no room for 10 finite bins and the chart raised."""
    from reports.charts import stress_latency_chart

    samples = {"stress_task": [562949953421312.0, 562949953421312.0]}
    assert stress_latency_chart({}, samples, tmp_path / "latency.png") and (tmp_path / "latency.png").is_file()
