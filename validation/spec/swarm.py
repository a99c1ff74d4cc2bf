"""The `sandboxes` and `agents` sections: what the certification provisions and deploys."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from validation.spec.base import Strict as _Strict

#: The registered strategies (`tradeswarm.agents.strategies.STRATEGIES`; a test holds the two equal,
#: so loading a spec need not import pandas).
STRATEGY_NAMES = ("sma_crossover", "momentum", "mean_reversion", "breakout", "risk_manager")
StrategyName = Literal[STRATEGY_NAMES]  # type: ignore[valid-type]


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


class AgentGroup(_Strict):
    """One agent type deployed `count` times on `symbols`."""

    type: StrategyName
    symbols: list[str] = Field(min_length=1)
    params: dict[str, Any] = Field(default_factory=dict)
    count: int = Field(1, ge=1, le=200)
