"""The known-issues and production-checklist sections: what failed, what was waived, by group."""

from __future__ import annotations

from collections import Counter

from reports._format import DASH, code, esc, fmt_time, fmt_value
from reports.sections._common import generic_dict, missing, section, status_text
from validation.evidence import PASSING, CheckRecord, CheckWaiver, Results

PROBLEM_STATUSES = ("fail", "error", "nodata", "marginal", "warn")


def _issue_line(c: CheckRecord) -> str:
    crit = " **critical**" if c.critical else ""
    line = (
        f"- {status_text(c.status)}{crit} {code(c.id)}: {esc(c.description or '')}"
        f" — target {esc(c.threshold or DASH)}, actual {esc(fmt_value(c.observed, c.unit))}"
        f"; evidence {code(c.evidence or DASH)}"
    )
    details = generic_dict(c.details)
    return line + (f" ({details})" if details != DASH else "")


def _waived_line(c: CheckRecord) -> str:
    w = c.waiver or CheckWaiver()
    return (
        f"- {status_text('waived')} {code(c.id)}: {esc(c.description or '')}; "
        f"was {esc(w.was or DASH)}, waived by {esc(w.owner or DASH)} until {fmt_time(w.expires)}: {esc(w.reason or DASH)}"
    )


def known_issues(results: Results) -> str:
    checks = results.checks
    if not checks:
        return section("Known issues", missing("checks"))
    issues = [c for c in checks if c.status in PROBLEM_STATUSES]
    expired = [w for w in results.waivers if w.active is False]
    refused = [(w, n) for w in results.waivers for n in w.not_applied]
    if not issues and not expired and not refused and not results.errors:
        return section("Known issues", "None: every check passed or was waived.")
    order = {s: i for i, s in enumerate(PROBLEM_STATUSES)}
    issues.sort(key=lambda c: (not c.critical, order[c.status]))
    # a stage that raised is reported first: its evidence is missing from the sections below
    lines = [f"- ✗ error in stage {code(stage)}: {esc(msg)}" for stage, msg in results.errors.items()]
    lines += [_issue_line(c) for c in issues]
    lines += [_waived_line(c) for c in checks if c.status == "waived"]
    lines += [
        f"- ✗ expired waiver for {code(w.check or DASH)} (owner {esc(w.owner or DASH)}, "
        f"expired {fmt_time(w.expires)}) was ignored: {esc(w.reason or DASH)}"
        for w in expired
    ]
    lines += [
        f"- ✗ waiver by {esc(w.owner or DASH)} not applied to {code(n.check or DASH)}: "
        f"it is {status_text(n.status)}, and {esc(n.reason or 'only a measured failure can be waived')}"
        for w, n in refused
    ]
    return section("Known issues", "Failed, unmeasured, errored, marginal (within noise of the bound) and warning checks, critical first:", "\n".join(lines))


def check_groups(checks: list[CheckRecord]) -> dict[str, list[CheckRecord]]:
    """Checklist items: checks grouped by the first two parts of their ids, when two or more share them.

    `func.data.SPX` and `func.data.NDX` form `func.data`; a check alone in its two-part prefix
    (`perf.sandbox_create.p95`, `doc.README.md`) or with a two-part id (`func.parity`) joins its
    first part (`perf`, `doc`, `func`). A check's own `group` field, when present, wins.
    """

    def prefix(c: CheckRecord) -> tuple[str, str | None]:
        parts = c.id.split(".")
        first = parts[0] if len(parts) > 1 else str(c.category or "other")
        return first, ".".join(parts[:2]) if len(parts) > 2 else None

    shared = Counter(two for _, two in map(prefix, checks) if two)
    groups: dict[str, list[CheckRecord]] = {}
    for c in checks:
        first, two = prefix(c)
        name = c.group if c.group else two if two and shared[two] > 1 else first
        groups.setdefault(name, []).append(c)
    return groups


def checklist(results: Results) -> str:
    if not results.checks:
        return section("Production checklist", missing("checks"))
    lines = []
    for name, cs in check_groups(results.checks).items():
        bad = [c for c in cs if c.status not in PASSING]
        mark = "✓" if not bad else "✗"
        line = f"- {mark} {code(name)} — {len(cs) - len(bad)} of {len(cs)} checks hold"
        if bad:
            line += "; failing: " + ", ".join(code(c.id) for c in bad)
        lines.append(line)
    return section("Production checklist", "\n".join(lines))
