"""Typed evidence: what each stage of a certification measured, and `Results`, results.json itself.

One model per stage's evidence (`provision`, `swarm`, `research`, `stress`), the judge's
additions (`judgement`) and `Results` (`results`). tasks/ return these, flows/ assemble them,
validation/ judges them, reports/ render them; this package imports none of those
(docs/contracts.md §5-§7).
"""

from validation.evidence._base import Record
from validation.evidence.judgement import (
    PASSING, STATUSES, Category, CheckRecord, CheckWaiver, CostSection, History, Projection, Saving, TrendPoint, WaiverRecord,
)
from validation.evidence.provision import (
    BilledAB, CapacityPlan, IdleCleanup, McpEvidence, Optimizations, SandboxEvidence, SandboxTally,
)
from validation.evidence.research import Backtest, Crosscheck, DataValidation, ExpectationFailure, Gates
from validation.evidence.results import SCHEMA, VERDICTS, VERSION, Results, ResultsError, RunCache, results_schema
from validation.evidence.stress import Fault, LatencySummary, Phase, Resources, StressEvidence
from validation.evidence.swarm import AgentsEvidence, ConsensusEvidence, DeployEvidence, ParityRow, PortfolioEvidence

__all__ = [
    "PASSING", "SCHEMA", "STATUSES", "VERDICTS", "VERSION",
    "AgentsEvidence", "Backtest", "BilledAB", "CapacityPlan", "Category", "CheckRecord", "CheckWaiver", "ConsensusEvidence",
    "CostSection", "Crosscheck", "DataValidation", "DeployEvidence", "ExpectationFailure", "Fault", "Gates",
    "History", "IdleCleanup", "LatencySummary", "McpEvidence", "Optimizations", "ParityRow", "Phase",
    "PortfolioEvidence", "Projection", "Record", "Resources", "Results", "ResultsError", "RunCache", "SandboxEvidence", "SandboxTally",
    "Saving", "StressEvidence", "TrendPoint", "WaiverRecord", "results_schema",
]
