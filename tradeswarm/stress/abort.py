"""The abort rule (k6's `abortOnFail` with `delayAbortEval`): stop early on a high error rate.

Evaluated after every finished task once `warmup` tasks have finished; it fires when the share
of failed + timed-out tasks exceeds `max_error_rate`. Tasks not yet submitted then stay
unsubmitted (the ledger counts them as `not_submitted`); tasks already in flight finish normally,
so every submitted task still gets exactly one final state.

>>> rule = AbortRule(max_error_rate=0.2, warmup=10)
>>> rule.check(finished=5, errors=5) is None          # still warming up
True
>>> rule.check(finished=10, errors=3)
'error rate 30.0% > 20.0% after 10 finished tasks (warm-up 10)'
>>> rule.fires_at("o" * 8 + "xx" + "x")   # the audit: outcomes in finish order (o ok, x not)
11
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class AbortRule(BaseModel):
    """Stop when errors / finished > `max_error_rate`, evaluated after `warmup` finished tasks."""

    model_config = ConfigDict(extra="forbid")

    max_error_rate: float = Field(0.5, ge=0.0, le=1.0)
    warmup: int = Field(50, ge=1)

    def check(self, finished: int, errors: int) -> str | None:
        """The abort reason, or None while the run may continue."""
        if finished < self.warmup or finished == 0:
            return None
        rate = errors / finished
        if rate > self.max_error_rate:
            return (f"error rate {rate:.1%} > {self.max_error_rate:.1%} after {finished} "
                    f"finished tasks (warm-up {self.warmup})")
        return None

    def fires_at(self, outcomes: str) -> int | None:
        """Replay a phase's outcomes in finish order (`o` completed, anything else an error):
        the number of finished tasks at which the rule fires, or None."""
        errors = 0
        for finished, outcome in enumerate(outcomes, start=1):
            errors += outcome != "o"
            if self.check(finished, errors):
                return finished
        return None
