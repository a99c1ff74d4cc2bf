"""The `sla` section: threshold expressions on the metrics the judge reads."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, field_validator, model_validator

from validation import thresholds
from validation.spec.base import Strict as _Strict
from validation.spec.metrics import LATENCY_OPS, SCALAR_METRICS


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


def check_sla(metric: str, rules: list[SlaRule]) -> None:
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


def default_sla() -> dict[str, list[SlaRule]]:
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
