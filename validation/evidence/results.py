"""`Results`: one certification as results.json holds it, and how an old file is read.

The flow builds it once (flows/certify.py, `build_results`), the checks and the report read
its attributes, `results.json` is its dump and `tradeswarm results schema` prints its JSON
Schema (docs/contracts.md §6 is tested against that schema).

Versions: `version` 2 is the typed evidence; a results.json without the field was written
before it (version 1) and still loads: its shapes are the same, and keys this model does not
name are kept. A newer version than this code knows is refused with one line.

>>> r = Results.model_validate({"schema": SCHEMA, "run_id": "r1", "verdict": "CERTIFIED", "readiness_score": 95.0})
>>> r.version, r.verdict, r.stress is None
(1, 'CERTIFIED', True)
"""

from __future__ import annotations

from typing import Any, Literal, Optional

from pydantic import Field, ValidationError

from validation.evidence._base import Num, Record
from validation.evidence.judgement import Category, CheckRecord, CostSection, History, WaiverRecord
from validation.evidence.provision import CapacityPlan, McpEvidence, Optimizations, SandboxEvidence
from validation.evidence.research import Backtest, DataValidation
from validation.evidence.stress import LatencySummary, StressEvidence
from validation.evidence.swarm import AgentsEvidence, ConsensusEvidence, ParityRow, PortfolioEvidence

SCHEMA = "tradeswarm.certification/v1"
VERSION = 2  # 1: results.json before typed evidence (no `version` key), same shapes
VERDICTS = ("CERTIFIED", "CONDITIONAL", "NOT_CERTIFIED")


class ResultsError(ValueError):
    """A document that is not a results.json this code can read; the message is one line."""


class CacheStage(Record):
    computed: int = 0
    cached: int = 0
    from_runs: list[str] = Field(default_factory=list)


class CacheServed(Record):
    stage: Optional[str] = None
    task: Optional[str] = None
    item: Optional[str] = None
    from_run: Optional[str] = None
    code_sha256: Optional[str] = None


class RunCache(Record):
    """`cache`: what the research stages computed and what the result cache served (tasks/research.py)."""

    enabled: bool = False
    refresh: bool = False
    reason: Optional[str] = None
    directory: Optional[str] = None
    code_sha256: Optional[str] = None
    libraries: dict[str, Optional[str]] = Field(default_factory=dict)
    stages: dict[str, CacheStage] = Field(default_factory=dict)
    served: list[CacheServed] = Field(default_factory=list)


class ScoringBands(Record):
    """`spec.scoring`: the readiness bands the verdict was given by."""

    pass_: Optional[Num] = Field(None, alias="pass")
    marginal: Optional[Num] = None


class RunSpec(Record):
    """`spec`: the resolved spec the run used (validation.spec.Spec dumped; kept as written)."""

    scoring: ScoringBands = Field(default_factory=ScoringBands)


class Results(Record):
    """results.json: the run's identity, every stage's evidence, the judgement, the run's books."""

    schema_: Literal["tradeswarm.certification/v1"] = Field(SCHEMA, alias="schema")
    version: Literal[1, 2] = 1
    # identity
    run_id: Optional[str] = None
    started_at: Optional[str] = None
    finished_at: Optional[str] = None
    duration_s: Optional[Num] = None
    profile: Optional[str] = None
    provider: Optional[str] = None
    seed: Optional[int] = None
    spec_sha256: Optional[str] = None
    inputs_sha256: Optional[str] = None
    git_sha: Optional[str] = None
    versions: dict[str, Optional[str]] = Field(default_factory=dict)
    machine: dict[str, Any] = Field(default_factory=dict)
    spec: RunSpec = Field(default_factory=RunSpec)
    # the judgement
    verdict: Optional[str] = None
    readiness_score: Optional[Num] = None
    categories: list[Category] = Field(default_factory=list)
    checks: list[CheckRecord] = Field(default_factory=list)
    cost: Optional[CostSection] = None
    history: Optional[History] = None
    waivers: list[WaiverRecord] = Field(default_factory=list)
    # the stages' evidence
    capacity: Optional[CapacityPlan] = None
    sandboxes: Optional[SandboxEvidence] = None
    optimizations: Optional[Optimizations] = None
    mcp: Optional[McpEvidence] = None
    deploy_errors: list[str] = Field(default_factory=list)
    data_validation: list[DataValidation] = Field(default_factory=list)
    backtests: list[Backtest] = Field(default_factory=list)
    parity: list[ParityRow] = Field(default_factory=list)
    agents: Optional[AgentsEvidence] = None
    consensus: Optional[ConsensusEvidence] = None
    portfolio: Optional[PortfolioEvidence] = None
    stress: Optional[StressEvidence] = None
    latency: dict[str, LatencySummary] = Field(default_factory=dict)
    # the run's books
    sandboxes_leaked: Optional[int] = None
    stages: dict[str, Num] = Field(default_factory=dict)
    stage_parts: dict[str, Num] = Field(default_factory=dict)
    errors: dict[str, str] = Field(default_factory=dict)
    cache: Optional[RunCache] = None
    report_path: Optional[str] = None
    report_files: list[str] = Field(default_factory=list)

    @classmethod
    def parse(cls, doc: Any, *, source: str = "results.json") -> "Results":
        """`doc` as Results, or `ResultsError` in one line naming the first bad field."""
        if isinstance(doc, Results):
            return doc
        if not isinstance(doc, dict):
            raise ResultsError(f"{source} is not a JSON object")
        if "schema" in doc and doc["schema"] != SCHEMA:
            raise ResultsError(f"{source} has schema {doc['schema']!r}, expected {SCHEMA!r}")
        version = doc.get("version", 1)
        if isinstance(version, int) and not isinstance(version, bool) and version > VERSION:
            raise ResultsError(f"{source} is results version {version}; this tradeswarm reads versions 1 to {VERSION}")
        try:
            return cls.model_validate(doc)
        except ValidationError as e:
            raise ResultsError(f"{source}: {_first_error(e)}") from None

    @property
    def scoring(self) -> ScoringBands:
        return self.spec.scoring

    def verdict_problem(self) -> Optional[str]:
        """Why this document holds no verdict to render, if it does not (a verdict is never guessed)."""
        if self.verdict not in VERDICTS:
            return f"verdict {self.verdict!r} is not one of {', '.join(VERDICTS)}"
        if self.readiness_score is None:
            return "readiness_score is missing"
        if not self.has("checks"):
            return "checks is missing, expected a list of checks"
        if not self.has("categories"):
            return "categories is missing or not a list"
        return None


def _first_error(e: ValidationError) -> str:
    err = e.errors()[0]
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"]).lstrip(".") or "document"
    return f"{where}: {' '.join(str(err['msg']).split())} (got {_short(err.get('input'))})"


def _short(v: Any) -> str:
    text = " ".join(repr(v).split())
    return text if len(text) <= 60 else text[:57] + "..."


def results_schema() -> dict[str, Any]:
    """The JSON Schema of results.json (what `tradeswarm results schema` prints)."""
    return Results.model_json_schema(by_alias=True)
