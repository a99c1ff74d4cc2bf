"""The change-since-the-previous-run section: readiness and cost deltas, regressions, the trend."""

from __future__ import annotations

from reports._format import DASH, code, esc, fmt_pct_value, fmt_score, fmt_signed, fmt_time, fmt_usd, is_number, kv_table, table
from reports.sections._common import generic_value, missing, section, status_text, text
from validation.evidence import History, Results

TITLE = "Change since the previous run"
SEVERITY = {"fail": 0, "error": 1, "warn": 2}  # regressions listed worst first, the rest after


def _regressions(h: History) -> str:
    if not h.regressions:
        return "No metric had enough samples in this run and the previous ones to compare."
    regs = sorted(h.regressions, key=lambda r: SEVERITY.get(str(r.get("status")), 3))
    cols = list(dict.fromkeys(k for r in regs for k in r))
    cells = ([(status_text(r[c]) if c == "status" else generic_value(c, r[c]) or DASH) if c in r else DASH for c in cols]
             for r in regs)
    return ("Each metric against the previous runs (a regression needs a significant Mann–Whitney U test and a change "
            "past its band):\n\n" + table([esc(c) for c in cols], cells))


def _trend(h: History) -> str | None:
    if not h.readiness_trend:
        return None
    return "Readiness of the compared runs:\n\n" + table(
        ["run", "started", "readiness", "verdict"],
        ([code(t.run_id or DASH), fmt_time(t.started_at), fmt_score(t.readiness_score), text(t.verdict)] for t in h.readiness_trend),
        "llrl",
    )


def history(results: Results) -> str:
    h = results.history
    if not results.has("history"):
        return section(TITLE, missing("history comparison"))
    if h is None or not h.previous_run_id:
        return section(TITLE, "This is the first run of this profile: there is nothing to compare with.")
    pairs = [("previous run", code(h.previous_run_id))]
    if is_number(h.readiness_delta):
        pairs.append(("readiness change (points)", fmt_signed(fmt_score(h.readiness_delta), h.readiness_delta)))
    if is_number(h.cost_delta_usd):
        pairs.append(("cost change", fmt_signed(fmt_usd(h.cost_delta_usd), h.cost_delta_usd)))
    if is_number(h.cost_delta_pct):
        pairs.append(("cost change (%)", fmt_signed(fmt_pct_value(h.cost_delta_pct), h.cost_delta_pct)))
    if h.compared_runs:
        pairs.append(("compared with", ", ".join(code(r) for r in h.compared_runs)))
    return section(TITLE, kv_table(pairs), _regressions(h), _trend(h))
