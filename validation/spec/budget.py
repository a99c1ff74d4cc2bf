"""The `cost` section: price table, budget, the optimizations measured, the declared production load."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from tradeswarm.pricing import PRICES_DIR
from validation import thresholds
from validation.spec.base import Strict as _Strict


class ProductionScenario(_Strict):
    """The production load a projection prices, declared (an assumption the report names): the
    swarm answers `peak_tasks_per_s` at its busiest during `hours_per_day`, `tasks_per_day` in
    all. How many sandboxes that takes and what each one costs, the run measures (validation.cost).
    """

    tasks_per_day: int = Field(100_000, ge=1)
    peak_tasks_per_s: float = Field(20.0, gt=0)
    hours_per_day: float = Field(6.5, gt=0, le=24)

    @model_validator(mode="before")
    @classmethod
    def _no_fixed_sandboxes(cls, v: Any) -> Any:
        if isinstance(v, dict) and "sandboxes" in v:
            raise ValueError("'sandboxes' is no longer declared (the run measures how many the load needs): declare "
                             "the load instead, e.g. {tasks_per_day: 100000, peak_tasks_per_s: 20, hours_per_day: 6.5}")
        return v

    @model_validator(mode="after")
    def _servable(self) -> "ProductionScenario":
        if self.tasks_per_day > self.peak_tasks_per_s * self.hours_per_day * 3600:
            raise ValueError(f"tasks_per_day={self.tasks_per_day} exceeds peak_tasks_per_s × hours_per_day × 3600 "
                             f"({self.peak_tasks_per_s * self.hours_per_day * 3600:.0f})")
        return self


OPTIMIZATIONS = ("pooling", "idle_cleanup", "batching", "template_caching")


class CostSpec(_Strict):
    price_table: str = Field("e2b", description="a table in tradeswarm/prices (e2b, local) or a YAML path")
    core_hour_usd: float | None = Field(None, ge=0, description="overrides the local table's $ per core-hour")
    budget_daily_usd: float = Field(5.0, gt=0)
    alert_fraction: float = Field(0.8, gt=0, le=1)
    per_1000_tasks: str | None = Field("<= $0.50", description="threshold on cost per 1,000 tasks")
    optimizations: list[Literal[OPTIMIZATIONS]] = Field(
        default_factory=lambda: list(OPTIMIZATIONS),
        description="optimizations measured with and without, in billed sandbox-seconds and USD (cost.savings)",
    )
    savings_targets: dict[str, str] = Field(
        default_factory=dict, description="a saving is judged only against a target set here (e.g. "
        "template_caching: '>= 50%'); without one it is reported, and fails only when negative")
    idle_threshold_s: float = Field(30.0, gt=0, description="idle time after which a sandbox is killed (the "
                                    "idle_cleanup saving compares it with sandboxes.timeout_s)")
    production: ProductionScenario = Field(default_factory=ProductionScenario)

    @field_validator("savings_targets")
    @classmethod
    def _targets(cls, v: dict[str, str]) -> dict[str, str]:
        for name, expr in v.items():
            if name not in OPTIMIZATIONS:
                raise ValueError(f"{name!r}: not an optimization ({', '.join(OPTIMIZATIONS)})")
            if thresholds.parse(expr).dimension not in (None, "ratio"):
                raise ValueError(f"{name}: {expr!r}: a saving target is a percentage, e.g. '>= 20%'")
        return v

    @field_validator("per_1000_tasks")
    @classmethod
    def _money(cls, v: str | None) -> str | None:
        if v is not None and thresholds.parse(v).dimension not in (None, "money"):
            raise ValueError(f"{v!r}: cost per 1,000 tasks takes a $ amount")
        return v

    @field_validator("price_table")
    @classmethod
    def _table_exists(cls, v: str) -> str:
        if not (PRICES_DIR / f"{v}.yaml").is_file() and not Path(v).is_file():
            known = sorted(p.stem for p in PRICES_DIR.glob("*.yaml"))
            raise ValueError(f"price table {v!r} not found (shipped: {', '.join(known)}, or a YAML path)")
        return v
