"""The coordinator end to end: real runner processes in sandboxd sandboxes (the `sandboxd` fixture)."""

from __future__ import annotations

import asyncio
import os
import signal
from collections import Counter

import pytest

from tests.sandbox._servers import host_pid, signal_sandbox_process
from tradeswarm.agents.strategies import latest_signal
from tradeswarm.marketdata.shipped import load_symbol
from tradeswarm.latency import LatencyRecorder
from tradeswarm.sandbox import SandboxManager
from tradeswarm.swarm import Coordinator, Rule, Task, decide

END = "2018-06-01"


def runner_alive(pid: int | None) -> bool:
    import psutil

    if pid is None:  # no process of that sandbox has that pid (any more)
        return False
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


async def server_ids(mgr) -> set[str]:
    return {s["id"] for s in await mgr.list()}


def swarm(sandboxd, **kw):
    """A manager and a coordinator on it; the test body receives both."""

    def deco(body):
        async def go():
            rec = LatencyRecorder()
            async with SandboxManager(settings=sandboxd.settings, recorder=rec, max_concurrency=12) as mgr:
                before = await server_ids(mgr)
                coord = Coordinator(mgr, recorder=rec, **{"heartbeat_timeout_s": 3.0, **kw})
                async with coord:
                    await body(mgr, coord, rec)
                    held = set(coord.sandbox_ids())  # shutdown forgets them: ask the server afterwards
                    assert held <= await server_ids(mgr)
                after = await server_ids(mgr)
                assert not after & held and not after - before, "shutdown left sandboxes"
        run(go())
    return deco


def test_deploy_handshake_parity_and_consensus(sandboxd):
    @swarm(sandboxd, agents_per_sandbox=2)
    async def body(mgr, coord, rec):
        agents = await coord.deploy("sma_crossover", ["SPX"], {"fast": 5, "slow": 20}, count=2)
        risk = await coord.deploy("risk_manager", ["SPX"])
        assert all(a.alive and a.runner_pid for a in [*agents, *risk])
        assert rec.count("agent_deploy") == 3
        assert len(coord.sandbox_ids()) == 2  # two per sandbox
        spx = load_symbol("SPX")
        for end, window in ((END, 250), ("2008-10-10", 60)):
            out = await coord.execute(Task(id=f"p{end}", symbol="SPX", end=end, window=window, agent_type="sma_crossover"))
            assert out.status == "completed"
            agent = coord.agents[out.agent_id]
            expected = latest_signal(agent.type, spx.loc[:end].tail(window), agent.spec.params)
            assert out.signal == expected
        dec = await coord.consensus("SPX", END, k=3)
        assert len(dec.votes) == 3 and dec.latency_ms > 0 and rec.count("consensus") == 1
        assert dec.action == decide(dec.votes, 3).action
        # the quorum counts the agents asked: wanting 6 with 3 deployed asks 3, and 3 votes decide
        thin = await coord.consensus("SPX", END, k=6)
        assert (thin.requested, thin.asked, len(thin.votes)) == (6, 3, 3)
        assert thin.reason != "no_quorum" and thin.action == decide(thin.votes, 3).action
        # the opposite case: 1 answer out of the 3 asked is no quorum
        stopped = [a for a in coord.live() if a.type == "sma_crossover"]
        for a in stopped:
            assert signal_sandbox_process(a.sandbox_id, a.runner_pid, signal.SIGSTOP)
        try:
            mute = await coord.consensus("SPX", END, k=6, timeout_s=0.5)
        finally:
            for a in stopped:
                signal_sandbox_process(a.sandbox_id, a.runner_pid, signal.SIGCONT)
        assert (mute.asked, len(mute.votes), mute.reason, mute.action) == (3, 1, "no_quorum", "HOLD")
        ev = coord.evidence()
        assert ev["agents"]["deployed"] == 3 and ev["agents"]["healthy"] == 3
        assert ev["consensus"]["rounds"] == 3 and ev["consensus"]["no_quorum"] == 1


def test_invalid_agents_are_refused_before_any_sandbox_exists(sandboxd):
    @swarm(sandboxd)
    async def body(mgr, coord, rec):
        before = await server_ids(mgr)
        for args, kw in ((("astrology", ["SPX"]), {}), (("sma_crossover", ["SPX"], {"fast": 50, "slow": 10}), {}),
                         (("momentum", ["SPX"], {"nope": 1}), {}), (("momentum", ["XXXX"]), {}),
                         (("momentum", ["SPX"]), {"fail_rate": 2.0}), (("momentum", ["SPX"]), {"count": 99})):
            with pytest.raises(ValueError):
                await coord.deploy(*args, **kw)
        assert mgr.counters["created"] == 0 and await server_ids(mgr) == before
        assert rec.count("agent_deploy") == 0


def test_dispatch_policies_on_live_agents(sandboxd):
    @swarm(sandboxd, dispatch="round_robin")
    async def body(mgr, coord, rec):
        await coord.deploy("momentum", ["SPX"], count=2)
        await coord.deploy("breakout", ["SPX", "NDX"])
        outs = [await coord.execute(Task(id=f"r{i}", symbol="SPX", end=END)) for i in range(6)]
        assert sorted(Counter(o.agent_id for o in outs).values()) == [2, 2, 2]
        # by symbol: only the breakout agent serves NDX
        nd = await coord.execute(Task(id="n1", symbol="NDX", end=END))
        assert coord.agents[nd.agent_id].type == "breakout"
        # capability: the task's type decides
        coord.dispatcher.policy = "capability"
        for i in range(3):
            out = await coord.execute(Task(id=f"c{i}", symbol="SPX", end=END, agent_type="breakout"))
            assert coord.agents[out.agent_id].type == "breakout"
        # least-loaded: while one agent holds a slow task, quick tasks go elsewhere
        coord.dispatcher.policy = "least_loaded"
        slow = asyncio.ensure_future(coord.execute(Task(id="slow", symbol="SPX", end=END, delay_ms=800)))
        await asyncio.sleep(0.05)
        busy = next(a.id for a in coord.live() if a.inflight)
        quick = await asyncio.gather(*(coord.execute(Task(id=f"q{i}", symbol="SPX", end=END)) for i in range(2)))
        assert busy not in {o.agent_id for o in quick}
        assert (await slow).status == "completed"


async def _busy_swarm(coord, prefix: str, n: int):
    """Three momentum agents and `n` tasks whose answers are held 400 ms: some are in flight."""
    await coord.deploy("momentum", ["SPX"], count=3)
    tasks = [Task(id=f"{prefix}{i}", symbol="SPX", end=END, delay_ms=400) for i in range(n)]
    running = [asyncio.ensure_future(coord.execute(t)) for t in tasks]
    await asyncio.sleep(0.15)
    return tasks, running


@pytest.mark.slow
def test_killed_sandbox_tasks_redispatched_none_lost_none_doubled(sandboxd):
    @swarm(sandboxd, task_timeout_s=10.0)
    async def body(mgr, coord, rec):
        tasks, running = await _busy_swarm(coord, "k", 60)
        victim = next(a for a in coord.live() if a.inflight)
        await mgr.kill(victim.sandbox_id)
        outs = await asyncio.gather(*running)
        assert Counter(o.status for o in outs) == {"completed": 60}
        assert len({o.task_id for o in outs}) == 60
        moved = [o for o in outs if o.attempts > 1]
        assert moved and all(o.agent_id != victim.id for o in moved)
        ev = coord.evidence()
        assert ev["tasks"]["redispatched"] == len(moved) and ev["tasks"]["completed"] == 60
        # the same ids again: the recorded outcome, not a second execution
        again = await coord.execute(tasks[0])
        assert again is outs[0] and coord.evidence()["tasks"]["duplicate_submissions"] == 1
        assert coord.evidence()["tasks"]["submitted"] == 60
        for _ in range(100):  # the dead agent is replaced in a new sandbox
            if coord.counters["agents_replaced"]:
                break
            await asyncio.sleep(0.1)
        assert coord.counters["agents_replaced"] == 1 and len(coord.live()) == 3
        assert victim.sandbox_id not in await server_ids(mgr)


@pytest.mark.slow
def test_killed_runner_tasks_redispatched_once_and_agent_replaced(sandboxd):
    @swarm(sandboxd, task_timeout_s=10.0)
    async def body(mgr, coord, rec):
        tasks, running = await _busy_swarm(coord, "x", 20)
        victim = max(coord.live(), key=lambda a: a.inflight)
        held = set(victim.pending)  # answers held back 400 ms: in flight when the process dies
        assert held
        assert signal_sandbox_process(victim.sandbox_id, victim.runner_pid, signal.SIGKILL)  # the runner, not its sandbox
        outs = await asyncio.gather(*running)
        assert Counter(o.status for o in outs) == {"completed": 20}
        assert sorted(o.task_id for o in outs) == sorted(t.id for t in tasks)
        moved = {o.task_id for o in outs if o.attempts > 1}
        assert held <= moved and all(o.agent_id != victim.id for o in outs if o.task_id in moved)
        ev = coord.evidence()["tasks"]
        assert (ev["submitted"], ev["completed"], ev["redispatched"]) == (20, 20, len(moved))
        for _ in range(100):
            if coord.counters["agents_replaced"]:
                break
            await asyncio.sleep(0.1)
        assert coord.counters["agents_replaced"] == 1 and len(coord.live()) == 3
        assert victim not in coord.live() and not runner_alive(host_pid(victim.sandbox_id, victim.runner_pid))
        assert victim.sandbox_id not in await server_ids(mgr)  # its emptied sandbox is not kept


@pytest.mark.slow
def test_silent_agent_is_declared_dead_and_replaced(sandboxd):
    @swarm(sandboxd, heartbeat_timeout_s=1.0, heartbeat_s=0.2, task_timeout_s=8.0)
    async def body(mgr, coord, rec):
        await coord.deploy("mean_reversion", ["SPX"], count=2)
        await asyncio.sleep(1.5)  # healthy agents beat: the opposite case first
        assert coord.counters["heartbeat_timeouts"] == 0
        victim = coord.live()[0]
        assert signal_sandbox_process(victim.sandbox_id, victim.runner_pid, signal.SIGSTOP)
        try:
            pending = asyncio.ensure_future(coord.execute(Task(id="h1", symbol="SPX", end=END, agent_type=None)))
            for _ in range(80):
                if victim.state == "dead":
                    break
                await asyncio.sleep(0.05)
            assert victim.state == "dead" and "heartbeat" in victim.death
            out = await pending
            assert out.status == "completed"
        finally:
            try:
                signal_sandbox_process(victim.sandbox_id, victim.runner_pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
        for _ in range(100):
            if coord.counters["agents_replaced"]:
                break
            await asyncio.sleep(0.1)
        assert coord.counters["heartbeat_timeouts"] == 1 and coord.counters["agents_replaced"] == 1
        assert len(coord.live()) == 2


def test_scale_up_and_down_within_cap_and_shutdown_on_error(sandboxd):
    ids: list[str] = []

    async def go():
        async with SandboxManager(settings=sandboxd.settings) as mgr:
            with pytest.raises(RuntimeError, match="boom"):
                async with Coordinator(mgr, max_agents=4) as coord:
                    await coord.deploy("breakout", ["SPX"])
                    up = await coord.scale(3)
                    assert up["agents"] == 3 and len(up["added"]) == 2
                    assert len(set(coord.sandbox_ids()) & await server_ids(mgr)) == 3
                    down = await coord.scale(1)
                    assert down["agents"] == 1 and len(down["removed"]) == 2
                    assert len(set(coord.sandbox_ids()) & await server_ids(mgr)) == 1
                    with pytest.raises(ValueError, match="cap"):
                        await coord.scale(5)
                    ids.extend(coord.sandbox_ids())
                    raise RuntimeError("boom")
            assert ids and not set(ids) & await server_ids(mgr)

    run(go())


def test_timeouts_late_answers_and_injected_faults(sandboxd):
    @swarm(sandboxd, task_timeout_s=0.5)
    async def body(mgr, coord, rec):
        await coord.deploy("sma_crossover", ["SPX"], fail_rate=1.0)
        bad = await coord.execute(Task(id="f1", symbol="SPX", end=END))
        assert (bad.status, bad.error_class) == ("failed", "InjectedFault")
        await coord.set_fail_rate(0.0)
        await asyncio.sleep(0.1)
        good = await coord.execute(Task(id="f2", symbol="SPX", end=END))
        assert good.status == "completed"
        slow = await coord.execute(Task(id="s1", symbol="SPX", end=END, delay_ms=900))
        assert slow.status == "timed_out" and slow.attempts == 1
        await asyncio.sleep(0.8)
        assert coord.evidence()["tasks"]["late_answers"] == 1
        assert (await coord.execute(Task(id="s1", symbol="SPX"))).status == "timed_out"
        assert rec.count("task") == 3


def test_consensus_weighted_rule_is_applied(sandboxd):
    @swarm(sandboxd, rule=Rule(weighted=True))
    async def body(mgr, coord, rec):
        await coord.deploy("momentum", ["SPX"], count=2)
        dec = await coord.consensus("SPX", END, k=2)
        assert dec.action == decide(dec.votes, 2, Rule(weighted=True)).action
        assert all(v.latency_ms is not None and v.latency_ms > 0 for v in dec.votes)


def test_deploy_into_a_given_sandbox_leaves_that_sandbox_alone(sandboxd):
    async def go():
        async with SandboxManager(settings=sandboxd.settings) as mgr:
            sb = await mgr.create("trading")
            async with Coordinator(mgr) as coord:
                (agent,) = await coord.deploy("breakout", ["GOOG"], sandbox_id=sb.id)
                assert agent.sandbox_id == sb.id and coord.sandbox_ids() == []
                out = await coord.execute(Task(id="g1", symbol="GOOG", end="2010-01-04"))
                assert out.status == "completed" and out.agent_id == agent.id
            assert sb.id in await server_ids(mgr)  # not ours to kill; the agent process is gone
            for _ in range(40):
                if not runner_alive(host_pid(agent.sandbox_id, agent.runner_pid)):
                    break
                await asyncio.sleep(0.05)
            assert not runner_alive(host_pid(agent.sandbox_id, agent.runner_pid))

    run(go())


def test_reattach_from_records_live_and_gone_agents(sandboxd):
    from tradeswarm.swarm import agent_records

    async def go():
        async with SandboxManager(settings=sandboxd.settings) as mgr:
            first = Coordinator(mgr, monitor=False)
            a, b, c = await first.deploy("momentum", ["SPX"], count=3)
            records = [agent_records.record_of(h, first.heartbeat_s) for h in (a, b, c)]
            await first.detach()  # the agents keep running
            await mgr.kill(b.sandbox_id)  # gone with its sandbox
            await c.proc.kill()  # gone, its sandbox still there
            second = Coordinator(mgr, monitor=False)
            back = {h.id: h for h in await second.attach(records)}
            for _ in range(40):  # a process killed a moment ago may still be reaped: its end event follows
                if not back[c.id].alive and c.sandbox_id not in await server_ids(mgr):
                    break
                await asyncio.sleep(0.05)
            assert back[a.id].alive and not back[b.id].alive and not back[c.id].alive
            out = await second.execute(Task(id="r1", symbol="SPX", end=END))
            assert out.status == "completed" and out.agent_id == a.id
            assert c.sandbox_id not in await server_ids(mgr)  # an agentless sandbox is not leaked
            await second.shutdown()
            assert a.sandbox_id not in await server_ids(mgr)

    run(go())


@pytest.mark.parametrize("after_s", [0.0, 0.05, 0.4])
def test_cancelled_deploy_then_shutdown_leaves_no_sandbox(sandboxd, after_s):
    async def go():
        async with SandboxManager(settings=sandboxd.settings) as mgr:
            before = await server_ids(mgr)
            coord = Coordinator(mgr)
            job = asyncio.ensure_future(coord.deploy("momentum", ["SPX"], count=2))
            await asyncio.sleep(after_s)
            if job.cancel():  # a warm deploy may be done by 0.4 s: then it is shut down finished
                with pytest.raises(asyncio.CancelledError):
                    await job
            else:
                assert len(job.result()) == 2
            await coord.shutdown()
            await asyncio.sleep(0.2)
            assert await server_ids(mgr) - before == set()

    run(go())
