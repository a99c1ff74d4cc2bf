"""What the coordinator is asked to do and what it answers: `Task` and `TaskOutcome`."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Literal

Status = Literal["completed", "failed", "timed_out"]


@dataclass(frozen=True)
class Task:
    """One signal request: the agent's strategy on `symbol`'s last `window` bars up to `end`.

    `id` is the idempotency key: a task id is answered once, however often it is submitted.
    `delay_ms` and `fail` are fault hooks the agent honours; `agent_type` is what the
    `capability` dispatch policy matches on.
    """

    id: str
    symbol: str
    end: str | None = None
    window: int = 250
    delay_ms: float = 0.0
    fail: bool = False
    agent_type: str | None = None

    def line(self) -> str:
        """The JSON line the runner reads (the fault fields only when set, to keep it short)."""
        msg: dict = {"id": self.id, "symbol": self.symbol, "end": self.end, "window": self.window}
        if self.delay_ms:
            msg["delay_ms"] = self.delay_ms
        if self.fail:
            msg["fail"] = True
        return json.dumps(msg, separators=(",", ":")) + "\n"


@dataclass
class TaskOutcome:
    """The final state of a task; exactly one per task id."""

    task_id: str
    status: Status
    agent_id: str | None
    attempts: int
    latency_ms: float
    error_class: str | None = None
    signal: dict | None = None
    error: str | None = None

    def to_dict(self) -> dict:
        """A JSON-ready dict."""
        return asdict(self)
