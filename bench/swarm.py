"""Swarm benchmark: task and consensus latency through the coordinator into sandbox agents.

Runs against a private sandboxd (started and stopped here) and prints, all measured in this run:

- agent deploy P50/P95 (sandbox create + upload + runner start + handshake), vs the replaced
  system's claimed deploy P95 of 5,100 ms;
- the same deploy side by side, interleaved so both see the same load: cold (a fresh interpreter
  on the uploaded runner: the start before sandboxd's zygote) vs warm (`bin/agent`, forked by the
  zygote into the sandbox), each to the health handshake, with the machine's load average;
- per-task latency P50/P95/P99 and throughput for a burst of tasks through `Coordinator.execute`,
  side by side with the naive approach (a process spawned per task in the sandbox, same runner);
- consensus latency P50/P95/P99 with 3 and 5 agents, vs the claimed consensus P95 of 850 ms.

Usage: `PYTHONPATH=. python bench/swarm.py [--tasks 1000] [--naive 20] [--rounds 100]`
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

CLAIM_CONSENSUS_P95_MS = 850.0
CLAIM_DEPLOY_P95_MS = 5100.0
END = "2018-06-01"


def pct(xs: list[float]) -> dict:
    a = np.asarray(xs, dtype=float)
    return {"n": len(xs), **{f"p{q}": round(float(np.percentile(a, q)), 2) for q in (50, 95, 99)}}


async def deploy_paths(mgr, rounds: int) -> dict:
    """Deploy one agent per start, `rounds` times, alternating which goes first: create a
    sandbox, start the runner, wait for its handshake, kill the sandbox. Fails when a deploy did
    not get the start it asked for (a warm one that fell back to cold)."""
    from tradeswarm.agents.deploy import start_agent, validate_spec

    spec = validate_spec("momentum", ["SPX"])
    total: dict[str, list[float]] = {"cold": [], "warm": []}
    start: dict[str, list[float]] = {"cold": [], "warm": []}
    load = [os.getloadavg()[0]]
    for i in range(rounds):
        for path in (("cold", "warm") if i % 2 == 0 else ("warm", "cold")):
            t0 = time.perf_counter()
            sb = await mgr.create("trading")
            try:
                t1 = time.perf_counter()
                handle = await start_agent(sb, f"{path}-{i}", spec, heartbeat_s=60.0, warm=path == "warm")
                t2 = time.perf_counter()
                got = handle.ready.result().get("start")
                assert got == path, f"asked for a {path} start, the runner says {got}"
                total[path].append((t2 - t0) * 1000.0)
                start[path].append((t2 - t1) * 1000.0)
                await handle.proc.kill()
            finally:
                await mgr.kill(sb.id)
        load.append(os.getloadavg()[0])
    return {path: {"deploy_ms": pct(total[path]), "start_to_handshake_ms": pct(start[path])} for path in total} | {
        "load1": {"min": min(load), "max": max(load), "mean": round(sum(load) / len(load), 2)}}


async def bench(args: argparse.Namespace) -> dict:
    from tradeswarm.agents.deploy import RUNNER_PATH
    from tradeswarm.latency import LatencyRecorder
    from tradeswarm.sandbox import SandboxManager
    from tradeswarm.settings import Settings
    from tradeswarm.swarm import Coordinator, Task

    rec = LatencyRecorder()
    out: dict = {}
    async with SandboxManager(settings=Settings(), recorder=rec, max_concurrency=12) as mgr:
        async with Coordinator(mgr, recorder=rec, task_timeout_s=30) as coord:
            await coord.deploy("momentum", ["SPX"], count=3)
            await coord.deploy("sma_crossover", ["SPX"], count=2)
            out["deploy_ms"] = pct(rec.samples("agent_deploy"))
            out["deploy_paths"] = await deploy_paths(mgr, args.deploys)

            # warm the agents' caches the way a running swarm is warm
            await asyncio.gather(*(coord.execute(Task(id=f"w{i}", symbol="SPX", end=END)) for i in range(50)))
            n = args.tasks
            t0 = time.perf_counter()
            outs = await asyncio.gather(*(coord.execute(Task(id=f"b{i}", symbol="SPX", end=END)) for i in range(n)))
            wall = time.perf_counter() - t0
            assert all(o.status == "completed" for o in outs), [o for o in outs if o.status != "completed"][:3]
            out["burst"] = {"tasks": n, "wall_s": round(wall, 3), "throughput_per_s": round(n / wall, 1),
                            "latency_ms": pct([o.latency_ms for o in outs])}
            seq = []
            for i in range(args.naive):
                o = await coord.execute(Task(id=f"s{i}", symbol="SPX", end=END))
                seq.append(o.latency_ms)
            out["sequential_ms"] = pct(seq)

            # the naive way: spawn the same runner per task inside a sandbox
            sb = await mgr.create("trading")
            agent = coord.live()[0]
            await sb.write(RUNNER_PATH, Path(__import__("tradeswarm.agents.runner", fromlist=["x"]).__file__).read_bytes())
            await sb.write("agents/naive.json", json.dumps({"agent_id": "naive", "type": agent.type,
                                                           "params": agent.spec.params, "symbols": ["SPX"],
                                                           "heartbeat_s": 60}).encode())
            task = json.dumps({"id": "n", "symbol": "SPX", "end": END, "window": 250})
            naive = []
            for _ in range(args.naive):
                t = time.perf_counter()
                res = await sb.run(f"echo '{task}' | bin/python {RUNNER_PATH} --config agents/naive.json", timeout_s=60)
                naive.append((time.perf_counter() - t) * 1000.0)
                assert res.exit_code == 0 and '"signal"' in res.stdout, res.stderr[-300:]
            out["naive_spawn_ms"] = pct(naive)

            for k in (3, 5):
                lat = []
                for r in range(args.rounds):
                    dec = await coord.consensus("SPX", END, k=k)
                    assert len(dec.votes) == k, dec
                    lat.append(dec.latency_ms)
                out[f"consensus_k{k}_ms"] = pct(lat)
            out["evidence"] = coord.evidence()
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tasks", type=int, default=1000)
    p.add_argument("--naive", type=int, default=20, help="sequential tasks, ours and naive")
    p.add_argument("--rounds", type=int, default=100, help="consensus rounds per k")
    p.add_argument("--deploys", type=int, default=20, help="deploys per start (cold, warm) side by side")
    args = p.parse_args()
    from tradeswarm.sandbox.sandboxd import daemon

    state = Path(tempfile.mkdtemp(prefix="bench-swarm-"))
    os.environ["TRADESWARM_STATE_DIR"] = str(state)
    for k in ("E2B_API_KEY", "E2B_DOMAIN"):
        os.environ.pop(k, None)
    daemon.start(state, extra_args=["--max-sandboxes", "20", "--create-rate", "500"])
    try:
        r = asyncio.run(bench(args))
    finally:
        daemon.stop(state)
    print(f"machine: {platform.machine()} {os.cpu_count()} cpu, python {platform.python_version()}")
    d = r["deploy_ms"]
    print(f"agent deploy      n={d['n']} p50={d['p50']} p95={d['p95']} ms   claimed p95 {CLAIM_DEPLOY_P95_MS:.0f} ms"
          f" -> ratio claimed/ours {CLAIM_DEPLOY_P95_MS / d['p95']:.1f}x")
    dp = r["deploy_paths"]
    for what in ("deploy_ms", "start_to_handshake_ms"):
        c, w = dp["cold"][what], dp["warm"][what]
        print(f"{what:<22}cold (before) n={c['n']} p50={c['p50']} p95={c['p95']} | warm (after) p50={w['p50']} "
              f"p95={w['p95']} ms -> ratio cold/warm p95 {c['p95'] / w['p95']:.1f}x")
    print(f"load average (1 min) during those deploys: {dp['load1']}")
    b = r["burst"]
    print(f"burst {b['tasks']} tasks   {b['throughput_per_s']}/s, latency p50={b['latency_ms']['p50']} "
          f"p95={b['latency_ms']['p95']} p99={b['latency_ms']['p99']} ms")
    s, nv = r["sequential_ms"], r["naive_spawn_ms"]
    print(f"sequential task   ours p50={s['p50']} p95={s['p95']} ms | naive spawn-per-task p50={nv['p50']} "
          f"p95={nv['p95']} ms -> ratio naive/ours p50 {nv['p50'] / s['p50']:.1f}x")
    for k in (3, 5):
        c = r[f"consensus_k{k}_ms"]
        print(f"consensus k={k}     p50={c['p50']} p95={c['p95']} p99={c['p99']} ms   claimed p95 "
              f"{CLAIM_CONSENSUS_P95_MS:.0f} ms -> ratio claimed/ours {CLAIM_CONSENSUS_P95_MS / c['p95']:.1f}x")
    print(json.dumps({k: v for k, v in r.items() if k != "evidence"}))


if __name__ == "__main__":
    main()
