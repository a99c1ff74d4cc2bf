"""The stress test scaled out: N tasks over A agents in 2 Dask worker processes, and how it grows.

    PYTHONPATH=. .venv/bin/python bench/scaleout.py [--grid 1000x4,10000x50] [--heartbeat-timeout 2] [--json]

A real `dask scheduler` + 2 `dask worker` processes on loopback (tests/support/dask_cluster.py)
and a local sandboxd; each point is one sharded run (`tradeswarm.stress.fanout.run_sharded`,
what `tradeswarm stress --dask` runs): 2 shards, each deploying A/2 agents in their own
sandboxes and driving its half of the tasks closed-loop (64 in flight per run). Per point:
throughput and P99 (from the merged ledgers and samples), the exact accounting, deploy +
teardown time, each agent sandbox's memory (sandboxd's per-sandbox metrics, max over the run)
and each shard coordinator's RSS. The load average is printed with the numbers: on a shared
machine they move with it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.stress import machine  # noqa: E402


def _point(address: str, tasks: int, agents: int, run_dir: Path, heartbeat_s: float) -> dict:
    from tradeswarm.stress.fanout import record_samples, run_sharded

    spec = {"tasks": tasks, "mode": "closed", "concurrency": 64, "symbols": ["SYN1"],
            "consensus_share": 0.0, "sample_interval_s": 1.0, "sandbox_sample_interval_s": 2.0}
    t0 = time.perf_counter()
    ev = record_samples(run_sharded(spec, shards=2, swarm={"agents": agents // 2, "symbols": ["SYN1"],
                                                            "heartbeat_timeout_s": heartbeat_s},
                                    run_dir=run_dir, seed=1, dask_address=address), None)
    wall = time.perf_counter() - t0
    boxes = [s["mem_mb_max"] for r in ev["resources"].values() for s in r["sandboxes"].values()
             if s["mem_mb_max"] is not None]
    coords = [r["coordinator"]["mem_mb_max"] for r in ev["resources"].values()]
    return {"tasks": tasks, "agents": agents, "heartbeat_timeout_s": heartbeat_s,
            "throughput_per_s": ev["throughput_per_s"],
            "p50_ms": ev["latency"]["stress_task"]["p50"], "p99_ms": ev["latency"]["stress_task"]["p99"],
            "submitted": ev["submitted"], "completed": ev["completed"], "failed": ev["failed"],
            "timed_out": ev["timed_out"], "lost": ev["lost"], "duplicated": ev["duplicated"],
            "not_submitted": ev["not_submitted"], "aborted": ev["abort_reason"],
            # every task accounted once: finals sum to the submitted, the rest never submitted
            "exact": ev["lost"] == ev["duplicated"] == 0
                     and ev["submitted"] == ev["completed"] + ev["failed"] + ev["timed_out"]
                     and ev["submitted"] + ev["not_submitted"] == tasks,
            # sandboxes the sampler saw beyond the agents deployed: replacements of agents declared dead
            "replacement_sandboxes_seen": sum(len(r["sandboxes"]) for r in ev["resources"].values()) - agents,
            "load_s": ev["duration_s"], "wall_s": round(wall, 2),
            "deploy_and_teardown_s": round(wall - ev["duration_s"], 2),
            "agent_mem_mb_mean": round(sum(boxes) / len(boxes), 1) if boxes else None,
            "agent_sandboxes_sampled": len(boxes),
            "coordinator_rss_mb_max": max(coords) if coords else None,
            "leaked": ev["shard_sandboxes"]["leaked"], "load_avg_1m": round(os.getloadavg()[0], 2)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--grid", default="1000x5,1000x50,10000x5,10000x50",
                    help="TASKSxAGENTS points, comma-separated")
    ap.add_argument("--heartbeat-timeout", type=float, default=2.0,
                    help="seconds without a heartbeat before an agent is declared dead (the stress swarm's 2.0)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    points = [tuple(int(v) for v in p.split("x")) for p in args.grid.split(",")]

    from tests.support.dask_cluster import dask_cluster
    from tradeswarm.sandbox.sandboxd import daemon

    work = Path(tempfile.mkdtemp(prefix="bench-scaleout-"))
    state = work / "state"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("E2B_", "PREFECT_API"))}
    env.update(TRADESWARM_STATE_DIR=str(state), PYTHONPATH=str(ROOT))
    os.environ.update(TRADESWARM_STATE_DIR=str(state))
    os.environ.pop("E2B_API_KEY", None)
    daemon.start(state, extra_args=["--max-sandboxes", str(max(a for _, a in points) + 10),
                                    "--create-rate", "500"])
    rows = []
    try:
        with dask_cluster(work, workers=2, env=env) as address:
            for i, (tasks, agents) in enumerate(points):
                rows.append(_point(address, tasks, agents, work / f"p{i}", args.heartbeat_timeout))
                if not args.json:
                    print(json.dumps(rows[-1]), flush=True)
    finally:
        daemon.stop(state)
    out = {"machine": machine(), "points": rows}
    if args.json:
        print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
