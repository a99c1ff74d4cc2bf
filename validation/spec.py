"""The certification spec: one YAML file says what a certification runs and how it is judged.

Every section is a pydantic model with `extra="forbid"`, so a misspelt key is an error that
names its path (`stress.faults.kil_sandboxes: unknown key`). Threshold expressions are parsed
while the spec loads, so a bad one is reported before anything runs. `json_schema()` is the
JSON Schema (`tradeswarm spec schema`); it accepts what the loader accepts, shorthands included
(an SLA rule as a bare string, a sweep grid as `"start:stop:step"`, a waiver's `expiry`).

>>> spec = load_spec("smoke")
>>> spec.name, spec.stress.tasks, sum(spec.scoring.weights.values())
('smoke', 100, 100.0)
>>> load_spec("smoke", overrides={"stres": {}})  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
validation.spec.SpecError: spec .../smoke.yaml: stres: unknown key
"""

from __future__ import annotations

import copy
import re
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (AliasChoices, BaseModel, ConfigDict, Field, ValidationError, WithJsonSchema, field_validator,
                      model_validator)

from tradeswarm.pricing import PRICES_DIR
from tradeswarm.stress.config import check_load
from validation import thresholds

PROFILES_DIR = Path(__file__).parent / "profiles"
CATEGORIES = ("functionality", "performance", "cost", "reliability", "documentation")
# every check id starts with one of these (validation.checks, validation.docs_check, validation.history)
CHECK_PREFIXES = ("func", "perf", "rel", "cost", "doc")
STRATEGY_NAMES = ("sma_crossover", "momentum", "mean_reversion", "breakout", "risk_manager")

# The metrics an `sla` entry may name: where the judge reads them and which category they score in.
LATENCY_OPS = (
    "sandbox_create", "sandbox_exec", "sandbox_status", "sandbox_kill", "sandbox_write",
    "sandbox_read", "agent_deploy", "task", "consensus",
    # the stress engine's open-loop latencies, timed from each task's intended start
    "stress_task", "stress_service", "stress_signal", "stress_consensus",
    "mcp_call",  # one tool call through the MCP server (tasks/mcp.py)
)
# The stress rates are the steady-state phase's, where nothing is injected (tradeswarm.stress.engine).
SCALAR_METRICS = {  # name: (category, evidence path, dimension allowed besides a bare number)
    "success_rate": ("reliability", "stress.phases.steady.success_rate", "ratio"),
    "error_rate": ("reliability", "stress.phases.steady.error_rate", "ratio"),
    "throughput_per_s": ("performance", "stress.phases.steady.throughput_per_s", None),
}


class SpecError(ValueError):
    """The spec is invalid; the message names the source and the key path of each problem."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


class SandboxesSpec(_Strict):
    """How many sandboxes the certification provisions and how fast.

    A sandbox's size is its template's, as on E2B: the cost meter prices the vCPUs and memory
    the provider reports for each sandbox, not a figure written here.
    """

    count: int = Field(2, ge=1, le=200)
    lifecycle_cycles: int = Field(100, ge=1, le=2000, description="full create/exec/status/kill lifecycles the "
                                  "provision stage times (a P99 needs at least 100)")
    template: str = "trading"
    max_concurrent: int = Field(10, ge=1)
    create_rate_per_s: float | None = Field(None, gt=0)
    pool_size: int = Field(0, ge=0)
    timeout_s: int = Field(300, gt=0)


class AgentSpec(_Strict):
    """One agent type deployed `count` times on `symbols`."""

    type: Literal["sma_crossover", "momentum", "mean_reversion", "breakout", "risk_manager"]
    symbols: list[str] = Field(min_length=1)
    params: dict[str, Any] = Field(default_factory=dict)
    count: int = Field(1, ge=1, le=200)


class ContractSpec(_Strict):
    """Data contract settings; `validation.contract.ContractSettings.from_any(spec.data.contract)` reads them."""

    max_gap_days: int = Field(3, ge=0, description="NYSE sessions that may be missing between two bars")
    min_rows: int = Field(250, ge=1)
    max_move: float = Field(0.25, gt=0, description="largest single-bar close-to-close move (fraction)")
    marked_dates: list[date] = Field(default_factory=list, description="session dates whose larger move is known and allowed")


class DataSpec(_Strict):
    """The datasets a certification validates and backtests on."""

    datasets: list[str] = Field(default_factory=lambda: ["SPX", "NDX", "GOOG"], min_length=1)
    start: date | None = None
    end: date | None = None
    source: Literal["shipped", "alpaca"] = "shipped"
    contract: ContractSpec = Field(default_factory=ContractSpec)

    @model_validator(mode="after")
    def _window(self) -> "DataSpec":
        if self.start and self.end and self.start >= self.end:
            raise ValueError(f"start {self.start} must be before end {self.end}")
        return self


_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
GRID_PATTERN = rf"^\s*({_NUMBER})\s*:\s*({_NUMBER})\s*:\s*({_NUMBER})\s*$"
MAX_GRID = 100_000  # values of one swept parameter: a typo like 0:1e9:1 must not exhaust memory
MAX_TRIALS = 10_000  # combinations of one strategy's sweep: its signal matrix is bars × trials
MAX_STRESS_TASKS = 1_000_000  # the ledger and the schedule grow with the tasks (~200 B each)
MAX_SPEC_BYTES = 1 << 20  # a spec is a page of YAML; a huge file is a mistake, refused before parsing
_GRID_SCHEMA = {"anyOf": [{"type": "array", "items": {"type": "number"}},
                          {"type": "string", "pattern": GRID_PATTERN, "description": "'start:stop:step', inclusive"}]}


def _expand_grid(value: Any) -> Any:
    """`"a:b:step"` → the inclusive list a, a+step, … ≤ b; lists pass through."""
    if not isinstance(value, str):
        return value
    m = re.match(GRID_PATTERN, value)
    if not m:
        raise ValueError(f"sweep grid {value!r}: expected a list or 'start:stop:step'")
    a, b, step = (float(x) for x in m.groups())
    if step <= 0 or b < a:
        raise ValueError(f"sweep grid {value!r}: need step > 0 and stop >= start")
    n = int((b - a) / step + 1e-9) + 1
    if n > MAX_GRID:
        raise ValueError(f"sweep grid {value!r}: {n:,} values, more than {MAX_GRID:,}")
    as_int = all(float(x).is_integer() for x in (a, b, step))
    return [int(a + i * step) if as_int else round(a + i * step, 12) for i in range(n)]


class StrategyBacktestSpec(_Strict):
    """One strategy to backtest: fixed `params`, or a `sweep` grid (every combination is a trial)."""

    name: Literal["sma_crossover", "momentum", "mean_reversion", "breakout", "risk_manager"]
    params: dict[str, Any] = Field(default_factory=dict)
    sweep: dict[str, Annotated[list[float | int], WithJsonSchema(_GRID_SCHEMA)]] = Field(default_factory=dict)

    @field_validator("sweep", mode="before")
    @classmethod
    def _grids(cls, v: Any) -> Any:
        if isinstance(v, dict):
            return {k: _expand_grid(g) for k, g in v.items()}
        return v

    @property
    def trials(self) -> int:
        n = 1
        for grid in self.sweep.values():
            n *= len(grid)
        return n


class GatesSpec(_Strict):
    """Backtest validity gates (engineer C computes them; the judge scores them)."""

    dsr_min: float = Field(0.95, ge=0, le=1)
    walk_forward_max_degradation: float = Field(
        0.5, ge=0, description="allowed drop of the mean annualised Sharpe from in-sample to out-of-sample folds")
    cost_multiplier: float = Field(2.0, ge=1, description="the cost stress multiplies fees by this")
    cost_stress_min_return: float = 0.0
    lag_bars: int = Field(1, ge=1)
    lag_max_drop: float = Field(0.5, ge=0, le=1, description="largest fraction of a positive return one extra bar of lag may remove")
    min_trades: int = Field(30, ge=1, description="fewer trades: the gates of that backtest are nodata")


class BacktestSpec(_Strict):
    strategies: list[StrategyBacktestSpec] = Field(min_length=1)
    symbols: list[str] | None = Field(None, description="default: data.datasets")
    fees: float = Field(0.001, ge=0)
    slippage: float = Field(0.0005, ge=0)
    cash: float = Field(100_000.0, gt=0)
    whole_shares: bool = True
    walk_forward_folds: int = Field(4, ge=2)
    gates: GatesSpec = Field(default_factory=GatesSpec)


class FaultsSpec(_Strict):
    """Faults injected on purpose during the stress test (all off by default), in a chaos
    phase of their own after the steady state the SLA is judged on, then a recovery phase."""

    kill_sandboxes: int = Field(0, ge=0)
    fail_rate: float = Field(0.0, ge=0, le=1)
    latency_ms: float = Field(0.0, ge=0)
    latency_fraction: float = Field(0.0, ge=0, le=1)
    create_failures: int = Field(0, ge=0)
    rate_limit_s: float = Field(0.0, ge=0)
    # the phases after the steady state when a fault is on (tradeswarm.stress.config.ChaosConfig)
    tasks: int = Field(100, ge=1, description="tasks of the chaos phase, the only one with faults")
    recovery_tasks: int = Field(50, ge=1, description="tasks of the recovery phase, after the faults end")
    recovery_p95_ratio: float = Field(2.0, ge=1, description="recovery P95 must be <= this × steady P95 + slack")
    recovery_slack_ms: float = Field(50.0, ge=0, description="absolute slack of the recovery bound (ms)")

    def enabled(self) -> list[str]:
        """Names of the faults this spec injects."""
        on = {
            "kill_sandboxes": self.kill_sandboxes > 0,
            "fail_rate": self.fail_rate > 0,
            "latency": self.latency_ms > 0 and self.latency_fraction > 0,
            "create_failures": self.create_failures > 0,
            "rate_limit": self.rate_limit_s > 0,
        }
        return [k for k, v in on.items() if v]


class AbortSpec(_Strict):
    error_rate: float = Field(0.5, gt=0, le=1)
    warmup_tasks: int = Field(50, ge=0)


class StressSpec(_Strict):
    tasks: int = Field(1000, ge=1, le=MAX_STRESS_TASKS)
    mode: Literal["open", "closed"] = "open"
    rate: float | None = Field(200.0, gt=0, description="tasks per second (open mode)")
    concurrency: int | None = Field(16, ge=1, description="in-flight tasks (closed mode)")
    consensus_share: float = Field(0.1, ge=0, le=1)
    consensus_k: int = Field(3, ge=1)
    task_timeout_s: float = Field(5.0, gt=0)
    window: int = Field(250, ge=10, description="bars of data per task")
    faults: FaultsSpec = Field(default_factory=FaultsSpec)
    abort: AbortSpec = Field(default_factory=AbortSpec)
    dask_address: str | None = Field(
        None, description="a Dask scheduler (tcp://host:port): the stress test then runs as shards on it, each "
                          "driving its own sub-swarm (env TRADESWARM_DASK_ADDRESS overrides)")
    shards: int = Field(2, ge=1, le=64, description="shards of the stress test when it runs on Dask")

    @model_validator(mode="after")
    def _mode_needs(self) -> "StressSpec":
        check_load(self.mode, self.rate, self.concurrency)
        return self


def _or_expression(schema: dict) -> None:
    """The schema of an SLA rule also accepts its shorthand, a bare expression string."""
    rule = {k: v for k, v in schema.items() if k not in ("title", "description")}
    for k in rule:
        del schema[k]
    schema["anyOf"] = [{"type": "string", "description": "shorthand for {expr: ...}"}, rule]


class SlaRule(_Strict):
    """One threshold expression on a metric; a plain string is shorthand for `{expr: ...}`."""

    model_config = ConfigDict(json_schema_extra=_or_expression)  # merged with _Strict's

    expr: str
    critical: bool = True

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, v: Any) -> Any:
        return {"expr": v} if isinstance(v, str) else v

    @field_validator("expr")
    @classmethod
    def _parses(cls, v: str) -> str:
        thresholds.parse(v)  # ThresholdError is a ValueError: pydantic reports it at this key
        return v

    @property
    def threshold(self) -> thresholds.Threshold:
        return thresholds.parse(self.expr)


def _check_sla(metric: str, rules: list[SlaRule]) -> None:
    for rule in rules:
        t = rule.threshold
        if metric in LATENCY_OPS:
            if t.aggregate not in (*thresholds.PERCENTILES, "max", "min", "mean", "avg", "count"):
                raise ValueError(f"{metric}: {rule.expr!r} needs an aggregate such as p95, max or mean")
            if t.dimension not in (None, "time") or (t.aggregate == "count" and t.unit):
                raise ValueError(f"{metric}: {rule.expr!r} needs a time unit (ms, s) or none")
        elif metric in SCALAR_METRICS:
            if t.aggregate not in (None, "rate", "value"):
                raise ValueError(f"{metric}: {rule.expr!r}: a single value takes no {t.aggregate!r}; write e.g. '>= 0.90'")
            if t.dimension not in (None, SCALAR_METRICS[metric][2]):
                raise ValueError(f"{metric}: {rule.expr!r}: unit {t.unit!r} does not fit this metric")
        else:
            known = ", ".join((*LATENCY_OPS, *SCALAR_METRICS))
            raise ValueError(f"unknown SLA metric {metric!r} (known: {known})")


def _default_sla() -> dict[str, list[SlaRule]]:
    """The SLA table of the system we replace."""
    table = {
        "sandbox_create": ["p95 < 5000ms"],
        "sandbox_exec": ["p95 < 2000ms"],
        "sandbox_status": ["p95 < 500ms"],
        "agent_deploy": ["p95 < 6000ms"],
        "consensus": ["p95 < 1000ms"],
        "success_rate": [">= 0.90"],
        "error_rate": ["< 5%"],
        # not in that table; the standard and nightly profiles' floor (the default load is 200 tasks/s)
        "throughput_per_s": [">= 100"],
    }
    return {k: [SlaRule.model_validate(e) for e in v] for k, v in table.items()}


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


class RequiredDoc(_Strict):
    """An operator document the certification checks on disk (see validation.docs_check)."""

    path: str
    headings: list[str] = Field(default_factory=list, description="each must exist with a non-empty section")
    mentions: list[str] = Field(default_factory=list, description="text that must appear; {version} = the project version")
    covers: list[str] = Field(default_factory=list, description="code paths the doc describes; it must not be older than them by more than grace_days")
    max_age_days: int | None = Field(None, ge=0, description="with no `covers`: last change within this many days")


class DocumentationSpec(_Strict):
    grace_days: int = Field(14, ge=0)
    required: list[RequiredDoc] = Field(default_factory=list)


class ScoringSpec(_Strict):
    weights: dict[str, float] = Field(
        default_factory=lambda: {"functionality": 30, "performance": 25, "cost": 20, "reliability": 15, "documentation": 10}
    )
    pass_threshold: float = Field(90.0, ge=0, le=100, alias="pass", serialization_alias="pass")
    marginal: float = Field(75.0, ge=0, le=100)

    @field_validator("weights")
    @classmethod
    def _weights(cls, w: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(w) - set(CATEGORIES))
        if unknown:
            raise ValueError(f"unknown categories {unknown} (known: {', '.join(CATEGORIES)})")
        missing = sorted(set(CATEGORIES) - set(w))
        if missing:
            raise ValueError(f"missing weights for {missing}")
        if any(v < 0 for v in w.values()):
            raise ValueError("weights must not be negative")
        total = sum(w.values())
        if abs(total - 100) > 1e-9:
            raise ValueError(f"weights must sum to 100, they sum to {total:g}")
        return {k: float(v) for k, v in w.items()}

    @model_validator(mode="after")
    def _order(self) -> "ScoringSpec":
        if self.marginal > self.pass_threshold:
            raise ValueError(f"marginal ({self.marginal:g}) must not exceed pass ({self.pass_threshold:g})")
        return self


_WAIVER_PATTERN = rf"^({'|'.join(CHECK_PREFIXES)})\."
_EXPIRY_SCHEMA = {"anyOf": [{"type": "string", "format": "date"}, {"type": "string", "format": "date-time"}]}


def _expiry_alias(schema: dict) -> None:
    """`expiry` is accepted in place of `expires` (one of the two, not both)."""
    schema["properties"]["expiry"] = {**schema["properties"]["expires"], "title": "Expiry", "description": "same as `expires`"}
    schema["required"] = [k for k in schema["required"] if k != "expires"]
    schema["oneOf"] = [{"required": ["expires"]}, {"required": ["expiry"]}]


class Waiver(_Strict):
    """Accept one failed check for a while: reason, owner and expiry are required.

    A waiver covers a measured failure only, never missing evidence (validation.checks.apply_waivers).
    """

    model_config = ConfigDict(json_schema_extra=_expiry_alias)  # merged with _Strict's

    check: str = Field(min_length=1, pattern=_WAIVER_PATTERN,
                       description="a check id, or an fnmatch pattern within one category (e.g. 'doc.*')")
    reason: str = Field(min_length=10)
    owner: str = Field(min_length=1)
    expires: Annotated[datetime, WithJsonSchema(_EXPIRY_SCHEMA)] = Field(
        validation_alias=AliasChoices("expires", "expiry"),
        description="a date (through that day, UTC) or a timestamp; also accepted as `expiry`")

    @field_validator("check", mode="before")
    @classmethod
    def _one_category(cls, v: Any) -> Any:
        # a pattern such as '*' would waive every failure of the run: a spec error, said plainly
        if isinstance(v, str) and v and not re.match(_WAIVER_PATTERN, v):
            prefixes = ", ".join(f"'{p}.'" for p in CHECK_PREFIXES)
            raise ValueError(f"{v!r} is not within one category: a waiver names a check id or a pattern "
                             f"starting with {prefixes} (e.g. 'doc.*'), never one that matches every check")
        return v

    @field_validator("expires", mode="before")
    @classmethod
    def _day_end(cls, v: Any) -> Any:
        # a bare date means "through that day" (UTC)
        if isinstance(v, str) and len(v.strip()) == 10:
            try:
                v = date.fromisoformat(v.strip())
            except ValueError:
                return v
        if isinstance(v, date) and not isinstance(v, datetime):
            return datetime(v.year, v.month, v.day, 23, 59, 59, tzinfo=timezone.utc)
        return v

    @field_validator("expires")
    @classmethod
    def _aware(cls, v: datetime) -> datetime:
        return v if v.tzinfo else v.replace(tzinfo=timezone.utc)

    def active(self, now: datetime) -> bool:
        now = now if now.tzinfo else now.replace(tzinfo=timezone.utc)
        return now <= self.expires


class HistorySpec(_Strict):
    """Comparison with the last `k` runs of the same profile."""

    k: int = Field(5, ge=0)
    alpha: float = Field(0.02, gt=0, lt=1, description="Mann-Whitney U significance (0.02 = Kayenta's 98 %)")
    min_samples: int = Field(5, ge=3, description="fewest samples per side to compare (the U test must also be "
                                                  "able to reach alpha with them)")
    latency_warn_pct: float = Field(10.0, ge=0)
    latency_fail_pct: float = Field(25.0, ge=0)
    cost_warn_pct: float = Field(10.0, ge=0)
    cost_fail_pct: float = Field(25.0, ge=0)

    @model_validator(mode="after")
    def _bands(self) -> "HistorySpec":
        if self.latency_warn_pct > self.latency_fail_pct or self.cost_warn_pct > self.cost_fail_pct:
            raise ValueError("warn bands must not exceed fail bands")
        return self


class Spec(_Strict):
    """A certification spec (see docs and validation/profiles/*.yaml)."""

    name: str = "custom"
    description: str = ""
    provider: Literal["local", "e2b"] = "local"
    seed: int = 42
    sandboxes: SandboxesSpec = Field(default_factory=SandboxesSpec)
    agents: list[AgentSpec] = Field(min_length=1)
    data: DataSpec = Field(default_factory=DataSpec)
    backtest: BacktestSpec
    stress: StressSpec = Field(default_factory=StressSpec)
    sla: dict[str, list[SlaRule]] = Field(default_factory=_default_sla)
    cost: CostSpec = Field(default_factory=CostSpec)
    documentation: DocumentationSpec = Field(default_factory=DocumentationSpec)
    scoring: ScoringSpec = Field(default_factory=ScoringSpec)
    waivers: list[Waiver] = Field(default_factory=list)
    history: HistorySpec = Field(default_factory=HistorySpec)

    @field_validator("sla")
    @classmethod
    def _sla(cls, v: dict[str, list[SlaRule]]) -> dict[str, list[SlaRule]]:
        for metric, rules in v.items():
            _check_sla(metric, rules)
        return v

    @model_validator(mode="after")
    def _consistent(self) -> "Spec":
        symbols = {s for a in self.agents for s in a.symbols} | set(self.backtest.symbols or ())
        unknown = sorted(symbols - set(self.data.datasets))
        if unknown:  # synthetic symbols (SYN<n>) are datasets too: name them there
            raise ValueError(f"symbols {unknown} are not in data.datasets {self.data.datasets}")
        if self.stress.consensus_share > 0 and self.stress.consensus_k > sum(a.count for a in self.agents):
            raise ValueError(f"stress.consensus_k={self.stress.consensus_k} exceeds the number of agents deployed")
        return self

    @property
    def agent_count(self) -> int:
        return sum(a.count for a in self.agents)

    @property
    def backtest_symbols(self) -> list[str]:
        return list(self.backtest.symbols or self.data.datasets)

    def backtest_settings(self) -> dict:
        """The keys of `tradeswarm.backtest.settings.BacktestSettings` (engineer C's engine)."""
        b, g = self.backtest, self.backtest.gates
        return {"fees": b.fees, "slippage": b.slippage, "cash": b.cash, "whole_shares": b.whole_shares,
                "min_trades": g.min_trades, "walk_forward_folds": b.walk_forward_folds,
                "cost_multiplier": g.cost_multiplier, "lag_bars": g.lag_bars,
                "contract": self.data.contract.model_dump(mode="json")}

    def resolved(self) -> dict:
        """The spec as plain JSON-ready data (for results.json and the run directory)."""
        return self.model_dump(mode="json", by_alias=True)


def _loc(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "<root>"


def _format(source: str, err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        # pydantic appends the union branch / validator name to loc for some errors; drop those
        loc = tuple(p for p in e["loc"] if not (isinstance(p, str) and ("[" in p or p.startswith("function-"))))
        msg = "unknown key" if e["type"] == "extra_forbidden" else e["msg"].removeprefix("Value error, ")
        lines.append(f"{_loc(loc)}: {msg}")
    return f"spec {source}: " + "; ".join(lines)


def _deep_merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        out[k] = _deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else copy.deepcopy(v)
    return out


def profile_names() -> list[str]:
    return sorted(p.stem for p in PROFILES_DIR.glob("*.yaml"))


def _read(source: str | Path | dict) -> tuple[str, dict]:
    if isinstance(source, dict):
        return "<dict>", source
    path = Path(source)
    if isinstance(source, str) and source in profile_names():
        path = PROFILES_DIR / f"{source}.yaml"
    elif not path.is_file():
        raise SpecError(f"spec {source}: no such file or profile (profiles: {', '.join(profile_names())})")
    try:
        size = path.stat().st_size
        if size > MAX_SPEC_BYTES:
            raise SpecError(f"spec {path}: {size:,} bytes, larger than a spec may be ({MAX_SPEC_BYTES:,})")
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise SpecError(f"spec {path}: not valid YAML{where}: {getattr(e, 'problem', e)}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise SpecError(f"spec {path}: cannot read: {e}") from None
    if not isinstance(data, dict):
        raise SpecError(f"spec {path}: expected a mapping of sections at the top level")
    return str(path), data


def load_spec(profile: str | Path | dict = "standard", *, overrides: dict | None = None) -> Spec:
    """Load a profile by name (`smoke`, `standard`, `nightly`), a YAML file, or a dict.

    `overrides` is merged in depth first (e.g. `{"provider": "e2b", "stress": {"tasks": 50}}`).
    Raises `SpecError` whose message names the source and every bad key path.
    """
    name, data = _read(profile)
    if overrides:
        data = _deep_merge(data, overrides)
    try:
        return Spec.model_validate(data)
    except ValidationError as e:
        raise SpecError(_format(name, e)) from None


def json_schema() -> dict:
    """The JSON Schema of a spec file."""
    schema = Spec.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "tradeswarm certification spec"
    return schema
