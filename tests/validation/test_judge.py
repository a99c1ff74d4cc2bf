"""judge(): evidence in, checks, scores and a verdict out; every break of the evidence moves them."""

from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tests.validation._judge_fixtures import (documented_repo, good_evidence, latency, mcp_evidence, optimizations,
                                              samples, with_)
from validation import judge, load_spec
from validation.checks import MISSING, PASSING, lookup
from validation.spec import DocumentationSpec

GOLDEN = Path(__file__).parents[1] / "reports" / "golden"

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def smoke():
    return load_spec("smoke")


@pytest.fixture
def repo(tmp_path, smoke):
    return documented_repo(tmp_path, smoke)


def _judge(spec, ev, repo, **kw):
    return judge(spec, ev, now=NOW, repo_root=repo, **kw)


def _slow(ev: dict, op: str, add_ms: float) -> dict:
    """`ev` with every sample of `op` slower by `add_ms`, summarised again (point and CI move together)."""
    return with_(ev, f"latency.{op}", latency([x + add_ms for x in ev["samples"][op]]))


@pytest.mark.parametrize("profile", ["smoke", "standard", "nightly"])
def test_healthy_evidence_is_certified_with_every_check_passing(profile, tmp_path):
    spec = load_spec(profile)
    j = judge(spec, good_evidence(spec), now=NOW, repo_root=documented_repo(tmp_path, spec))
    assert [c.id for c in j.checks if c.status != "pass"] == []
    assert j.readiness_score == 100.0 and j.verdict == "CERTIFIED"
    assert [c["name"] for c in j.categories] == ["functionality", "performance", "cost", "reliability", "documentation"]
    json.dumps(j.to_dict(), allow_nan=False)  # results.json material: strict JSON


def test_injected_latency_flips_the_sla_check_and_the_verdict(smoke, repo):
    ev = good_evidence(smoke)
    slow = with_(ev, "latency.sandbox_create", latency([x + 6000 for x in ev["samples"]["sandbox_create"]]))
    j = _judge(smoke, slow, repo)
    c = j.check("perf.sandbox_create.p95")
    assert c.status == "fail" and c.observed > 5000 and c.evidence == "latency.sandbox_create.p95"
    assert j.verdict == "NOT_CERTIFIED" and j.readiness_score < 100
    assert _judge(smoke, ev, repo).verdict == "CERTIFIED"  # and back


BREAKS = [
    ("sandboxes.lifecycle_ok", False, "func.sandbox_lifecycle", "fail"),
    ("sandboxes.lifecycle_ok", "yes", "func.sandbox_lifecycle", "error"),
    ("mcp.lifecycle_ok", False, "func.mcp.lifecycle", "fail"),
    ("mcp.missing_tools", ["terminate_e2b_sandbox"], "func.mcp.tools", "fail"),
    ("mcp.tools", [], "func.mcp.tools", "nodata"),
    # every call slow, so its confidence interval is above the bound too (a lone p95 would be marginal)
    ("latency.mcp_call", latency([6000.0 + 10 * i for i in range(20)]), "perf.mcp_call.p95", "fail"),
    ("agents.healthy", 2, "func.agent_deploy", "fail"),
    ("consensus.errors", 1, "func.consensus", "fail"),
    ("consensus.rounds", 0, "func.consensus", "nodata"),
    ("portfolio.invariant_violations", 1, "func.portfolio_invariants", "fail"),
    ("portfolio.fills", 0, "func.portfolio_invariants", "nodata"),
    ("parity.0.mismatches", 3, "func.parity", "fail"),
    ("parity", [], "func.parity", "nodata"),
    ("data_validation.0.failed", 2, "func.data.SPX", "fail"),
    ("data_validation", [], "func.data.SPX", "nodata"),
    ("backtests.0.crosscheck.agree", False, "func.backtest.crosscheck", "fail"),
    ("backtests.0.crosscheck", None, "func.backtest.crosscheck", "nodata"),
    ("stress.lost", 1, "rel.stress.accounting", "fail"),
    ("stress.duplicated", 1, "rel.stress.accounting", "fail"),
    ("stress.completed", 10, "rel.stress.accounting", "fail"),
    ("stress.submitted", 60, "rel.stress.accounting", "fail"),
    ("stress.aborted", True, "rel.stress.not_aborted", "fail"),
    ("sandboxes.leaked", 1, "rel.sandboxes.leaked", "fail"),
    ("stress.faults.0.detail", {"error": "ConnectError: sandboxd down"}, "rel.faults.fail_rate", "fail"),
    ("stress.faults.0.injected", False, "rel.faults.fail_rate", "nodata"),
    ("stress.phases.chaos.lost", 1, "rel.chaos.final_states", "fail"),
    ("stress.phases.recovery.submitted", 20, "rel.chaos.final_states", "fail"),
    ("stress.phases.recovery.p95_all_ms", 900.0, "rel.chaos.recovery_latency", "fail"),
    ("stress.phases.recovery.p95_all_ms", None, "rel.chaos.recovery_latency", "fail"),
    ("stress.phases.recovery.submitted", 0, "rel.chaos.recovery_latency", "nodata"),
    ("stress.phases.chaos.outcomes", "x" * 100, "rel.stress.abort_rule", "fail"),
    ("stress.phases", {}, "rel.stress.abort_rule", "nodata"),
    ("stress.orphaned", 2, "rel.stress.accounting", "fail"),
    ("stress.faults", [], "rel.faults.latency", "nodata"),
    ("stress.phases.steady.success_rate", 0.8, "rel.success_rate", "fail"),
    ("stress.phases.steady.error_rate", 0.12, "rel.error_rate", "fail"),  # its interval is above 5 %
    ("stress.phases.steady.throughput_per_s", 1.0, "perf.throughput_per_s", "fail"),
    ("backtests.0.gates.dsr", 0.5, "rel.backtest.dsr", "fail"),
    ("backtests.0.gates.walk_forward", {"degradation": 0.9}, "rel.backtest.walk_forward", "fail"),
    ("backtests.0.gates.walk_forward", {}, "rel.backtest.walk_forward", "nodata"),
    ("backtests.0.gates.cost_stress_return", -0.1, "rel.backtest.cost_stress", "fail"),
    ("backtests.0.gates.lag_return", 0.1, "rel.backtest.lag", "fail"),
    ("latency.stress_task.p95", "fast", "perf.stress_task.p95", "error"),
    ("latency.consensus.count", 0, "perf.consensus.p95", "nodata"),
    ("stress.billed", None, "cost.budget.projected", "nodata"),
    ("stress.latency.stress_service.mean", 1e4, "cost.budget.projected", "fail"),  # capacity crushed: 0.1 task/s
    ("cost.meter", None, "cost.budget.forecast", "nodata"),
]


@pytest.mark.parametrize("path, value, check_id, status", BREAKS, ids=[f"{b[0]}={b[1]!r}" for b in BREAKS])
def test_each_break_in_the_evidence_moves_its_check_and_the_score(smoke, repo, path, value, check_id, status):
    ev = good_evidence(smoke)
    assert _judge(smoke, ev, repo).check(check_id).status == "pass"
    j = _judge(smoke, with_(ev, path, value), repo)
    assert j.check(check_id).status == status
    assert j.readiness_score < 100.0
    assert j.verdict != "CERTIFIED" or not j.check(check_id).critical


def test_a_value_the_models_refuse_is_an_error_and_its_section_is_still_judged(smoke, repo):
    ev = good_evidence(smoke)
    j = _judge(smoke, with_(ev, "sandboxes.lifecycle_ok", "yes"), repo)
    assert j.check("func.sandbox_lifecycle").status == "error" and j.check("func.sandbox_lifecycle").observed == "yes"
    assert j.check("rel.sandboxes.leaked").status == "pass"  # the section's other figures still count
    assert j.check("rel.sandboxes.leaked").details == _judge(smoke, ev, repo).check("rel.sandboxes.leaked").details
    j = _judge(smoke, with_(ev, "sandboxes.leaked", "none"), repo)  # and the opposite: the sibling refused
    assert j.check("rel.sandboxes.leaked").status == "error" and j.check("func.sandbox_lifecycle").status == "pass"
    # a malformed entry of a list takes the list out (its indices are the checks' pointers): missing, not passed
    j = _judge(smoke, with_(ev, "data_validation.0", "SPX ok"), repo)
    assert j.check("func.data.SPX").status == "nodata" and j.verdict == "NOT_CERTIFIED"


@pytest.mark.parametrize("section", ["latency", "sandboxes", "agents", "consensus", "portfolio", "parity", "stress",
                                     "cost", "backtests", "data_validation", "mcp"])
def test_a_missing_section_is_never_a_pass(smoke, repo, section):
    ev = good_evidence(smoke)
    del ev[section]
    j = _judge(smoke, ev, repo)
    assert any(c.status == "nodata" for c in j.checks)
    assert j.verdict == "NOT_CERTIFIED"  # every section feeds at least one critical check


def test_latency_summarised_only_inside_the_stress_section_is_found(smoke, repo):
    ev = good_evidence(smoke)
    ev["stress"]["latency"] = {"stress_task": ev["latency"].pop("stress_task")}
    c = _judge(smoke, ev, repo).check("perf.stress_task.p95")
    assert c.status == "pass" and c.evidence == "stress.latency.stress_task.p95"
    ev["stress"]["latency"]["stress_task"].update(p95=1500.0, p95_ci=[1400.0, 1600.0])
    assert _judge(smoke, ev, repo).check("perf.stress_task.p95").status == "fail"


def test_empty_evidence_scores_low_and_fails(smoke, repo):
    j = _judge(smoke, {}, repo)
    assert j.verdict == "NOT_CERTIFIED" and j.readiness_score <= 10.0  # only documentation passes
    assert all(c.status != "pass" for c in j.checks if c.category != "documentation")


def test_too_few_trades_gives_nodata_not_a_pass(smoke, repo):
    ev = good_evidence(smoke)
    for b in ev["backtests"]:
        b["trades"] = 2
    j = _judge(smoke, ev, repo)
    assert j.check("rel.backtest.dsr").status == "nodata"
    assert j.check("rel.backtest.dsr").details["too_few_trades"]
    ev["backtests"][0]["trades"] = 40  # one configuration with enough trades is judged on its own
    assert _judge(smoke, ev, repo).check("rel.backtest.dsr").status == "pass"


def test_crosscheck_disagreement_is_critical_and_carries_the_first_divergence(smoke, repo):
    ev = good_evidence(smoke)
    ev["backtests"][1]["crosscheck"] = {"agree": False, "first_divergence": {"bar": 17, "field": "entry_price"},
                                        "equity_rel_diff": 0.01}
    j = _judge(smoke, ev, repo)
    c = j.check("func.backtest.crosscheck")
    assert c.critical and c.status == "fail" and c.details["first_disagreement"]["first_divergence"]["bar"] == 17
    assert j.verdict == "NOT_CERTIFIED"


def test_missing_documents_fail_documentation_only(smoke, tmp_path):
    spec = smoke
    j = judge(spec, good_evidence(spec), now=NOW, repo_root=tmp_path)  # an empty tree: no docs at all
    cat = {c["name"]: c for c in j.categories}
    assert cat["documentation"]["score"] == 0 and j.readiness_score == 90.0
    assert j.verdict == "CERTIFIED"  # exactly on the pass line: documentation is not critical
    j = judge(load_spec("smoke", overrides={"scoring": {"pass": 95}}), good_evidence(spec), now=NOW, repo_root=tmp_path)
    assert j.verdict == "CONDITIONAL"


def _waived_spec(expires):
    return load_spec("smoke", overrides={"waivers": [
        {"check": "perf.sandbox_create.p95", "reason": "cold template cache on the CI runner", "owner": "release-eng",
         "expires": expires.isoformat()}]})


def test_an_active_waiver_accepts_a_failure_and_an_expired_one_does_not(smoke, repo):
    ev = good_evidence(smoke)
    slow = _slow(ev, "sandbox_create", 6000)
    j = _judge(_waived_spec(NOW + timedelta(days=1)), slow, repo)
    c = j.check("perf.sandbox_create.p95")
    assert c.status == "waived" and c.waiver["owner"] == "release-eng" and c.waiver["was"] == "fail"
    assert j.verdict == "CERTIFIED" and j.waivers[0]["waived"] == ["perf.sandbox_create.p95"]
    j = _judge(_waived_spec(NOW - timedelta(seconds=1)), slow, repo)
    assert j.check("perf.sandbox_create.p95").status == "fail" and j.verdict == "NOT_CERTIFIED"
    assert j.waivers[0]["active"] is False


def test_history_regression_becomes_a_check_and_readiness_delta_is_reported(smoke, repo):
    past = []
    for i in range(3):
        ev = good_evidence(smoke, seed=10 + i)
        r = _judge(smoke, ev, repo).to_dict() | {"run_id": f"r{i}", "profile": "smoke",
                                                  "started_at": f"2026-11-2{i}T02:00:00Z", "samples": ev["samples"]}
        past.append(r)
    ev = good_evidence(smoke)
    j = _judge(smoke, ev, repo, history=past)
    assert j.check("perf.regression.stress_task").status == "pass" and j.history["readiness_delta"] == 0.0
    assert j.history["previous_run_id"] == "r2"
    slow = copy.deepcopy(ev)
    slow["samples"] = samples(seed=1, scale=1.6)
    j = _judge(smoke, slow, repo, history=past)
    assert j.check("perf.regression.stress_task").status == "fail"
    regressed = [c.id for c in j.checks if c.status == "fail"]
    ops = sorted(set(ev["samples"]) & set(smoke.sla))  # the latency metrics the spec has SLAs on
    assert sorted(regressed) == [f"perf.regression.{op}" for op in ops]  # every one slowed
    perf = next(c for c in j.categories if c["name"] == "performance")
    assert j.history["readiness_delta"] == pytest.approx(-25 * len(ops) / perf["evaluated"])
    assert j.verdict == "CONDITIONAL" and not j.blocking  # a regression lowers the score, it does not block
    assert all(c.status in PASSING for c in j.checks if not c.id.startswith("perf.regression"))


def _leaves(obj, prefix=""):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _leaves(v, f"{prefix}{k}.")
    elif isinstance(obj, list) and obj:
        for i, v in enumerate(obj[:2]):
            yield from _leaves(v, f"{prefix}{i}.")
    yield prefix.rstrip(".")


JUNK = [None, "junk", -1, 1e308, float("nan"), [], {}, [1, "x"], {"a": None}, True]


def test_malformed_evidence_never_raises(smoke, repo):
    """Every place of the evidence replaced by junk: the judge answers (no exception) and stays strict JSON."""
    smoke = smoke.model_copy(update={"documentation": DocumentationSpec()})  # documents are not evidence
    ev = good_evidence(smoke)
    ev.pop("samples")  # raw samples are exercised by the history tests
    paths = [p for p in _leaves(ev) if p]
    for i, path in enumerate(paths):
        junk = JUNK[i % len(JUNK)]
        j = _judge(smoke, with_(ev, path, junk), repo)
        assert j.verdict in ("CERTIFIED", "CONDITIONAL", "NOT_CERTIFIED")
        json.dumps(j.to_dict(), allow_nan=False, default=str)


def test_too_few_samples_is_nodata_unless_the_slowest_sample_meets_an_upper_bound(smoke, repo):
    """Regression: with 3 agents, `agent_deploy p95 < 6000ms` was nodata although every deploy took 2 s.

    Any percentile is at most the maximum, so a maximum under an upper bound proves the bound;
    a maximum over it proves nothing about the percentile, which stays unsupported (nodata).
    """
    ev = good_evidence(smoke)
    stats = ev["latency"]["stress_task"]
    stats["insufficient"] = ["p99"]
    c = _judge(smoke, ev, repo).check("perf.stress_task.p99")
    assert c.status == "pass" and c.observed == stats["max"] and c.evidence.endswith(".max")
    stats["max"] = 5000.0  # p99 < 2000ms: the slowest sample no longer bounds it
    assert _judge(smoke, ev, repo).check("perf.stress_task.p99").status == "nodata"


def test_waivers_cannot_certify_a_run_without_evidence(smoke, repo):
    """A waiver on every category (the widest the spec allows) turns no missing evidence into a pass."""
    everything = [{"check": f"{p}.*", "reason": "accept whatever fails tonight", "owner": "ops",
                   "expires": (NOW + timedelta(days=1)).isoformat()} for p in ("func", "perf", "rel", "cost", "doc")]
    spec = load_spec("smoke", overrides={"waivers": everything})
    j = _judge(spec, {}, repo)
    assert j.verdict == "NOT_CERTIFIED" and j.readiness_score <= 10.0
    assert not any(c.status == "waived" for c in j.checks)
    not_applied = {n["check"] for w in j.waivers for n in w["not_applied"]}
    assert not_applied == {c.id for c in j.checks if c.status in ("nodata", "error")} and not_applied
    # the opposite: the same waivers do accept measured failures
    ev = _slow(good_evidence(smoke), "sandbox_create", 6000)
    j = _judge(spec, ev, repo)
    assert j.check("perf.sandbox_create.p95").status == "waived" and j.verdict == "CERTIFIED"


def test_a_spec_without_sla_still_judges_throughput(tmp_path):
    data = load_spec("standard").resolved()
    del data["sla"]
    spec = load_spec(data)
    ev = good_evidence(spec)
    repo = documented_repo(tmp_path, spec)
    c = judge(spec, ev, now=NOW, repo_root=repo).check("perf.throughput_per_s")
    assert (c.status, c.threshold, c.critical) == ("pass", ">= 100", True)
    j = judge(spec, with_(ev, "stress.phases.steady.throughput_per_s", 40.0), now=NOW, repo_root=repo)
    assert j.check("perf.throughput_per_s").status == "fail" and j.verdict == "NOT_CERTIFIED"


def results_document(evidence: dict, judgement) -> dict:
    """results.json as the pipeline writes it (flows/certify.py): the evidence sections (raw
    samples go to samples.json, the raw cost evidence is replaced by the judged cost) and the judgement."""
    kept = {k: v for k, v in evidence.items() if k not in ("samples", "cost", "fingerprints", "duration_s")}
    return {**kept, **judgement.to_dict()}


def unresolved(results: dict) -> list[tuple[str, str]]:
    """(check id, evidence) of every check whose evidence pointer finds nothing in `results`."""
    return [(c["id"], c["evidence"]) for c in results["checks"]
            if not c["evidence"].startswith("file:") and lookup(results, c["evidence"]) is MISSING]


def _past(results: dict, samples: dict) -> dict:
    return {**copy.deepcopy(results), "run_id": "previous", "started_at": "2026-11-01T00:00:00+00:00", "samples": samples}


def test_every_evidence_pointer_resolves_in_the_golden_results(tmp_path):
    """Judge the golden run's evidence (with a history, so regression checks exist) and follow every pointer."""
    golden = json.loads((GOLDEN / "results.json").read_text())
    raw = json.loads((GOLDEN / "samples.json").read_text())
    spec = load_spec(golden["profile"], overrides={"cost": {"savings_targets": {"pooling": ">= 0%"}}})
    ev = {k: copy.deepcopy(golden[k]) for k in ("latency", "sandboxes", "agents", "consensus", "portfolio", "parity",
                                                 "stress", "backtests", "data_validation")}
    ev["samples"], ev["duration_s"] = raw, golden["duration_s"]
    if "mcp" not in golden:  # the golden run predates the MCP layer: a healthy probe's evidence stands in
        ev["mcp"], raw["mcp_call"] = mcp_evidence(), samples()["mcp_call"]
        ev["latency"]["mcp_call"] = latency(raw["mcp_call"])
    ev["cost"] = {"meter": golden["cost"]["breakdown"]["usage"], "elapsed_s": golden["duration_s"]}
    ev["optimizations"] = optimizations()
    j = judge(spec, ev, history=[_past(golden, raw)], now=NOW, repo_root=documented_repo(tmp_path, spec))
    results = results_document(ev, j)
    ids = {c.id for c in j.checks}
    assert {"rel.backtest.dsr", "rel.stress.accounting", "cost.savings.pooling", "perf.regression.stress_task",
            "func.backtest.crosscheck"} <= ids  # the kinds of check whose pointers once led nowhere
    assert unresolved(results) == []
    for c in j.checks:  # a pointer to a number leads to the number the check judged
        found = lookup(results, c.evidence) if not c.evidence.startswith("file:") else None
        if isinstance(found, (int, float)) and not isinstance(found, bool) and c.id.startswith(("perf.", "cost.budget")):
            assert found == pytest.approx(c.observed), c.id
    del results["history"]  # the opposite: a section the pointers need, gone, is caught
    assert {cid for cid, _ in unresolved(results)} == {c.id for c in j.checks if c.id.endswith("regression.per_1000_tasks")
                                                       or c.id.startswith("perf.regression.")}


@pytest.mark.parametrize("profile", ["smoke", "standard", "nightly"])
def test_every_evidence_pointer_resolves_for_each_profile(profile, tmp_path):
    spec = load_spec(profile)
    repo = documented_repo(tmp_path, spec)
    past_ev = good_evidence(spec, seed=5)
    past = _past(results_document(past_ev, judge(spec, past_ev, now=NOW, repo_root=repo)), past_ev["samples"])
    ev = good_evidence(spec)
    ev["samples"]["agent_deploy"] = ev["samples"]["agent_deploy"][:3]  # too few to compare: a nodata regression
    for b in ev["backtests"][:2]:
        b["gates"]["dsr"] = 0.1  # failing gates point at the configuration that failed
    j = judge(spec, ev, history=[past], now=NOW, repo_root=repo)
    assert j.check("perf.regression.agent_deploy").status == "nodata"
    dsr = j.check("rel.backtest.dsr")
    assert dsr.status == "fail" and dsr.evidence in ("backtests[0].gates.dsr", "backtests[1].gates.dsr")
    assert unresolved(results_document(ev, j)) == []


# ----------------------------------------------------------------------------- noise-aware thresholds

@pytest.mark.parametrize("p95, ci, status, verdict", [
    (400.0, [350.0, 480.0], "pass", "CERTIFIED"),         # the interval clearly below 1000 ms
    (980.0, [900.0, 1100.0], "marginal", "CONDITIONAL"),  # straddles: not a clean pass, not a failure
    (1020.0, [900.0, 1100.0], "marginal", "CONDITIONAL"),  # the point on the other side: the same verdict
    (1300.0, [1200.0, 1450.0], "fail", "NOT_CERTIFIED"),  # clearly above
])
def test_a_latency_sla_is_judged_by_its_confidence_interval(smoke, repo, p95, ci, status, verdict):
    ev = good_evidence(smoke)
    ev["latency"]["stress_task"].update(p95=p95, p95_ci=ci)
    j = _judge(smoke, ev, repo)
    c = j.check("perf.stress_task.p95")
    assert c.critical and c.status == status and c.observed == p95 and c.details["p95_ci"] == ci
    assert j.verdict == verdict
    assert (c in j.capping) == (status == "marginal") and (c in j.blocking) == (status == "fail")


@pytest.mark.parametrize("failed, status, verdict", [
    (0, "pass", "CERTIFIED"),         # 0 of 100: Wilson upper bound 3.7 % < 5 %
    (2, "marginal", "CONDITIONAL"),   # 2 of 100: [0.6 %, 7.0 %] straddles 5 %
    (12, "fail", "NOT_CERTIFIED"),    # 12 of 100: [7.0 %, 19.8 %] above 5 %
])
def test_a_rate_sla_is_judged_by_its_binomial_interval(smoke, repo, failed, status, verdict):
    ev = good_evidence(smoke)
    steady = ev["stress"]["phases"]["steady"]  # rate SLAs judge the steady state
    n = steady["submitted"]
    steady.update(completed=n - failed, failed=failed, timed_out=0,
                  error_rate=failed / n, success_rate=(n - failed) / n)
    j = _judge(smoke, ev, repo)
    c = j.check("rel.error_rate")
    assert c.status == status and c.details["ci"][0] <= failed / n <= c.details["ci"][1]
    assert j.verdict == verdict


def test_a_marginal_check_scores_as_passed_so_noise_does_not_move_the_readiness(smoke, repo):
    ev = good_evidence(smoke)
    clean = _judge(smoke, ev, repo)
    ev["latency"]["stress_task"].update(p95=980.0, p95_ci=[900.0, 1100.0])
    noisy = _judge(smoke, ev, repo)
    assert noisy.check("perf.stress_task.p95").status == "marginal"
    assert noisy.readiness_score == clean.readiness_score == 100.0
    assert (clean.verdict, noisy.verdict) == ("CERTIFIED", "CONDITIONAL")


# ----------------------------------------------------------------------------- checks that could not fail

def test_lag_gate_judges_losing_strategies_too(smoke, repo):
    """Regression: `rel.backtest.lag` returned a margin of 0 (a pass) for any losing strategy."""
    ev = good_evidence(smoke)
    for b in ev["backtests"]:
        b.update(total_return=-0.10)
        b["gates"]["lag_return"] = -0.12  # one bar of lag costs 20 % of the loss's size: within 50 %
    assert _judge(smoke, ev, repo).check("rel.backtest.lag").status == "pass"
    ev["backtests"][0]["gates"]["lag_return"] = -0.25  # the loss deepens by 150 %: depends on the bar it trades
    c = _judge(smoke, ev, repo).check("rel.backtest.lag")
    assert c.status == "fail" and c.observed < 0 and c.details["failed"][0]["value"] == pytest.approx(-0.10)


def test_lag_gate_judges_the_sharpe_as_well_as_the_return(smoke, repo):
    ev = good_evidence(smoke)
    for b in ev["backtests"]:
        b["sharpe"], b["gates"]["lag_sharpe"] = 1.2, 1.0
    assert _judge(smoke, ev, repo).check("rel.backtest.lag").status == "pass"
    ev["backtests"][0]["gates"]["lag_sharpe"] = 0.2  # the return holds (0.45 of 0.5) but the Sharpe collapses
    assert _judge(smoke, ev, repo).check("rel.backtest.lag").status == "fail"


def test_coverage_expects_every_strategy_a_deployed_agent_runs(smoke, repo):
    """Regression: `func.backtest.coverage` compared the spec's sweep with itself, so the deployed
    `risk_manager` was never backtested and the check passed anyway."""
    ev = good_evidence(smoke)
    assert _judge(smoke, ev, repo).check("func.backtest.coverage").status == "pass"
    ev["backtests"] = [b for b in ev["backtests"] if b["strategy"] != "risk_manager"]
    c = _judge(smoke, ev, repo).check("func.backtest.coverage")
    assert c.status == "fail" and c.observed == 1 and c.details["missing"] == ["risk_manager/SPX"]


def test_parity_of_a_deployed_strategy_that_was_never_compared_is_not_a_pass(smoke, repo):
    """A deployed agent type missing from the parity rows (it died, or was skipped) was not shown
    to agree: `nodata`, naming it; with a mismatch elsewhere the check still fails."""
    ev = good_evidence(smoke)
    ev["parity"] = [r for r in ev["parity"] if r["strategy"] != "risk_manager"]
    c = _judge(smoke, ev, repo).check("func.parity")
    assert c.status == "nodata" and c.details["not_compared"] == ["risk_manager/SPX"]
    ev["parity"][0]["mismatches"] = 2
    assert _judge(smoke, ev, repo).check("func.parity").status == "fail"
    ev["parity"] = good_evidence(smoke)["parity"]
    assert _judge(smoke, ev, repo).check("func.parity").status == "pass"
