"""What a run pays for Prefect: a temporary server per process vs the local server kept running.

Side by side in one invocation, alternating so both sides see the same load: a fresh
interpreter runs one small flow (the certification's shape: a flow with a few tasks and a
Markdown artifact), (a) with no PREFECT_API_URL, so Prefect starts and stops its temporary
server in that process, as every `tradeswarm certify` did before; (b) against the local server
of tradeswarm/prefect_server.py, started once before the rounds; (c) two such processes at once
against that server (two certifications at the same time must both work, and neither may get
much slower). Prints the wall time per round, the medians, their ratio and the load average.

    PYTHONPATH=. .venv/bin/python bench/prefect_server.py [--rounds 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

FLOW = """
from prefect import flow, task
from prefect.artifacts import create_markdown_artifact

@task
def step(i):
    return i * 2

@flow(name="bench-probe")
def probe():
    total = sum(step.submit(i).result() for i in range(5))
    create_markdown_artifact("# probe", key="bench-probe")
    return total

assert probe() == 20
"""


def _env(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    return {**env, "PYTHONPATH": str(ROOT), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_LOGGING_LEVEL": "WARNING", **extra}


def _run_flows(env: dict, failures: list, n: int = 1) -> list[float]:
    """`n` fresh processes at once each running the flow; the wall times of those that
    succeeded (the last line of each failure's error goes to `failures`)."""
    t0 = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, "-c", FLOW], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True) for _ in range(n)]
    walls = []
    for p in procs:
        _, err = p.communicate(timeout=600)
        if p.returncode == 0:
            walls.append(time.perf_counter() - t0)
        else:
            failures.append(err.strip().splitlines()[-1][:200] if err.strip() else f"exit {p.returncode}")
    return walls


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    from tradeswarm import prefect_server

    load0 = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp) / "state"
        t = time.perf_counter()
        ep = prefect_server.start(state)
        server_start_s = time.perf_counter() - t
        try:
            temporary, local, pair = [], [], []
            failed: dict[str, list] = {"temporary": [], "local": [], "two_at_once": []}
            for _ in range(args.rounds):
                # the start timeout `tradeswarm certify` gave the temporary server (cli/certify.py)
                temporary += _run_flows(_env(PREFECT_HOME=str(Path(tmp) / "home"),
                                             PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="90"), failed["temporary"])
                local += _run_flows(_env(PREFECT_API_URL=ep.api_url), failed["local"])
                pair += _run_flows(_env(PREFECT_API_URL=ep.api_url), failed["two_at_once"], n=2)
        finally:
            prefect_server.stop(state)
    out = {
        "load_avg": {"start": load0, "end": os.getloadavg()},
        "local_server_first_start_s": server_start_s,
        "failed": failed, "temporary_server_s": temporary, "local_server_s": local, "two_at_once_on_local_server_s": pair,
        **{f"median_{k}_s": statistics.median(v) if v else None
           for k, v in (("temporary", temporary), ("local", local), ("two_at_once", pair))},
    }
    out["temporary_over_local"] = (out["median_temporary_s"] / out["median_local_s"]
                                   if temporary and local else None)
    if args.json:
        print(json.dumps(out, indent=2))
        return
    print(f"load average at start {load0[0]:.1f}, at end {out['load_avg']['end'][0]:.1f} (2 cores)")
    print(f"local server, first start (new database): {server_start_s:.1f} s, paid once")
    for name, key, side in (("temporary server in the process", "temporary_server_s", "temporary"),
                            ("local server kept running", "local_server_s", "local"),
                            ("two processes at once, local server", "two_at_once_on_local_server_s", "two_at_once")):
        med = out[f"median_{side}_s"]
        print(f"{name:<38} " + "  ".join(f"{v:5.1f}s" for v in out[key])
              + (f"   median {med:.1f} s" if med is not None else "") + f"   failed {len(failed[side])}")
        for f in failed[side]:
            print(f"    failed: {f}")
    if out["temporary_over_local"] is not None:
        print(f"temporary ÷ local: {out['temporary_over_local']:.2f}×")


if __name__ == "__main__":
    main()
