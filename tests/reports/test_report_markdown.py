"""The report is honest: every number on the page comes from results.json, and changing a
measurement changes the page."""

from __future__ import annotations

import re
from pathlib import Path

from reports import _format as F
from reports import markdown_report, summary_rows
from reports._format import NOT_MEASURED, fmt_value

NUMBER = re.compile(r"(?<![\w.])\d+(?:,\d{3})*(?:\.\d+)?(?:e[-+]?\d+)?")
FORMATTERS = [F.fmt_int, F.fmt_num, F.fmt_ms, F.fmt_seconds, F.fmt_pct, F.fmt_pct_value, F.fmt_usd, F.fmt_score, F.fmt_generic, F.fmt_bytes,
              lambda v: F.fmt_num(v, 1), lambda v: F.fmt_num(v, 3)]
# the page's fixed text: the assembler and its one renderer per section
TEMPLATE = "".join(p.read_text(encoding="utf-8") for p in sorted(
    [Path(F.__file__).with_name("markdown.py"), *Path(F.__file__).with_name("sections").glob("*.py")]))


CHART_ONLY = {"equity_curve", "throughput_series"}  # drawn, never printed: not a source of printed numbers


def _leaves(obj, key=""):
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k not in CHART_ONLY:
                yield from _leaves(v, str(k))
    elif isinstance(obj, list):
        for v in obj:
            yield from _leaves(v, key)
    else:
        yield key, obj


def allowed_numbers(results: dict) -> set[str]:
    """Every number token that a formatter makes of a results.json value, or that the template holds."""
    allowed = set(NUMBER.findall(TEMPLATE))
    for key, v in _leaves(results):
        if isinstance(v, str):
            allowed.update(NUMBER.findall(v))
        elif F.is_number(v):
            texts = [f(v) for f in FORMATTERS] + [F.fmt_keyed(key, v)]
            texts += [F.fmt_value(v, u) for u in ("ms", "s", "%", "ratio", "USD", "")]
            for t in texts:
                allowed.update(NUMBER.findall(t))
    allowed.update(str(n) for n in range(len(results.get("checks") or []) + 1))  # counts of checks per group
    return allowed


def test_every_number_in_the_report_comes_from_results(results):
    md = markdown_report(results)
    tokens = NUMBER.findall(md)
    assert len(tokens) > 500  # the page is full of numbers: the check below is not vacuous
    invented = sorted(set(tokens) - allowed_numbers(results))
    assert not invented, f"numbers in report.md not found in results.json: {invented[:20]}"


def test_an_invented_number_would_be_caught(results):
    for typed_in in ("99.6", "31,415.927"):  # the old system's hand-typed certificate, and any other figure
        md = markdown_report(results) + f"\nreadiness {typed_in} % production ready\n"
        assert typed_in in set(NUMBER.findall(md)) - allowed_numbers(results)


def test_key_metrics_rows_are_the_checks(results):
    rows = summary_rows(results)
    md = markdown_report(results)
    assert [r["check"] for r in rows] == [c["id"] for c in results["checks"]]
    for row, check in zip(rows, results["checks"]):
        assert row["actual"] == fmt_value(check["observed"], check["unit"])
        assert row["target"] == check["threshold"]
        assert row["status"].endswith(check["status"] if check["status"] != "nodata" else "no data")
        line = next(ln for ln in md.splitlines() if ln.startswith(f"| `{check['id']}`"))
        assert F.esc(row["actual"]) in line and row["status"] in line


def test_sections_show_the_measured_values(results):
    md = markdown_report(results)
    st, lat, cost = results["stress"], results["latency"], results["cost"]
    assert f"| {F.fmt_int(st['submitted'])} | {F.fmt_int(st['completed'])} | {F.fmt_int(st['failed'])} | {F.fmt_int(st['timed_out'])} | 0 | 0 |" in md
    assert F.fmt_ms(lat["sandbox_create"]["p95"]) in md and F.fmt_ms(lat["stress_task"]["p99"]) in md
    assert f"{F.fmt_ms(lat['stress_task']['p95_ci'][0])} – {F.fmt_ms(lat['stress_task']['p95_ci'][1])}" in md
    assert F.fmt_usd(cost["projected_daily_usd"]) in md and F.fmt_usd(cost["total_usd"]) in md
    for b in results["backtests"]:
        assert F.fmt_pct(b["total_return"]) in md and F.fmt_num(b["sharpe"]) in md
    for cat in results["categories"]:
        assert f"| {cat['name']} | {F.fmt_generic(cat['weight'])} | {F.fmt_score(cat['score'])} |" in md
    assert "insufficient samples" in md  # agent_deploy has 5 samples: P95 is not invented


def _set_check(results: dict, cid: str, **fields) -> dict:
    check = next(c for c in results["checks"] if c["id"] == cid)
    check.update(fields)
    return check


def test_injected_latency_moves_the_numbers_and_the_verdict(results):
    """The judge's answer to task latency 5× slower: the P95 check fails and the verdict drops."""
    results["verdict"], results["readiness_score"] = "CONDITIONAL", 93.2
    for c in results["checks"]:
        if c["status"] != "pass":
            c["status"] = "pass" if not c["critical"] else c["status"]
    _set_check(results, "perf.agent_deploy.p95", status="pass", observed=2300.0)
    _set_check(results, "func.data.GOOG", status="pass", observed=0)
    before = markdown_report(results)
    assert "CONDITIONAL" in before.splitlines()[2] and "93.2 / 100" in before

    task = results["latency"]["stress_task"]
    slow = {k: (v * 40 if isinstance(v, float) else v) for k, v in task.items()}
    slow["p95_ci"] = [x * 40 for x in task["p95_ci"]]
    results["latency"]["stress_task"] = slow
    _set_check(results, "perf.stress_task.p95", status="fail", observed=slow["p95"])
    results["verdict"], results["readiness_score"] = "NOT_CERTIFIED", 89.6
    after = markdown_report(results)

    assert "NOT\\_CERTIFIED" in after.splitlines()[2] and "89.6 / 100" in after
    assert F.fmt_ms(slow["p95"]) in after and F.fmt_ms(task["p95"]) not in after.split("## Stress test")[1].split("### Errors")[0]
    assert "`perf.stress_task.p95`" in after.split("## Known issues")[1]
    assert "✗ fail |" in next(ln for ln in after.splitlines() if ln.startswith("| `perf.stress_task.p95` (critical) |"))


def test_a_failing_agent_shows_in_agents_and_checklist(results):
    before = markdown_report(results)
    assert "| healthy | 5 |" in before and "✓ `func` —" in before
    results["agents"].update(healthy=4, deploy_failures=1)
    _set_check(results, "func.agent_deploy", status="fail", observed=4)
    after = markdown_report(results)
    assert "| healthy | 4 |" in after and "| deploy failures | 1 |" in after
    assert "✗ `func` — 4 of 5 checks hold; failing: `func.agent_deploy`" in after
    assert "`func.agent_deploy`" in after.split("## Known issues")[1]


def test_clean_data_hides_failing_expectations_and_corrupted_data_shows_them(results):
    corrupted = markdown_report(results)
    assert "Failing expectations" in corrupted and "559.02" in corrupted
    results["data_validation"][2].update(failed=0, failures=[])
    _set_check(results, "func.data.GOOG", status="pass", observed=0)
    clean = markdown_report(results)
    assert "Failing expectations" not in clean and "559.02" not in clean
    assert "`func.data.GOOG`" not in clean.split("## Known issues")[1].split("## Production")[0]


def test_missing_evidence_is_never_filled_in():
    md = markdown_report({"schema": "tradeswarm.certification/v1", "run_id": "r-empty"})
    for title in ("Key metrics", "Sandboxes", "Agents and consensus", "Backtests", "Data quality", "Stress test",
                  "Cost", "Readiness score", "Known issues", "Production checklist", "Change since the previous run", "Environment"):
        section = md.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]
        assert NOT_MEASURED in section, title
    assert set(NUMBER.findall(md)) <= set(NUMBER.findall(TEMPLATE))  # no measured number on an empty run
    assert "NO VERDICT" in md


def test_insufficient_percentile_is_labelled_not_estimated(results):
    results["latency"]["stress_task"].update(p99=None, p99_ci=None, insufficient=["p99", "p999"])
    md = markdown_report(results)
    row = next(ln for ln in md.splitlines() if ln.startswith("| `stress_task` |"))
    assert row.count("insufficient samples") == 2


def test_aborted_stress_run_says_why(results):
    assert "The abort rule did not fire." in markdown_report(results)
    results["stress"].update(aborted=True, abort_reason="error rate 62% > 50% after 100 tasks")
    md = markdown_report(results)
    assert "aborted early: error rate 62% &gt; 50% after 100 tasks" in md


def test_first_run_has_nothing_to_compare(results):
    results["history"] = {"previous_run_id": None, "regressions": []}
    assert "first run of this profile" in markdown_report(results)


def test_charts_are_linked_only_when_drawn(results):
    linked = markdown_report(results, charts=["equity_curves.png", "readiness.png"])
    assert "![equity curves](charts/equity_curves.png)" in linked and "![readiness by category](charts/readiness.png)" in linked
    assert "stress_latency.png" not in linked
    bare = markdown_report(results)  # e.g. a Prefect artifact: no image links, no false "not measured"
    assert "](charts/" not in bare and "equity curves: not measured" not in bare
    for b in results["backtests"]:
        b.pop("equity_curve", None)
    assert "equity curves: not measured in this run" in markdown_report(results)


def test_a_failed_stage_leads_the_known_issues(results):
    assert "error in stage" not in markdown_report(results)
    results["errors"] = {"stress": "RuntimeError: coordinator lost | `all` agents\n# boom"}
    md = markdown_report(results)
    first = md.split("## Known issues")[1].split("\n- ")[1]
    assert first.startswith("✗ error in stage `stress`: RuntimeError: coordinator lost \\| \\`all\\` agents # boom")


def test_walk_forward_folds_do_not_flood_the_gates_table(results):
    """Found on a real smoke run: the per-fold records filled the walk-forward cell with JSON."""
    folds = [{"fold": i, "is_start": 0, "is_end": 251, "params": {"fast": 5}, "is_sharpe": 1.15, "oos_sharpe": -0.3} for i in range(3)]
    results["backtests"][0]["gates"]["walk_forward"]["folds"] = folds
    row = next(ln for ln in markdown_report(results).splitlines() if ln.startswith("| sma\\_crossover | SPX | 0.973"))
    assert "is_start" not in row and "degradation" in row


def test_a_waiver_that_could_not_apply_is_a_known_issue(results):
    import copy

    waived = copy.deepcopy(results)
    waived["waivers"] = [{"check": "perf.*", "owner": "ops", "reason": "noisy host", "expires": "2099-01-01T00:00:00+00:00",
                          "active": True, "waived": [], "not_applied": [
                              {"check": "perf.sandbox_create.p95", "status": "nodata",
                               "reason": "missing or broken evidence cannot be waived"}]}]
    page = markdown_report(waived)
    assert "waiver by ops not applied to `perf.sandbox_create.p95`" in page
    waived["waivers"][0]["not_applied"] = []  # the opposite: nothing refused, nothing said
    assert "not applied to" not in markdown_report(waived)
