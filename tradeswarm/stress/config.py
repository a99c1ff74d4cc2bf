"""The stress run's configuration: the spec's `stress` section plus what the engine adds.

Accepts the certification spec's `StressSpec` (or its dict) unchanged: `faults` may be the
spec's `{kill_sandboxes, fail_rate, latency_ms, latency_fraction, create_failures,
rate_limit_s, tasks, recovery_tasks, recovery_p95_ratio, recovery_slack_ms}` block (the last
four size and bound the chaos and recovery phases: `chaos`) or a list of `kind=value[@at]`
strings / `{kind, params}` dicts, and `abort` is `{error_rate, warmup_tasks}` (null turns the
abort rule off).

>>> cfg = StressConfig.of({"tasks": 50, "faults": {"fail_rate": 0.1, "tasks": 40}})
>>> [f.kind for f in cfg.faults], cfg.chaos.tasks, cfg.chaos.recovery_tasks
(['answer-fail'], 40, 50)
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tradeswarm.stress.abort import AbortRule
from tradeswarm.stress.faults import Fault, as_faults


def check_load(mode: str, rate: float | None, concurrency: int | None) -> None:
    """An open load needs its arrival rate, a closed one its concurrency (ValueError otherwise)."""
    if mode == "open" and rate is None:
        raise ValueError("mode 'open' needs a rate")
    if mode == "closed" and concurrency is None:
        raise ValueError("mode 'closed' needs a concurrency")


def _spec_faults(block: dict) -> list[str]:
    """The spec's flat faults block as fault strings (zero/absent = off)."""
    out = []
    if block.get("kill_sandboxes"):
        out.append(f"kill-sandbox={int(block['kill_sandboxes'])}")
    if block.get("fail_rate"):
        out.append(f"answer-fail={block['fail_rate']}")
    if block.get("latency_ms") and block.get("latency_fraction"):
        out.append(f"latency={block['latency_fraction']}:{block['latency_ms']}")
    if block.get("create_failures"):
        out.append(f"create-fail={int(block['create_failures'])}")
    if block.get("rate_limit_s"):
        out.append(f"rate-limit={block['rate_limit_s']}")
    return out


#: The spec's faults-block keys that shape the chaos and recovery phases, not a fault.
CHAOS_KEYS = ("tasks", "recovery_tasks", "recovery_p95_ratio", "recovery_slack_ms")


class ChaosConfig(BaseModel):
    """The phases that follow the steady state when faults are configured: `tasks` with the
    faults, then `recovery_tasks` without, whose P95 must come back within
    `recovery_p95_ratio` × the steady P95 + `recovery_slack_ms` (judged in validation.checks)."""

    model_config = ConfigDict(extra="forbid")

    tasks: int = Field(100, ge=1)
    recovery_tasks: int = Field(50, ge=1)
    recovery_p95_ratio: float = Field(2.0, ge=1.0)
    recovery_slack_ms: float = Field(50.0, ge=0.0)


#: Spec keys that choose where the stress test runs (flows/certify.py), not how it behaves.
ORCHESTRATION = ("dask_address", "shards")


class StressConfig(BaseModel):
    """Everything one stress run needs to know."""

    model_config = ConfigDict(extra="forbid")

    tasks: int = Field(1000, ge=1)
    mode: Literal["open", "closed"] = "open"
    rate: float | None = Field(200.0, gt=0)
    concurrency: int | None = Field(16, ge=1)
    consensus_share: float = Field(0.1, ge=0, le=1)
    consensus_k: int = Field(3, ge=1)
    task_timeout_s: float = Field(5.0, gt=0)
    window: int = Field(250, ge=10)
    symbols: list[str] = Field(default_factory=lambda: ["SPX"])
    end: str | None = "2018-06-01"
    max_in_flight: int = Field(1000, ge=1)
    sample_interval_s: float = Field(0.5, gt=0)
    sandbox_sample_interval_s: float = Field(2.0, gt=0)
    faults: list[Fault] = Field(default_factory=list)
    chaos: ChaosConfig = Field(default_factory=ChaosConfig)
    abort: AbortRule | None = Field(default_factory=AbortRule)

    @model_validator(mode="before")
    @classmethod
    def _chaos_from_faults_block(cls, data: Any) -> Any:
        faults = data.get("faults") if isinstance(data, dict) else None
        if isinstance(faults, BaseModel):
            faults = faults.model_dump()
        if isinstance(faults, dict) and any(k in faults for k in CHAOS_KEYS):
            chaos = {k: faults[k] for k in CHAOS_KEYS if faults.get(k) is not None}
            data = {**data, "faults": {k: v for k, v in faults.items() if k not in CHAOS_KEYS},
                    "chaos": {**dict(data.get("chaos") or {}), **chaos}}
        return data

    @field_validator("faults", mode="before")
    @classmethod
    def _faults(cls, v: Any) -> list[Fault]:
        if isinstance(v, BaseModel):
            v = v.model_dump()
        if isinstance(v, dict):
            v = _spec_faults(v)
        return as_faults(v)

    @field_validator("abort", mode="before")
    @classmethod
    def _abort(cls, v: Any) -> Any:
        if isinstance(v, BaseModel) and not isinstance(v, AbortRule):
            v = v.model_dump()
        if isinstance(v, dict) and ("error_rate" in v or "warmup_tasks" in v):
            return {"max_error_rate": v.get("error_rate", 0.5),
                    "warmup": max(1, int(v.get("warmup_tasks", 50)))}
        return v

    @model_validator(mode="after")
    def _mode_needs(self) -> "StressConfig":
        check_load(self.mode, self.rate, self.concurrency)  # the spec's rule, so both refuse alike
        return self

    @classmethod
    def of(cls, spec: Any, **overrides: Any) -> "StressConfig":
        """From a `StressConfig`, the spec's `StressSpec`, or a dict of either."""
        if isinstance(spec, cls) and not overrides:
            return spec
        data = spec.model_dump() if isinstance(spec, BaseModel) else dict(spec or {})
        for key in ORCHESTRATION:  # how the run is spread out is the flow's business, not the engine's
            data.pop(key, None)
        return cls.model_validate({**data, **overrides})
