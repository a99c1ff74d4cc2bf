"""The cost section: observed and projected cost, the projection's assumptions, the breakdown
and the savings of each optimization measured with and without."""

from __future__ import annotations

from reports._format import (
    DASH, NOT_MEASURED, code, esc, fmt_generic, fmt_int, fmt_ms, fmt_num, fmt_pct, fmt_pct_value, fmt_usd, fmt_value, kv_table,
    table,
)
from reports.sections._common import generic_dict, generic_entry, kv, missing, num1, reported, section
from validation.evidence import CostSection, Projection, Results, Saving

COST_FIELDS = [
    ("total_usd", "this run", fmt_usd),
    ("projected_daily_usd", "projected per day (declared load at measured capacity)", fmt_usd),
    ("projected_daily_observed_usd", "projected per day (at this run's observed rate)", fmt_usd),
    ("budget_daily_usd", "daily budget", fmt_usd),
    ("alert_fraction", "alert at fraction of budget", fmt_pct),
    ("per_1000_tasks_usd", "per 1,000 tasks", fmt_usd),
    ("price_table", "price table", code),
]
PROJECTION_KEYS = ["load", "capacity", "sandboxes", "agents_for_peak", "usd_per_sandbox_second", "api_calls_per_task",
                   "stored_bytes_per_task", "parts", "assumptions", "reason"]


def _measured(s: Saving, side: str) -> str:
    v = getattr(s, side)
    return fmt_value(v, s.unit) if v is not None else NOT_MEASURED


def _judged(s: Saving) -> str:
    if s.target:
        return esc(s.target)
    if s.in_use is None:
        return DASH
    return "fails if negative" if s.in_use else "reported only (not in use)"


def _savings(savings: list[Saving]) -> str:
    if not savings:
        return missing("savings")
    basis = [f"- {esc(s.name)}: {esc(s.basis)}" for s in savings if s.basis]
    return (
        table(
            ["optimization", "with", "without", "saved", "saved $", "judged"],
            ([esc(s.name), esc(_measured(s, "with_")), esc(_measured(s, "without")), fmt_pct_value(s.saved_pct),
              fmt_usd(s.saved_usd), _judged(s)] for s in savings),
            "lrrrrl",
        )
        + ("\n\n" + "\n".join(basis) if basis else "")
        + "\n\nEach optimization measured with and without it in this run, in billed units; saved $ prices them "
        "with the price table (an assumption). A saving is scored only against a target the spec sets "
        "(`cost.savings_targets`); without one, an optimization in use that costs more than it saves fails."
    )


def _breakdown(cost: CostSection) -> str:
    if not cost.breakdown:
        return missing("cost breakdown")
    rows = ([esc(k), generic_entry(str(k), v)] for k, v in cost.breakdown.items())
    return table(["item", "value"], rows, "ll")


def _projection(p: Projection | None, prices: str | None) -> str | None:
    """How the projected day was computed, with its assumptions named next to the figures."""
    if p is None:
        return None
    head = "### Projected production day\n\n"
    if p.usd is None:
        return head + missing(f"projection ({esc(p.reason or 'not computed')})")
    load, cap = p.load, p.capacity
    rows = [
        ("declared load (**assumption**)", f"{fmt_int(load.tasks_per_day)} tasks/day, peak "
         f"{fmt_generic(load.peak_tasks_per_s)} tasks/s, {fmt_generic(load.hours_per_day)} h/day"),
        ("capacity per agent (measured)", f"{num1(cap.per_agent_tps)} tasks/s (mean service "
         f"{fmt_ms(cap.service_ms_mean)})"),
        ("used per sandbox (measured; billed by size, not use)",
         generic_dict(cap.used_per_sandbox) if cap.used_per_sandbox is not None else DASH),
        ("sandboxes needed", f"{fmt_int(p.sandboxes)} ({fmt_int(p.agents_for_peak)} agents for the peak, "
         "never fewer than the certified swarm)"),
        (f"price of a sandbox-second (price table {code(prices)}: **assumption**; size measured)",
         fmt_usd(p.usd_per_sandbox_second)),
        ("API calls per task (measured)", fmt_num(p.api_calls_per_task)),
        ("stored bytes per task (measured)", fmt_num(p.stored_bytes_per_task)),
        *((f"{esc(k)}", fmt_usd(v)) for k, v in p.parts.items()),
    ]
    return head + kv_table(rows)


def cost(results: Results) -> str:
    c = results.cost
    if not reported(c):
        return section("Cost", missing("cost"))
    return section(
        "Cost", kv(c, COST_FIELDS), _projection(c.projection, c.price_table),
        "### Breakdown\n\n" + _breakdown(c), "### Savings of each optimization (measured with and without)\n\n" + _savings(c.savings)
    )
