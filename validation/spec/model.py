"""`Spec`: every section together, and the rules that span sections."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from validation.spec.base import Strict as _Strict
from validation.spec.budget import CostSpec
from validation.spec.judging import DocumentationSpec, HistorySpec, ScoringSpec, Waiver
from validation.spec.research import BacktestSpec, DataSpec
from validation.spec.sla import SlaRule, check_sla, default_sla
from validation.spec.stress import StressSpec
from validation.spec.swarm import AgentGroup, SandboxesSpec


class Spec(_Strict):
    """A certification spec (see docs and validation/profiles/*.yaml)."""

    name: str = "custom"
    description: str = ""
    provider: Literal["local", "e2b"] = "local"
    seed: int = 42
    sandboxes: SandboxesSpec = Field(default_factory=SandboxesSpec)
    agents: list[AgentGroup] = Field(min_length=1)
    data: DataSpec = Field(default_factory=DataSpec)
    backtest: BacktestSpec
    stress: StressSpec = Field(default_factory=StressSpec)
    sla: dict[str, list[SlaRule]] = Field(default_factory=default_sla)
    cost: CostSpec = Field(default_factory=CostSpec)
    documentation: DocumentationSpec = Field(default_factory=DocumentationSpec)
    scoring: ScoringSpec = Field(default_factory=ScoringSpec)
    waivers: list[Waiver] = Field(default_factory=list)
    history: HistorySpec = Field(default_factory=HistorySpec)

    @field_validator("sla")
    @classmethod
    def _sla(cls, v: dict[str, list[SlaRule]]) -> dict[str, list[SlaRule]]:
        for metric, rules in v.items():
            check_sla(metric, rules)
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
        """The keys of `tradeswarm.backtest.settings.BacktestSettings`."""
        b, g = self.backtest, self.backtest.gates
        return {"fees": b.fees, "slippage": b.slippage, "cash": b.cash, "whole_shares": b.whole_shares,
                "min_trades": g.min_trades, "walk_forward_folds": b.walk_forward_folds,
                "cost_multiplier": g.cost_multiplier, "lag_bars": g.lag_bars,
                "contract": self.data.contract.model_dump(mode="json")}

    def resolved(self) -> dict:
        """The spec as plain JSON-ready data (for results.json and the run directory)."""
        return self.model_dump(mode="json", by_alias=True)
