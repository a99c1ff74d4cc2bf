"""Evidence of the provision stage (tasks/sandboxes.py, tasks/mcp.py): sandbox lifecycles,
the cost optimizations' A/B measurements, the MCP layer and the capacity plan."""

from __future__ import annotations

from typing import Any, Optional

from pydantic import Field

from validation.evidence._base import Num, Record


class SandboxTally(Record):
    """Sandboxes a set of managers created, killed, failed to create and left alive."""

    created: int = 0
    killed: int = 0
    create_failures: int = 0
    leaked: Optional[int] = 0
    reaped: Optional[int] = None


class SandboxEvidence(Record):
    """`sandboxes`: the lifecycle probe, then the run's sandbox books (every manager's)."""

    probes: Optional[int] = None
    probes_ok: Optional[int] = None
    lifecycle_ok: Optional[bool] = None
    errors: list[str] = Field(default_factory=list)
    created: Optional[int] = None
    killed: Optional[int] = None
    create_failures: Optional[int] = None
    leaked: Optional[int] = None


class Usage(Record):
    """A `CostMeter` snapshot: what one side of an A/B was billed."""

    sandbox_seconds: Optional[Num] = None
    vcpu_seconds: Optional[Num] = None
    gib_seconds: Optional[Num] = None
    api_calls_total: Optional[Num] = None
    stored_bytes: Optional[Num] = None


class BilledAB(Record):
    """Billed usage with and without an optimization (pooling, template caching)."""

    with_: Optional[dict[str, Any]] = Field(None, alias="with")
    without: Optional[dict[str, Any]] = None
    unit: Optional[str] = None
    pool_size: Optional[int] = None
    sandboxes: Optional[SandboxTally] = None


class IdleCleanup(Record):
    """How late an idle sandbox ends with cleanup and when left to the provider."""

    late_s: dict[str, Optional[Num]] = Field(default_factory=dict)
    usage: Optional[dict[str, Any]] = None
    probe: dict[str, Num] = Field(default_factory=dict)
    sandboxes: Optional[SandboxTally] = None


class Optimizations(Record):
    """`optimizations`: each cost optimization measured with and without (validation.cost prices them)."""

    pooling: Optional[BilledAB] = None
    template_caching: Optional[BilledAB] = None
    idle_cleanup: Optional[IdleCleanup] = None
    sandboxes: SandboxTally = Field(default_factory=SandboxTally)


class McpEvidence(Record):
    """`mcp`: the MCP server started as an assistant starts it, used as one uses it (tasks/mcp.py)."""

    tools: list[str] = Field(default_factory=list)
    missing_tools: list[str] = Field(default_factory=list)
    lifecycles: int = 0
    lifecycles_ok: int = 0
    lifecycle_ok: bool = False
    errors: list[str] = Field(default_factory=list)
    leaked: Optional[int] = None
    server_start_ms: Optional[Num] = None
    calls: int = 0


class CapacityPlan(Record):
    """`capacity`: the sandboxes the run planned against the provider's cap before it started."""

    pool: Optional[int] = None
    probes: Optional[int] = None
    agents: Optional[int] = None
    scale_up: Optional[int] = None
    shard_agents: Optional[int] = None
    peak: Optional[int] = None
    cap: Optional[int] = None
