"""What the judge adds to results.json (validation.judge): checks, categories, cost, history, waivers."""

from __future__ import annotations

from typing import Any, Optional

from pydantic import Field

from validation.evidence._base import Num, Record

STATUSES = ("pass", "fail", "warn", "marginal", "nodata", "error", "waived")
PASSING = ("pass", "warn", "marginal", "waived")  # the statuses a check counts as passed with


class CheckWaiver(Record):
    """`checks[].waiver`: the waiver that accepted this check's measured failure."""

    reason: Optional[str] = None
    owner: Optional[str] = None
    expires: Optional[str] = None
    was: Optional[str] = None


class CheckRecord(Record):
    """`checks[]`: one judged measurement (validation.checks.Check as written)."""

    id: str
    category: Optional[str] = None
    description: Optional[str] = None
    threshold: Optional[str] = None
    observed: Any = None
    unit: Optional[str] = None
    status: str
    critical: bool = False
    evidence: Optional[str] = None
    details: dict[str, Any] = Field(default_factory=dict)
    waiver: Optional[CheckWaiver] = None
    group: Optional[str] = None


class Category(Record):
    """`categories[]`: one category's score (validation.scoring)."""

    name: Optional[str] = None
    weight: Optional[Num] = None
    score: Optional[Num] = None
    passed: Optional[int] = None
    evaluated: Optional[int] = None


class Saving(Record):
    """`cost.savings[]`: one optimization measured with and without, priced."""

    name: Optional[str] = None
    with_: Any = Field(None, alias="with")
    without: Any = None
    unit: Optional[str] = None
    saved: Optional[Num] = None
    saved_pct: Optional[Num] = None
    with_usd: Optional[Num] = None
    without_usd: Optional[Num] = None
    saved_usd: Optional[Num] = None
    in_use: Optional[bool] = None
    target: Optional[str] = None
    basis: Optional[str] = None


class ProductionLoad(Record):
    """`cost.projection.load`: the spec's declared production load (an assumption)."""

    tasks_per_day: Optional[Num] = None
    peak_tasks_per_s: Optional[Num] = None
    hours_per_day: Optional[Num] = None


class AgentCapacity(Record):
    """`cost.projection.capacity`: what one agent served in the stress test (measured)."""

    per_agent_tps: Optional[Num] = None
    service_ms_mean: Optional[Num] = None
    observed_tps: Optional[Num] = None
    used_per_sandbox: Optional[dict[str, Any]] = None


class Projection(Record):
    """`cost.projection`: the production day projected from measured capacity."""

    usd: Optional[Num] = None
    load: ProductionLoad = Field(default_factory=ProductionLoad)
    capacity: AgentCapacity = Field(default_factory=AgentCapacity)
    sandboxes: Optional[int] = None
    agents_for_peak: Optional[int] = None
    usd_per_sandbox_second: Optional[Num] = None
    api_calls_per_task: Optional[Num] = None
    stored_bytes_per_task: Optional[Num] = None
    parts: dict[str, Optional[Num]] = Field(default_factory=dict)
    assumptions: Any = None
    reason: Optional[str] = None


class CostSection(Record):
    """`cost`: the judge's cost section (validation.cost.cost_section)."""

    price_table: Optional[str] = None
    total_usd: Optional[Num] = None
    projected_daily_usd: Optional[Num] = None
    projected_daily_observed_usd: Optional[Num] = None
    budget_daily_usd: Optional[Num] = None
    alert_fraction: Optional[Num] = None
    per_1000_tasks_usd: Optional[Num] = None
    breakdown: dict[str, Any] = Field(default_factory=dict)
    savings: list[Saving] = Field(default_factory=list)
    projection: Optional[Projection] = None


class TrendPoint(Record):
    """`history.readiness_trend[]`: one compared run."""

    run_id: Optional[str] = None
    started_at: Optional[str] = None
    readiness_score: Optional[Num] = None
    verdict: Optional[str] = None


class History(Record):
    """`history`: this run against the previous runs of the same profile and spec."""

    previous_run_id: Optional[str] = None
    compared_runs: list[str] = Field(default_factory=list)
    readiness_delta: Optional[Num] = None
    cost_delta_usd: Optional[Num] = None
    cost_delta_pct: Optional[Num] = None
    regressions: list[dict[str, Any]] = Field(default_factory=list)
    readiness_trend: list[TrendPoint] = Field(default_factory=list)


class NotApplied(Record):
    """`waivers[].not_applied[]`: a matching check no waiver can cover (nodata, error)."""

    check: Optional[str] = None
    status: Optional[str] = None
    reason: Optional[str] = None


class WaiverRecord(Record):
    """`waivers[]`: one waiver of the spec, whether it was active, what it waived."""

    check: Optional[str] = None
    owner: Optional[str] = None
    reason: Optional[str] = None
    expires: Optional[str] = None
    active: Optional[bool] = None
    waived: list[str] = Field(default_factory=list)
    not_applied: list[NotApplied] = Field(default_factory=list)
