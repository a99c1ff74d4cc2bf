"""The top of the report: the verdict badge, the scoring bands, then the key-metrics table."""

from __future__ import annotations

from reports._format import DASH, NOT_MEASURED, code, esc, fmt_score, fmt_seconds, fmt_time, fmt_value, is_number, one_line, table
from reports.sections._common import missing, section, status_text
from validation.evidence import Results

VERDICT_MARK = {"CERTIFIED": "✅", "CONDITIONAL": "⚠️", "NOT_CERTIFIED": "❌"}


def summary_rows(results: Results) -> list[dict]:
    """The key-metrics table as plain-text rows: one per check, in the judge's order.

    Each row: `check`, `category`, `target`, `actual`, `status`, `critical`. The text is not
    Markdown-escaped (the terminal and Prefect's table artifact show it as it is).
    """
    return [
        {
            "check": one_line(c.id),
            "category": one_line(c.category or ""),
            "target": one_line(c.threshold) if c.threshold not in (None, "") else DASH,
            "actual": fmt_value(c.observed, c.unit),
            "status": status_text(c.status),
            "critical": c.critical,
        }
        for c in results.checks
    ]


def header(results: Results) -> str:
    verdict = one_line(results.verdict or "NO VERDICT")
    mark = VERDICT_MARK.get(verdict, "❔")
    score = results.readiness_score
    score_text = f"**{fmt_score(score)} / 100**" if is_number(score) else f"**{NOT_MEASURED}**"
    badge = f"> **{mark} {esc(verdict)}** · readiness {score_text}"
    bands = []
    if is_number(results.scoring.pass_):
        bands.append(f"certified at ≥ {fmt_score(results.scoring.pass_)}")
    if is_number(results.scoring.marginal):
        bands.append(f"conditional at ≥ {fmt_score(results.scoring.marginal)}")
    lines = [f"# Certification report {code(results.run_id or '?')}", "", badge]
    if bands:
        lines.append(f"> {', '.join(bands)}; a failed critical check means not certified, "
                     "a marginal one (within noise of its bound) conditional at best")
    critical = [c for c in results.checks if c.critical and c.status in ("fail", "error", "nodata")]
    if critical:
        lines.append(f"> critical checks failing: {', '.join(code(c.id) for c in critical)}")
    capping = [c for c in results.checks if c.critical and c.status == "marginal"]
    if capping:
        lines.append(f"> critical checks marginal (confidence interval straddles the bound): "
                     f"{', '.join(code(c.id) for c in capping)}")
    lines += [
        "",
        " · ".join(
            [
                f"profile {code(results.profile or DASH)}",
                f"provider {code(results.provider or DASH)}",
                f"started {fmt_time(results.started_at)}",
                f"took {fmt_seconds(results.duration_s)}",
            ]
        ),
    ]
    return "\n".join(lines)


def key_metrics(results: Results) -> str:
    rows = summary_rows(results)
    if not rows:
        return section("Key metrics", missing("checks"))
    body = table(
        ["check", "category", "target", "actual", "status"],
        (
            [code(r["check"]) + (" (critical)" if r["critical"] else ""), esc(r["category"]), esc(r["target"]), esc(r["actual"]), r["status"]]
            for r in rows
        ),
        "lllrl",
    )
    return section("Key metrics", body)
