"""Dispatch policies: which live agent gets the next task, as pure functions.

- `round_robin`: the capable agents in turn.
- `least_loaded`: the capable agent with the fewest tasks in flight (ties: fewest served).
- `capability`: only agents of the task's requested type (when the task names one), least-loaded
  among them; no fallback to other types. The other policies ignore the requested type.

"Capable" always means: alive, not excluded for this task (an agent that died with it), and
serving the task's symbol (an agent with no symbol list serves every symbol).

>>> from types import SimpleNamespace as A
>>> agents = [A(id="a", type="momentum", symbols=["SPX"], inflight=2, served=0, alive=True),
...           A(id="b", type="breakout", symbols=["SPX"], inflight=0, served=5, alive=True)]
>>> choose("least_loaded", agents, symbol="SPX").id
'b'
"""

from __future__ import annotations

import itertools
from typing import Any, Iterable, Protocol, Sequence

POLICIES = ("round_robin", "least_loaded", "capability")


class Candidate(Protocol):
    id: str
    type: str
    symbols: Sequence[str]
    inflight: int
    served: int
    alive: bool


class NoAgentError(RuntimeError):
    """No live agent can take the task."""


def check_policy(policy: str) -> str:
    """Return `policy` if known, else raise `ValueError` naming the known ones."""
    if policy not in POLICIES:
        raise ValueError(f"unknown dispatch policy {policy!r}; known: {', '.join(POLICIES)}")
    return policy


def capable(agents: Iterable[Candidate], symbol: str | None, agent_type: str | None = None,
            exclude: frozenset[str] | set[str] = frozenset()) -> list[Candidate]:
    """The live agents that may serve `symbol` (and are of `agent_type`, when given)."""
    return [a for a in agents
            if a.alive and a.id not in exclude
            and (agent_type is None or a.type == agent_type)
            and (symbol is None or not a.symbols or symbol in a.symbols)]


def _least_loaded(pool: list[Candidate]) -> Candidate:
    return min(pool, key=lambda a: (a.inflight, a.served))


class Dispatcher:
    """Applies one policy; keeps the round-robin cursor between calls."""

    def __init__(self, policy: str = "least_loaded") -> None:
        self.policy = check_policy(policy)
        self._turn = itertools.count()

    def choose(self, agents: Sequence[Candidate], *, symbol: str | None = None,
               agent_type: str | None = None, exclude: Any = frozenset()) -> Candidate:
        """Pick the agent for one task, or raise `NoAgentError`."""
        if self.policy != "capability":
            agent_type = None
        pool = capable(agents, symbol, agent_type, exclude)
        if not pool:
            wanted = f"type {agent_type} " if agent_type else ""
            raise NoAgentError(f"no live agent of {wanted}serves {symbol}")
        if self.policy == "round_robin":
            return pool[next(self._turn) % len(pool)]
        return _least_loaded(pool)

    def pick(self, agents: Sequence[Candidate], k: int, *, symbol: str | None = None,
             agent_type: str | None = None) -> list[Candidate]:
        """Pick `k` distinct agents (fewer when fewer are capable), for a consensus round."""
        pool = capable(agents, symbol, agent_type)
        if self.policy == "round_robin" and pool:
            start = next(self._turn) % len(pool)
            pool = pool[start:] + pool[:start]
            return pool[:k]
        return sorted(pool, key=lambda a: (a.inflight, a.served))[:k]


def choose(policy: str, agents: Sequence[Candidate], **kw: Any) -> Candidate:
    """One-shot `Dispatcher(policy).choose(...)`."""
    return Dispatcher(policy).choose(agents, **kw)
