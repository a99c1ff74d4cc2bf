"""Wall time of `tradeswarm certify` in a fresh process, by stage, and its peak memory.

Two runs side by side in one invocation, each a new process with the same PREFECT_HOME and
state dir: the first starts cold (no cached data validations or backtests), the second may reuse
the results the first persisted (the result cache in the state dir, keyed on inputs, code, data
and library versions). The ratio cold ÷ warm is what the cache saves a re-run after a crash.

    python bench/certify.py --profile standard
    python bench/certify.py --profile smoke --runs 1

"Prefect start" is the time from process start to the flow's first stage: interpreter,
imports, and the start of the local Prefect server when none runs (the first run; later runs
reuse it: tradeswarm/prefect_server.py). Deploy, data validation and backtests run in parallel
(marked ∥); the deploy+research line is their stage's wall time. The report stage is timed too:
the flow rewrites results.json once the report is published. Peak memory is the largest resident set of the CLI
process and its children (the temporary Prefect server), from getrusage.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def one_run(profile: str, prefect_home: Path, state_dir: Path, out: Path) -> dict:
    env = {**os.environ, "PREFECT_HOME": str(prefect_home), "TRADESWARM_STATE_DIR": str(state_dir),
           "PYTHONPATH": str(ROOT)}
    load0 = os.getloadavg()[0]
    t0 = time.time()
    proc = subprocess.run([sys.executable, "-m", "tradeswarm", "certify", "--profile", profile, "--out", str(out),
                           "--json"], cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.time() - t0
    if proc.returncode not in (0, 1, 3):
        raise SystemExit(f"certify failed ({proc.returncode}): {proc.stderr[-500:]}")
    results = json.loads((out / "results.json").read_text())
    started = datetime.fromisoformat(results["started_at"]).timestamp()
    stages = {"prefect start": started - t0}
    for name, seconds in results["stages"].items():
        if name == "deploy+research":  # its parts, each timed apart, then the stage's wall time
            stages.update({f"  {k}": v for k, v in results.get("stage_parts", {}).items()})
        stages[name] = seconds
    return {"wall_s": wall, "stages": stages, "verdict": results["verdict"], "load_avg_1m": (load0, os.getloadavg()[0]),
            "readiness": results["readiness_score"],
            "not_passed": [f"{c['id']} ({c['status']}, {c['observed']})" for c in results["checks"]
                           if c["status"] not in ("pass", "waived")]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="standard", choices=["smoke", "standard", "nightly"])
    ap.add_argument("--runs", type=int, default=2, help="1: cold only; 2: cold then warm")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        runs = [one_run(args.profile, tmp / "prefect", tmp / "state", tmp / f"run{i}") for i in range(args.runs)]
        for server in ("sandboxd", "prefect"):
            subprocess.run([sys.executable, "-m", "tradeswarm", server, "stop"], cwd=ROOT,
                           env={**os.environ, "TRADESWARM_STATE_DIR": str(tmp / "state"), "PYTHONPATH": str(ROOT)},
                           capture_output=True)
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    names = list(runs[0]["stages"])
    print(f"tradeswarm certify --profile {args.profile} (fresh process each run)\n")
    print(f"{'stage':<18}" + "".join(f"{'run ' + str(i + 1):>10}" for i in range(len(runs))))
    for name in names:
        print(f"{name:<18}" + "".join(f"{r['stages'].get(name, 0.0):>9.2f}s" for r in runs))
    print(f"{'wall':<18}" + "".join(f"{r['wall_s']:>9.1f}s" for r in runs))
    print(f"{'load avg 1m':<18}" + "".join(f"{r['load_avg_1m'][0]:>4.1f}→{r['load_avg_1m'][1]:<4.1f}" for r in runs))
    verdicts = ", ".join(f"{r['verdict']} {r['readiness']:.1f}" for r in runs)
    print(f"\nverdicts: {verdicts}")
    for i, r in enumerate(runs, 1):
        print(f"run {i} checks not passed: {'; '.join(r['not_passed']) or 'none'}")
    print(f"peak RSS of the largest process: {peak_mib:.0f} MiB")
    if len(runs) > 1:
        print(f"cold ÷ warm wall time: {runs[0]['wall_s'] / runs[1]['wall_s']:.2f}×")


if __name__ == "__main__":
    main()
