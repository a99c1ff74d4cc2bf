"""Running one task to its single final state, re-dispatching it when its agent dies
(a part of `Coordinator`, see `tradeswarm.swarm.coordinator`)."""

from __future__ import annotations

import asyncio

from tradeswarm.swarm import telemetry
from tradeswarm.swarm.agent_link import AgentDied, AgentHandle
from tradeswarm.swarm.dispatch import NoAgentError
from tradeswarm.swarm.task import Task, TaskOutcome


class TaskRunning:
    """`execute`: exactly one final state per task id. A mixin of `Coordinator`."""

    async def execute(self, task: Task) -> TaskOutcome:
        """Run one task to its final state (completed, failed or timed_out), exactly once per id."""
        done = self._final.get(task.id)
        if done is not None:
            self.counters["duplicate_submissions"] += 1
            return done
        running = self._running.get(task.id)
        if running is not None:
            self.counters["duplicate_submissions"] += 1
            return await asyncio.shield(running)
        fut = asyncio.get_running_loop().create_future()
        self._running[task.id] = fut
        self.counters["tasks_submitted"] += 1
        try:
            outcome = await self._run(task)
        except BaseException:
            del self._running[task.id]
            fut.cancel()  # a duplicate submission waiting on it sees the cancellation
            raise
        self._final[task.id] = outcome
        del self._running[task.id]
        fut.set_result(outcome)
        self.counters[f"tasks_{outcome.status}"] += 1
        telemetry.TASKS.labels(outcome.status).inc()
        self._record("task", outcome.latency_ms)
        return outcome

    async def _wait_for_agents(self, seconds: float) -> bool:
        """Wait until an agent becomes ready (a replacement), up to `seconds`."""
        if seconds <= 0 or self._closing:
            return False
        try:
            await asyncio.wait_for(self._changed.wait(), seconds)
            return True
        except asyncio.TimeoutError:
            return False

    async def _run(self, task: Task) -> TaskOutcome:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        deadline = t0 + self.task_timeout_s
        tried: set[str] = set()
        attempts = 0
        agent: AgentHandle | None = None

        def outcome(status: str, error_class: str | None = None, signal: dict | None = None,
                    error: str | None = None) -> TaskOutcome:
            return TaskOutcome(task.id, status, agent.id if agent else None, attempts,
                               (loop.time() - t0) * 1000.0, error_class, signal, error)

        line = task.line()
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return outcome("timed_out", "Timeout", error=f"no answer within {self.task_timeout_s:g}s")
            try:
                agent = self.dispatcher.choose(list(self.agents.values()), symbol=task.symbol,
                                               agent_type=task.agent_type, exclude=tried)
            except NoAgentError as e:
                replacing = any(a.state == "deploying" for a in self.agents.values()) or self._background
                if replacing and await self._wait_for_agents(remaining):
                    continue
                agent = None
                return outcome("failed", "NoAgent", error=str(e))
            attempts += 1
            tried.add(agent.id)
            fut = agent.submit(task.id, line)
            try:
                async with asyncio.timeout(remaining):
                    msg = await fut
            except TimeoutError:
                agent.forget(task.id)
                return outcome("timed_out", "Timeout", error=f"no answer within {self.task_timeout_s:g}s")
            except AgentDied:
                self.counters["tasks_redispatched"] += 1
                continue
            agent.latencies.append((loop.time() - t0) * 1000.0)
            if "error" in msg:
                agent.errors += 1
                err = msg["error"] or {}
                return outcome("failed", err.get("class", "AgentError"), error=err.get("message"))
            agent.served += 1
            return outcome("completed", signal=msg.get("signal"))
