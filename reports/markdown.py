"""The analyst's report: results.json → GitHub-flavoured Markdown.

The verdict comes first, then the key metrics, then one section per area of evidence, each
rendered by its own module of `reports.sections` from the typed `Results`
(validation.evidence). A section whose evidence is absent says so ("not measured in this
run"); the report never fills a gap with a number. Every number is a value of results.json
passed through a formatter of `reports._format`, and every text that came from agents or
data is escaped.

>>> md = markdown_report({"run_id": "r1", "verdict": "CERTIFIED", "readiness_score": 95.0})
>>> md.splitlines()[2]
'> **✅ CERTIFIED** · readiness **95.0 / 100**'
"""

from __future__ import annotations

from typing import Any, Iterable

from reports import sections
from reports.sections import status_text
from reports.sections.agents import AGENT_FIELDS, CONSENSUS_FIELDS, PARITY_COLUMNS, PORTFOLIO_FIELDS
from reports.sections.backtests import BACKTEST_COLUMNS, GATE_COLUMNS
from reports.sections.cost import COST_FIELDS, PROJECTION_KEYS
from reports.sections.data_quality import DATA_COLUMNS, FAILURE_COLUMNS
from reports.sections.readiness import CATEGORY_COLUMNS
from reports.sections.sandboxes import SANDBOX_FIELDS
from reports.sections.stress import PHASE_COLUMNS, STRESS_ACCOUNTING, STRESS_ACCOUNTING_EXTRA, STRESS_FIELDS
from validation.evidence import Results

__all__ = ["check_groups", "markdown_report", "shown_keys", "status_text", "summary_rows"]

check_groups = sections.check_groups
LATENCY_KEYS = ["count", "p50", "p90", "p95", "p99", "p999", "max", "p95_ci", "p99_ci", "insufficient"]
HISTORY_KEYS = ["previous_run_id", "compared_runs", "readiness_delta", "cost_delta_usd", "cost_delta_pct", "regressions", "readiness_trend"]
CHECK_KEYS = ["id", "category", "description", "threshold", "observed", "unit", "status", "critical", "evidence", "details", "waiver"]
RUN_KEYS = [
    "run_id", "profile", "provider", "started_at", "finished_at", "duration_s", "verdict", "readiness_score",
    "git_sha", "inputs_sha256", "seed", "machine", "versions", "stages", "stage_parts", "sandboxes_leaked", "errors",
]
CACHE_KEYS = ["enabled", "refresh", "reason", "code_sha256", "stages", "served"]


def summary_rows(results: Results | dict[str, Any]) -> list[dict]:
    """The key-metrics table as plain-text rows (reports.sections.header.summary_rows)."""
    return sections.summary_rows(Results.parse(results))


def markdown_report(results: Results | dict[str, Any], *, charts: Iterable[str] = ()) -> str:
    """Render the whole report; `charts` names the files present in the run's `charts/` folder.

    Without `charts` (e.g. for a Prefect artifact, where relative image links cannot resolve)
    the page has no images and loses nothing else. A dict is read as `Results` first
    (`ResultsError` in one line when it is not one).
    """
    r, shown = Results.parse(results), set(charts)
    parts = [
        sections.header(r),
        sections.key_metrics(r),
        sections.sandboxes(r),
        sections.agents(r),
        sections.backtests(r, shown),
        sections.data_quality(r),
        sections.stress(r, shown),
        sections.cost(r),
        sections.readiness(r, shown),
        sections.known_issues(r),
        sections.checklist(r),
        sections.history(r),
        sections.environment(r),
    ]
    return "\n\n".join(p.strip("\n") for p in parts) + "\n"


def shown_keys() -> list[str]:
    """Every results.json key path the report shows (`[]` marks a list, `<op>` an operation)."""
    keys = list(RUN_KEYS) + ["spec.scoring.pass", "spec.scoring.marginal"]
    keys += [f"checks[].{k}" for k in CHECK_KEYS]
    keys += [f"categories[].{k}" for k, _, _ in CATEGORY_COLUMNS]
    keys += [f"latency.<op>.{k}" for k in LATENCY_KEYS]
    keys += [f"sandboxes.{k}" for k, _, _ in SANDBOX_FIELDS] + ["sandboxes.errors"]
    keys += [f"agents.{k}" for k, _, _ in AGENT_FIELDS] + ["agents.by_type"]
    keys += [f"consensus.{k}" for k, _, _ in CONSENSUS_FIELDS]
    keys += [f"portfolio.{k}" for k, _, _ in PORTFOLIO_FIELDS]
    keys += [f"parity[].{k}" for k, _, _ in PARITY_COLUMNS]
    keys += [f"backtests[].{k}" for k, _, _ in BACKTEST_COLUMNS] + ["backtests[].equity_curve"]
    keys += [f"backtests[].gates.{k}" for k, _, _ in GATE_COLUMNS] + ["backtests[].gates.walk_forward"]
    keys += [f"backtests[].crosscheck.{k}" for k in ("agree", "first_divergence", "equity_rel_diff")]
    keys += [f"data_validation[].{k}" for k, _, _ in DATA_COLUMNS]
    keys += [f"data_validation[].failures[].{k}" for k, _, _ in FAILURE_COLUMNS] + ["data_validation[].failures[].sample"]
    keys += [f"stress.{k}" for k in STRESS_ACCOUNTING + STRESS_ACCOUNTING_EXTRA] + [f"stress.{k}" for k, _, _ in STRESS_FIELDS]
    keys += [f"stress.{k}" for k in ("errors_by_class", "aborted", "abort_reason", "throughput_series", "per_agent", "resources")]
    keys += [f"stress.faults[].{k}" for k in ("kind", "params", "at_s", "injected", "tasks", "cost")]
    keys += [f"stress.phases.<phase>.{k}" for k, _, _ in PHASE_COLUMNS]
    keys += [f"cost.{k}" for k, _, _ in COST_FIELDS] + ["cost.breakdown"]
    keys += [f"cost.savings[].{k}" for k in ("name", "with", "without", "unit", "saved_pct", "saved_usd", "target", "in_use")]
    keys += [f"cost.projection.{k}" for k in PROJECTION_KEYS]
    keys += [f"history.{k}" for k in HISTORY_KEYS]
    keys += [f"waivers[].{k}" for k in ("check", "owner", "reason", "expires", "active", "not_applied")]
    keys += [f"cache.{k}" for k in CACHE_KEYS]
    return keys
