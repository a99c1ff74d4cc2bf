"""End to end through the real judge: a changed measurement changes the verdict and the report.

The evidence is the golden run's; `validation.judge` turns it into checks, scores and a
verdict, and the report is rendered from that. Then one measurement changes (latency
injected, an agent failing its health check, a corrupted dataset) and the page must follow.
"""

from __future__ import annotations

import copy
from datetime import datetime, timezone

import pytest

from reports import _format as F
from reports import markdown_report
from tests.validation._judge_fixtures import mcp_evidence
from tradeswarm.stress.stats import summarize
from validation import judge
from validation import load_spec
from tests.validation._judge_fixtures import optimizations, usage

NOW = datetime(2026, 11, 27, 22, 5, 54, tzinfo=timezone.utc)
EVIDENCE_KEYS = ("latency", "sandboxes", "agents", "consensus", "portfolio", "parity", "stress", "backtests", "data_validation")


@pytest.fixture
def spec():
    # documentation is judged on files (validation's own tests); here only measurements vary
    return load_spec("standard", overrides={"documentation": {"required": []}})


@pytest.fixture
def healthy_evidence(results, samples):
    """The golden evidence with its two critical problems fixed (enough deploys, clean data)."""
    ev = {k: copy.deepcopy(results[k]) for k in EVIDENCE_KEYS}
    samples["agent_deploy"] = [1700.0 + 13.0 * i for i in range(25)]
    ev["latency"]["agent_deploy"] = summarize(samples["agent_deploy"], seed=1)
    ev["data_validation"][2].update(failed=0, failures=[])
    if "mcp" not in results:  # the golden run predates the MCP layer (tasks/mcp.py): a healthy probe's evidence
        ev["mcp"], samples["mcp_call"] = mcp_evidence(), [120.0 + 9.0 * i for i in range(20)]
        ev["latency"]["mcp_call"] = summarize(samples["mcp_call"], seed=1)
    ev["samples"] = samples
    ev["duration_s"] = results["duration_s"]
    ev["cost"] = {"meter": results["cost"]["breakdown"]["usage"], "elapsed_s": 41.3}
    ev["optimizations"] = optimizations()
    ev["stress"]["billed"] = {**usage(200.0), "api_calls": {"stdin": 400}, "api_calls_total": 400}
    return ev


def _report(spec, evidence) -> tuple[dict, str]:
    j = judge(spec, evidence, now=NOW)
    results = {"schema": "tradeswarm.certification/v1", "run_id": "judged", **{k: evidence[k] for k in EVIDENCE_KEYS},
               **j.to_dict(), "spec": spec.resolved()}
    return results, markdown_report(results)


def _verdict_line(md: str) -> str:
    return md.splitlines()[2]


def _row(md: str, check_id: str) -> str:
    return next(ln for ln in md.splitlines() if ln.startswith(f"| `{check_id}`"))


def test_healthy_evidence_is_not_blocked(spec, healthy_evidence):
    results, md = _report(spec, healthy_evidence)
    assert results["verdict"] in ("CERTIFIED", "CONDITIONAL")
    assert results["verdict"].replace("_", "\\_") in _verdict_line(md)
    assert "critical checks failing" not in md


def test_injected_latency_fails_the_sla_and_the_verdict(spec, healthy_evidence):
    before, md_before = _report(spec, healthy_evidence)
    slow = [x * 100 for x in healthy_evidence["samples"]["stress_task"]]
    healthy_evidence["samples"]["stress_task"] = slow
    healthy_evidence["latency"]["stress_task"] = summarize(slow, seed=7)
    after, md_after = _report(spec, healthy_evidence)

    assert after["verdict"] == "NOT_CERTIFIED" and before["verdict"] != "NOT_CERTIFIED"
    assert "NOT\\_CERTIFIED" in _verdict_line(md_after) and "NOT\\_CERTIFIED" not in _verdict_line(md_before)
    assert "✓ pass" in _row(md_before, "perf.stress_task.p95") and "✗ fail" in _row(md_after, "perf.stress_task.p95")
    p95 = F.fmt_ms(after["latency"]["stress_task"]["p95"])
    assert p95 in _row(md_after, "perf.stress_task.p95") and p95 not in md_before
    assert "`perf.stress_task.p95`" in md_after.split("critical checks failing:")[1].splitlines()[0]


def test_a_failing_agent_fails_deploy_and_the_verdict(spec, healthy_evidence):
    _, md_before = _report(spec, healthy_evidence)
    healthy_evidence["agents"].update(healthy=4, deploy_failures=1)
    after, md_after = _report(spec, healthy_evidence)
    assert after["verdict"] == "NOT_CERTIFIED"
    assert "| healthy | 4 |" in md_after and "| healthy | 5 |" in md_before
    assert "✗ fail" in _row(md_after, "func.agent_deploy") and "4 agents" in _row(md_after, "func.agent_deploy")


def test_corrupted_data_fails_its_contract_and_the_verdict(spec, healthy_evidence, results):
    _, md_before = _report(spec, healthy_evidence)
    healthy_evidence["data_validation"][2] = copy.deepcopy(results["data_validation"][2])  # the golden's bad rows
    after, md_after = _report(spec, healthy_evidence)
    assert after["verdict"] == "NOT_CERTIFIED"
    assert "✗ fail" in _row(md_after, "func.data.GOOG") and "✓ pass" in _row(md_before, "func.data.GOOG")
    assert "559.02" in md_after and "559.02" not in md_before  # the failing sample row is shown


def test_score_in_the_report_is_the_judges(spec, healthy_evidence):
    results, md = _report(spec, healthy_evidence)
    assert f"**{F.fmt_score(results['readiness_score'])} / 100**" in _verdict_line(md)
    for cat in results["categories"]:
        assert f"| {cat['name']} | {F.fmt_generic(cat['weight'])} | {F.fmt_score(cat['score'])} |" in md
