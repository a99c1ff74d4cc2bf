"""Evidence of the stress stage (tradeswarm.stress, flows/stress.py on Dask): accounting,
phases, faults, latency and the stress window's bill."""

from __future__ import annotations

from typing import Any, Optional

from pydantic import Field

from validation.evidence._base import Num, Record


class LatencySummary(Record):
    """`latency.<op>`: percentiles of one operation in ms (tradeswarm.stress.stats.summarize)."""

    count: Optional[int] = None
    p50: Optional[Num] = None
    p90: Optional[Num] = None
    p95: Optional[Num] = None
    p99: Optional[Num] = None
    p999: Optional[Num] = None
    max: Optional[Num] = None
    mean: Optional[Num] = None
    p95_ci: Optional[list[Num]] = None
    p99_ci: Optional[list[Num]] = None
    insufficient: list[str] = Field(default_factory=list)


class Counts(Record):
    """Final states of tasks: the whole run's, a phase's or a replaced attempt's."""

    submitted: Optional[int] = None
    completed: Optional[int] = None
    failed: Optional[int] = None
    timed_out: Optional[int] = None
    lost: Optional[int] = None
    duplicated: Optional[int] = None
    not_submitted: Optional[int] = None
    orphaned: Optional[int] = None


class Rates(Counts):
    """Final states with the time they took and the rates the SLA judges."""

    duration_s: Optional[Num] = None
    throughput_per_s: Optional[Num] = None
    success_rate: Optional[Num] = None
    error_rate: Optional[Num] = None


class Phase(Rates):
    """`stress.phases.<phase>`: steady, chaos or recovery, counted by SQL from the ledger."""

    latency: dict[str, LatencySummary] = Field(default_factory=dict)
    outcomes: Optional[str] = None
    p95_all_ms: Optional[Num] = None


class Fault(Record):
    """`stress.faults[]`: one injected fault, its lever, the tasks it picked and what it cost."""

    kind: Optional[str] = None
    params: dict[str, Any] = Field(default_factory=dict)
    injected: Any = None
    at_s: Optional[Num] = None
    tasks: Optional[list[str]] = None
    at_task: Optional[str] = None
    cost: Optional[dict[str, Any]] = None
    detail: dict[str, Any] = Field(default_factory=dict)


class ShardSandboxes(Record):
    """`stress.shard_sandboxes`: the Dask shards' sub-swarms, counted after their teardown."""

    created: int = 0
    killed: int = 0
    reaped: Optional[int] = None
    leaked: Optional[int] = 0


class ReplacedAttempt(Counts):
    """`stress.replaced_attempts[]`: a dead shard attempt, its partial ledger kept aside."""

    shard: Any = None
    attempt: Optional[int] = None
    status: Optional[str] = None


class Resources(Record):
    """`stress.resources`: CPU and memory sampled on the coordinator and in each agent's sandbox."""

    coordinator: Optional[dict[str, Any]] = None
    sandboxes: dict[str, dict[str, Any]] = Field(default_factory=dict)
    sandbox_sample_errors: Optional[int] = None


class StressEvidence(Rates):
    """`stress`: the open-loop stress test through the live swarm (docs/contracts.md §5, §7)."""

    retries: Optional[int] = None
    errors_by_class: dict[str, int] = Field(default_factory=dict)
    aborted: Optional[bool] = None
    abort_reason: Optional[str] = None
    mode: Optional[str] = None
    rate: Optional[Num] = None
    concurrency: Optional[int] = None
    faults: list[Fault] = Field(default_factory=list)
    throughput_series: list[list[Num]] = Field(default_factory=list)
    per_agent: dict[str, int] = Field(default_factory=dict)
    resources: Resources = Field(default_factory=Resources)
    phases: dict[str, Phase] = Field(default_factory=dict)
    latency: dict[str, LatencySummary] = Field(default_factory=dict)
    billed: Optional[dict[str, Any]] = None
    shards: Optional[int] = None
    shard_sandboxes: ShardSandboxes = Field(default_factory=ShardSandboxes)
    shard_attempts: dict[str, int] = Field(default_factory=dict)
    replaced_attempts: list[ReplacedAttempt] = Field(default_factory=list)
