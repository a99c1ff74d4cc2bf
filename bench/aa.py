"""A/A: N identical certifications, their verdicts and the spread of their readiness scores.

Goal (issue 10): one verdict over all runs, readiness spread (max − min) ≤ 1 point. Each run is
a fresh `tradeswarm certify` process with the same profile and seed, one after the other (the
machine's load is printed with the result). Every run gets its own runs folder, so each is a
first run with no history to compare with — identical inputs; `--shared-history` puts them in
one folder instead, so later runs are judged against earlier ones as nightlies are (the
regression checks then join from the second run on). Prefect's home and the sandbox server's
state are shared, as on a build machine.

The table of *movers* lists every check whose status differed between runs, with the statuses
seen: those are what moved the score or the verdict.

    python bench/aa.py                       # 10 smoke runs
    python bench/aa.py --runs 3 --json       # one JSON document
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GOAL_SPREAD = 1.0


def one_run(profile: str, env: dict, out: Path) -> dict:
    """One certification in a fresh process: verdict, readiness and every check's status."""
    t0 = time.time()
    proc = subprocess.run([sys.executable, "-m", "tradeswarm", "certify", "--profile", profile, "--out", str(out),
                           "--json"], cwd=ROOT, env=env, capture_output=True, text=True)
    if proc.returncode not in (0, 1, 3):  # certify's verdict exit codes; anything else is a crash
        raise SystemExit(f"certify failed ({proc.returncode}): {proc.stderr[-500:]}")
    res = json.loads((out / "results.json").read_text())
    faults = {f.get("kind"): f.get("injected") for f in (res.get("stress") or {}).get("faults") or []
              if isinstance(f, dict)}
    return {"run_id": res["run_id"], "verdict": res["verdict"], "readiness": res["readiness_score"],
            "wall_s": round(time.time() - t0, 1), "seed": res.get("seed"),
            "failed_tasks": (res.get("stress") or {}).get("failed"), "faults_injected": faults,
            "checks": {c["id"]: c["status"] for c in res["checks"]}}


def summarize(runs: list[dict]) -> dict:
    """Verdict counts, readiness spread and the checks whose status moved between runs."""
    scores = [r["readiness"] for r in runs]
    ids = list(dict.fromkeys(cid for r in runs for cid in r["checks"]))
    movers = {}
    for cid in ids:
        seen = Counter(r["checks"].get(cid, "absent") for r in runs)
        if len(seen) > 1:
            movers[cid] = dict(seen)
    verdicts = Counter(r["verdict"] for r in runs)
    spread = max(scores) - min(scores)
    return {"runs": len(runs), "verdicts": dict(verdicts), "readiness_min": min(scores), "readiness_max": max(scores),
            "readiness_spread": spread, "one_verdict": len(verdicts) == 1, "spread_ok": spread <= GOAL_SPREAD,
            "movers": movers}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10, help="identical certifications (default 10, at least 2)")
    ap.add_argument("--profile", default="smoke", choices=["smoke", "standard", "nightly"])
    ap.add_argument("--shared-history", action="store_true", help="one runs folder: later runs see earlier ones")
    ap.add_argument("--json", action="store_true", help="print exactly one JSON document")
    args = ap.parse_args()
    if args.runs < 2:
        print("error: --runs must be at least 2 (an A/A compares runs)", file=sys.stderr)
        raise SystemExit(2)
    load_before = os.getloadavg()
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        env = {**os.environ, "PREFECT_HOME": str(tmp / "prefect"), "TRADESWARM_STATE_DIR": str(tmp / "state"),
               "PYTHONPATH": str(ROOT)}
        try:
            for i in range(args.runs):
                root = tmp / ("runs" if args.shared_history else f"aa{i}") / "runs"
                runs.append(one_run(args.profile, env, root / f"run{i}"))
                r = runs[-1]
                print(f"[{i + 1}/{args.runs}] {r['verdict']} {r['readiness']:.2f} ({r['wall_s']:.0f} s)",
                      file=sys.stderr, flush=True)
        finally:
            subprocess.run([sys.executable, "-m", "tradeswarm", "sandboxd", "stop"], cwd=ROOT, env=env,
                           capture_output=True)
    summary = summarize(runs) | {"profile": args.profile, "shared_history": args.shared_history,
                                 "load_before": [round(x, 2) for x in load_before],
                                 "load_after": [round(x, 2) for x in os.getloadavg()], "cores": os.cpu_count()}
    if args.json:
        print(json.dumps(summary | {"per_run": runs}, indent=2))
        return
    print(f"A/A: {args.runs} × tradeswarm certify --profile {args.profile}"
          f"{' (shared history)' if args.shared_history else ''}\n")
    print(f"{'run':>4} {'verdict':<14} {'readiness':>9} {'failed tasks':>12} {'wall':>7}  faults injected")
    for i, r in enumerate(runs, 1):
        faults = ", ".join(f"{k} {v}" for k, v in r["faults_injected"].items()) or "-"
        print(f"{i:>4} {r['verdict']:<14} {r['readiness']:>9.2f} {str(r['failed_tasks']):>12} {r['wall_s']:>6.0f}s  {faults}")
    verdicts = ", ".join(f"{v} ×{n}" for v, n in summary["verdicts"].items())
    print(f"\nverdicts: {verdicts}  (goal: one verdict — {'met' if summary['one_verdict'] else 'NOT met'})")
    print(f"readiness: {summary['readiness_min']:.2f} – {summary['readiness_max']:.2f}, spread "
          f"{summary['readiness_spread']:.2f} points (goal ≤ {GOAL_SPREAD:g} — {'met' if summary['spread_ok'] else 'NOT met'})")
    print("checks whose status moved between runs:" if summary["movers"] else "no check changed status between runs")
    for cid, seen in summary["movers"].items():
        print(f"  {cid}: " + ", ".join(f"{s} ×{n}" for s, n in seen.items()))
    print(f"load average before {summary['load_before']}, after {summary['load_after']} on {summary['cores']} cores")


if __name__ == "__main__":
    main()
