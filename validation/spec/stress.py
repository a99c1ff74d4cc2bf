"""The `stress` section: load, faults and the abort rule."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from tradeswarm.stress.config import check_load
from validation.spec.base import Strict as _Strict

MAX_STRESS_TASKS = 1_000_000  # the ledger and the schedule grow with the tasks (~200 B each)


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
