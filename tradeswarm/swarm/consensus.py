"""Consensus: turn the votes of k agents into one decision, as a pure function.

The default rule: the top action needs at least 2/3 of the votes cast, and at least 2/3 of
the agents asked must have voted (the quorum). A tie for the top action, a missing quorum or a
top action under the threshold all decide HOLD. A `risk_manager` veto blocks a BUY (it becomes
HOLD) but never a SELL: cutting risk is always allowed. A risk manager's answer counts toward
the quorum but not the tally: it guards the decision, it does not take a side in it (else its
routine HOLD would outvote a lone strategy agent and no BUY could ever pass).

Fractions, not floats, compare the shares, so "exactly 2/3" is never lost to rounding.

>>> votes = [Vote("a1", "momentum", "BUY", 0.9), Vote("a2", "breakout", "BUY", 0.6),
...          Vote("a3", "sma_crossover", "SELL", 0.5)]
>>> decide(votes, asked=3).action
'BUY'
>>> decide(votes[:1], asked=3).reason
'no_quorum'
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from fractions import Fraction
from typing import Literal

Action = Literal["BUY", "SELL", "HOLD"]
ACTIONS: tuple[str, ...] = ("BUY", "SELL", "HOLD")
RISK_MANAGER = "risk_manager"
Reason = Literal["decided", "no_quorum", "tie", "below_threshold", "vetoed", "no_votes"]


@dataclass(frozen=True)
class Vote:
    """One agent's answer in a consensus round."""

    agent_id: str
    agent_type: str
    action: str
    confidence: float = 1.0
    veto: bool = False
    bar: str | None = None
    latency_ms: float | None = None


@dataclass(frozen=True)
class Rule:
    """A decision rule: share of votes the top action needs, quorum share, weighting.

    `threshold` and `quorum` are fractions of 1 (given as `Fraction`, float or "a/b" text).
    With `weighted`, each vote counts its confidence instead of 1.
    """

    threshold: Fraction = Fraction(2, 3)
    quorum: Fraction = Fraction(2, 3)
    weighted: bool = False

    def __post_init__(self) -> None:
        for name in ("threshold", "quorum"):
            value = Fraction(str(getattr(self, name))).limit_denominator(1000)
            if not 0 <= value <= 1:
                raise ValueError(f"{name} must be within [0, 1], got {value}")
            object.__setattr__(self, name, value)


@dataclass
class Decision:
    """The outcome of a round: the action, why, the tally and every vote.

    `asked` is how many agents were actually asked (the quorum's base); `requested` is the
    `k` the caller wanted, which a thin swarm may not reach (None when not given).
    """

    action: str
    reason: str
    asked: int
    votes: list[Vote]
    tally: dict[str, float]
    share: float
    vetoed: bool = False
    latency_ms: float | None = None
    symbol: str | None = None
    errors: list[dict] = field(default_factory=list)
    requested: int | None = None

    def to_dict(self) -> dict:
        """A JSON-ready dict."""
        return {**asdict(self), "votes": [asdict(v) for v in self.votes]}


def _weight(vote: Vote, rule: Rule) -> Fraction:
    if not rule.weighted:
        return Fraction(1)
    return Fraction(min(max(float(vote.confidence), 0.0), 1.0)).limit_denominator(10**6)


def decide(votes: list[Vote], asked: int, rule: Rule | None = None) -> Decision:
    """Decide one round from the `votes` received out of `asked` agents."""
    rule = rule or Rule()
    if asked < len(votes):
        raise ValueError(f"{len(votes)} votes from {asked} agents asked")
    for v in votes:
        if v.action not in ACTIONS:
            raise ValueError(f"unknown action {v.action!r}")
    tally = {a: Fraction(0) for a in ACTIONS}
    for v in votes:
        if v.agent_type != RISK_MANAGER:
            tally[v.action] += _weight(v, rule)
    shown = {a: float(t) for a, t in tally.items()}

    def out(action: str, reason: str, share: Fraction = Fraction(0), vetoed: bool = False) -> Decision:
        return Decision(action, reason, asked, list(votes), shown, float(share), vetoed)

    if not votes:
        return out("HOLD", "no_votes")
    if Fraction(len(votes), max(asked, 1)) < rule.quorum:
        return out("HOLD", "no_quorum")
    total = sum(tally.values())
    if total == 0:  # only risk managers answered, or the weighted rule saw zero confidence
        return out("HOLD", "below_threshold")
    ranked = sorted(ACTIONS, key=lambda a: tally[a], reverse=True)
    top, second = ranked[0], ranked[1]
    share = tally[top] / total
    if tally[top] == tally[second]:
        return out("HOLD", "tie", share)
    if share < rule.threshold:
        return out("HOLD", "below_threshold", share)
    if top == "BUY" and any(v.veto for v in votes):
        return out("HOLD", "vetoed", share, vetoed=True)
    return out(top, "decided", share)
