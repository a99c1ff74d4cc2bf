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
validation.spec.base.SpecError: spec .../smoke.yaml: stres: unknown key
"""

from validation.spec.base import SpecError
from validation.spec.budget import OPTIMIZATIONS, CostSpec, ProductionScenario
from validation.spec.judging import DocumentationSpec, HistorySpec, RequiredDoc, ScoringSpec, Waiver
from validation.spec.loading import PROFILES_DIR, json_schema, load_spec, profile_names
from validation.spec.metrics import CATEGORIES, CHECK_PREFIXES, LATENCY_OPS, SCALAR_METRICS
from validation.spec.model import Spec
from validation.spec.research import MAX_TRIALS, BacktestSpec, DataSpec, GatesSpec, StrategyBacktestSpec
from validation.spec.sla import SlaRule
from validation.spec.stress import MAX_STRESS_TASKS, StressSpec
from validation.spec.swarm import STRATEGY_NAMES, AgentGroup, SandboxesSpec

__all__ = [
    "CATEGORIES", "CHECK_PREFIXES", "LATENCY_OPS", "MAX_STRESS_TASKS", "MAX_TRIALS", "OPTIMIZATIONS", "PROFILES_DIR",
    "SCALAR_METRICS", "STRATEGY_NAMES", "AgentGroup", "BacktestSpec", "CostSpec", "DataSpec", "DocumentationSpec",
    "GatesSpec", "HistorySpec", "ProductionScenario", "RequiredDoc", "SandboxesSpec", "ScoringSpec", "SlaRule", "Spec",
    "SpecError", "StrategyBacktestSpec", "StressSpec", "Waiver", "json_schema", "load_spec", "profile_names",
]
