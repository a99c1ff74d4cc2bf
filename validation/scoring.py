"""Readiness score and verdict, Kayenta-style but with missing evidence counted as failure.

- Every check is **evaluated**, whatever its status; `nodata` and `error` are evaluated and not
  passed (Kayenta lets a group with no data score 100 and drops errors from the denominator;
  a certification must not).
- **Passed** = `pass`, `warn` (within the bound, past an alert level), `marginal` (the
  measured value's 95 % confidence interval straddles the bound, so which side the point
  estimate lands on is noise: scoring it either way would move the score between identical
  runs; validation.thresholds.judge_interval) and `waived` (an active
  waiver with a reason, an owner and an expiry accepts a measured failure on the record; the
  check keeps its place in the denominator so waiving never shrinks it). Missing or broken
  evidence (`nodata`, `error`) is never waived (validation.checks.apply_waivers).
- Category score = passed ÷ evaluated × 100; a category without any check scores 0 (nothing was
  shown to work).
- Readiness = Σ weight × score ÷ 100 (weights sum to 100).
- Verdict: `CERTIFIED` when readiness ≥ pass and no critical check is blocking; `CONDITIONAL`
  when readiness ≥ marginal and none is blocking; otherwise `NOT_CERTIFIED`. A critical check
  blocks when its status is `fail`, `nodata` or `error`. A critical `marginal` check is not a
  clean pass: it blocks CERTIFIED but not CONDITIONAL (the run did not show the bound is met,
  nor that it is missed), so noise around a bound moves the verdict by one step at most. A waived critical check does not block:
  its failure was measured and accepted by a named owner until a stated expiry (the runbook's
  "fix the cause, or add a waiver"), and the report lists it with the waiver.

>>> from validation.checks import Check
>>> mk = lambda cat, status, crit=False: Check("x", cat, "", "", None, None, status, crit, "")
>>> cats = category_scores([mk("cost", "pass"), mk("cost", "nodata")], {"cost": 100.0})
>>> cats[0]["score"], readiness(cats)
(50.0, 50.0)
>>> verdict(95.0, [mk("cost", "fail", crit=True)], pass_threshold=90, marginal=75)
'NOT_CERTIFIED'
>>> verdict(95.0, [mk("performance", "marginal", crit=True)], pass_threshold=90, marginal=75)
'CONDITIONAL'
"""

from __future__ import annotations

from typing import Iterable

from validation.checks import Check

CERTIFIED, CONDITIONAL, NOT_CERTIFIED = "CERTIFIED", "CONDITIONAL", "NOT_CERTIFIED"
_DUST = 1e-9


def category_scores(checks: Iterable[Check], weights: dict[str, float]) -> list[dict]:
    """`[{name, weight, score, passed, evaluated}]` in the order of `weights`."""
    checks = list(checks)
    out = []
    for name, weight in weights.items():
        mine = [c for c in checks if c.category == name]
        passed = sum(1 for c in mine if c.passed)
        score = passed / len(mine) * 100.0 if mine else 0.0
        out.append({"name": name, "weight": weight, "score": score, "passed": passed, "evaluated": len(mine)})
    return out


def readiness(categories: list[dict]) -> float:
    """Σ weight × score ÷ 100."""
    return sum(c["weight"] * c["score"] for c in categories) / 100.0


def verdict(score: float, checks: Iterable[Check], *, pass_threshold: float, marginal: float) -> str:
    """CERTIFIED / CONDITIONAL / NOT_CERTIFIED from the readiness score and the critical checks."""
    checks = list(checks)
    if any(c.blocks for c in checks):
        return NOT_CERTIFIED
    # a tolerance for float dust, so that exactly 90 computed as 89.99999999999999 still reaches 90
    if score + _DUST >= pass_threshold and not any(c.caps for c in checks):
        return CERTIFIED
    if score + _DUST >= marginal:
        return CONDITIONAL
    return NOT_CERTIFIED
