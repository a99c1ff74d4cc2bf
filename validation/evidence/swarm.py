"""Evidence of the swarm stages (tasks/agents.py): deploy, live/backtest parity, the paper session."""

from __future__ import annotations

from typing import Any, Optional

from pydantic import Field

from validation.evidence._base import Num, Record


class DeployEvidence(Record):
    """What the deploy task returns: one line per agent type that failed to deploy."""

    errors: list[str] = Field(default_factory=list)


class AgentsEvidence(Record):
    """`agents`: the coordinator's agent books at the end of the swarm stages."""

    requested: Optional[int] = None
    deployed: Optional[int] = None
    healthy: Optional[int] = None
    replaced: Optional[int] = None
    deploy_failures: Optional[int] = None
    lost: Optional[int] = None
    heartbeat_timeouts: Optional[int] = None
    retired: Optional[int] = None
    replace_failures: Optional[int] = None
    by_type: dict[str, int] = Field(default_factory=dict)


class ConsensusEvidence(Record):
    """`consensus`: the paper session's rounds (no faults injected); `all_rounds` the run's."""

    rounds: Optional[int] = None
    decided: Optional[int] = None
    holds: Optional[int] = None
    no_quorum: Optional[int] = None
    vetoed: Optional[int] = None
    errors: Optional[int] = None
    scope: Optional[str] = None
    all_rounds: Optional[dict[str, Any]] = None


class PortfolioEvidence(Record):
    """`portfolio`: the paper session's broker counters and account."""

    orders: Optional[int] = None
    fills: Optional[int] = None
    rejected: Optional[int] = None
    invariant_violations: Optional[int] = None
    equity: Optional[Num] = None
    cash: Optional[Num] = None
    broker: Optional[str] = None
    decisions: Optional[int] = None
    errors: list[str] = Field(default_factory=list)
    error_count: Optional[int] = None


class ParityRow(Record):
    """`parity[]`: one strategy on one symbol, live answers against the backtest signal."""

    strategy: Optional[str] = None
    symbol: Optional[str] = None
    bars: int = 0
    mismatches: int = 0
    errors: Optional[int] = None
    first_mismatch: Optional[dict[str, Any]] = None
