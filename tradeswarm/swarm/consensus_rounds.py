"""Consensus rounds: ask k agents for their vote on one bar and decide
(a part of `Coordinator`; the decision rule itself is `tradeswarm.swarm.consensus`)."""

from __future__ import annotations

import asyncio
from typing import Sequence

from tradeswarm.swarm.consensus import Decision, Rule, Vote, decide
from tradeswarm.swarm.task import Task


class ConsensusRounds:
    """`consensus`: one round, its votes collected within a timeout. A mixin of `Coordinator`."""

    async def consensus(self, symbol: str, end: str | None = None, k: int = 3, *, window: int = 250,
                        rule: Rule | None = None, timeout_s: float | None = None,
                        agent_types: Sequence[str] | None = None) -> Decision:
        """Ask `k` agents (least loaded, or in turn) for their vote on one bar and decide.

        The quorum counts the agents actually asked: with fewer than `k` eligible agents, all
        of them are asked and 2/3 of those must answer (`Decision.requested` keeps `k`).
        Errors and missing answers are not votes.
        """
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        round_id = f"c{next(self._rounds)}"
        pool = [a for a in self.agents.values() if agent_types is None or a.type in agent_types]
        asked = self.dispatcher.pick(pool, k, symbol=symbol)
        futures = {}
        answered: dict[str, float] = {}
        for a in asked:
            tid = f"{round_id}:{a.id}"
            fut = a.submit(tid, Task(id=tid, symbol=symbol, end=end, window=window).line())
            fut.add_done_callback(lambda _f, aid=a.id: answered.setdefault(aid, loop.time()))
            futures[a] = (tid, fut)
        if futures:
            await asyncio.wait([f for _, f in futures.values()],
                               timeout=timeout_s if timeout_s is not None else self.consensus_timeout_s)
        votes: list[Vote] = []
        errors: list[dict] = []
        for a, (tid, fut) in futures.items():
            if not fut.done():
                a.forget(tid)
                fut.cancel()
                errors.append({"agent_id": a.id, "error_class": "Timeout"})
                continue
            if fut.exception() is not None:
                errors.append({"agent_id": a.id, "error_class": type(fut.exception()).__name__})
                continue
            msg = fut.result()
            if "error" in msg:
                a.errors += 1
                errors.append({"agent_id": a.id, "error_class": (msg["error"] or {}).get("class")})
                continue
            a.served += 1
            s = msg["signal"]
            votes.append(Vote(a.id, a.type, s["action"], float(s["confidence"]), bool(s.get("veto")),
                              s.get("bar"), round((answered[a.id] - t0) * 1000.0, 3)))
        dec = decide(votes, asked=len(asked), rule=rule or self.rule)
        dec.requested = k
        dec.latency_ms = (loop.time() - t0) * 1000.0
        dec.symbol = symbol
        dec.errors = errors
        self._record("consensus", dec.latency_ms)
        self.counters["consensus_rounds"] += 1
        self.counters["consensus_errors"] += len(errors)
        self.counters[f"consensus_{dec.reason}"] += 1
        self.counters["consensus_holds"] += dec.action == "HOLD"
        return dec
