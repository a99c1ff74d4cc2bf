"""The judge: evidence in, checks, category scores, readiness and verdict out.

```python
from validation import load_spec, judge
j = judge(load_spec("smoke"), evidence, history=[], now=datetime.now(timezone.utc), repo_root=Path("."))
j.verdict, j.readiness_score, [c.id for c in j.checks if not c.passed]
results.update(j.to_dict())   # checks, categories, readiness_score, verdict, cost, history, waivers
```

Order matters only once: regression checks join the others before scoring, and the readiness
delta against the previous run is computed after.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable

from validation import checks as _checks
from validation.checks import Check
from validation.cost import cost_section
from validation.docs_check import documentation_checks
from validation.history import compare
from validation.scoring import category_scores, readiness, verdict
from validation.spec import Spec


@dataclass
class Judgement:
    """Everything the judge decided, ready for results.json (`to_dict()`)."""

    checks: list[Check]
    categories: list[dict]
    readiness_score: float
    verdict: str
    cost: dict
    history: dict
    waivers: list[dict] = field(default_factory=list)

    @property
    def blocking(self) -> list[Check]:
        """Critical checks that did not pass (any one makes the verdict NOT_CERTIFIED)."""
        return [c for c in self.checks if c.blocks]

    @property
    def capping(self) -> list[Check]:
        """Critical `marginal` checks (within noise of their bound): CONDITIONAL at best."""
        return [c for c in self.checks if c.caps]

    def check(self, check_id: str) -> Check:
        """The check with this id (KeyError naming the known ids otherwise)."""
        for c in self.checks:
            if c.id == check_id:
                return c
        raise KeyError(f"no check {check_id!r}; checks: {', '.join(c.id for c in self.checks)}")

    def to_dict(self) -> dict:
        """Strict-JSON-ready: a non-finite number echoed from the evidence becomes None."""
        return _finite({
            "verdict": self.verdict,
            "readiness_score": self.readiness_score,
            "categories": self.categories,
            "checks": [c.to_dict() for c in self.checks],
            "cost": self.cost,
            "history": self.history,
            "waivers": self.waivers,
        })


def _finite(obj):
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def judge(spec: Spec, evidence: dict, *, history: Iterable[dict] = (), now: datetime | None = None,
          repo_root: Path | str = ".") -> Judgement:
    """Turn a run's evidence (docs/contracts.md §5) into checks, scores and a verdict."""
    now = now or datetime.now(timezone.utc)
    evidence = evidence if isinstance(evidence, dict) else {}
    cost = cost_section(spec, evidence)
    # the latency metrics the spec sets SLAs on: the ones a release is judged by
    hist, regression_checks = compare(spec.history, spec.name, evidence.get("samples") or {}, cost, list(history),
                                      metrics=set(spec.sla))
    loaded = _checks.Loaded.of(evidence)  # typed; a value its model refuses is judged `error`
    all_checks = [
        *_checks.functionality_checks(spec, loaded),
        *_checks.sla_checks(spec, loaded),
        *_checks.reliability_checks(spec, loaded),
        *_checks.cost_checks(spec, cost),
        *documentation_checks(spec.documentation, Path(repo_root), now),
        *regression_checks,
    ]
    waivers = _checks.apply_waivers(all_checks, spec, now)
    cats = category_scores(all_checks, spec.scoring.weights)
    score = readiness(cats)
    if hist["readiness_trend"]:
        prev = hist["readiness_trend"][-1].get("readiness_score")
        if isinstance(prev, (int, float)):
            hist["readiness_delta"] = score - prev
    return Judgement(
        checks=all_checks,
        categories=cats,
        readiness_score=score,
        verdict=verdict(score, all_checks, pass_threshold=spec.scoring.pass_threshold, marginal=spec.scoring.marginal),
        cost=cost,
        history=hist,
        waivers=waivers,
    )
