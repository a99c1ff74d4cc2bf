"""Benchmark: rendering a run directory (report.md, junit.xml, four charts) from results.json.

Measured side by side in one run, each in fresh interpreters (the cost `tradeswarm report` and
the pipeline's last stage pay), median of `--repeat`:
1. ours: `reports.render_run` (matplotlib imported lazily, `Figure` objects with fixed margins);
2. naive: the same report and the same four charts drawn the common way: pyplot with
   `tight_layout()` at matplotlib's default 100 dpi;
and the ratio naive ÷ ours, in wall time and in CPU time of the process (the latter holds up
when other work shares the machine). Also the warm in-process render time and the import cost of
`reports` alone (what `tradeswarm --help` pays: matplotlib is not imported).

Usage: `PYTHONPATH=. .venv/bin/python bench/report_render.py [--repeat 5] [--json]`
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GOLDEN = Path(__file__).resolve().parents[1] / "tests" / "reports" / "golden"

OURS = """
import sys, time
t0 = time.perf_counter()
from reports import render_run
render_run(sys.argv[1])
print(time.perf_counter() - t0, time.process_time())
"""

NAIVE = """
import json, sys, time
t0 = time.perf_counter()
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from pathlib import Path
from reports.junit import junit_xml
from reports.markdown import markdown_report
d = Path(sys.argv[1])
r = json.loads((d / "results.json").read_text()); s = json.loads((d / "samples.json").read_text())
(d / "charts").mkdir(exist_ok=True)
cats = r["categories"]
plt.figure(figsize=(7, 3.7)); plt.barh([c["name"] for c in cats], [c["score"] for c in cats]); plt.tight_layout()
plt.savefig(d / "charts" / "readiness.png"); plt.close()
xs = np.array(s["stress_task"]); fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4)); a.hist(xs, bins=50)
b.plot(np.sort(xs), np.arange(1, xs.size + 1) / xs.size); plt.tight_layout(); plt.savefig(d / "charts" / "stress_latency.png"); plt.close()
tp = r["stress"]["throughput_series"]; plt.figure(figsize=(8, 3.5)); plt.plot([p[0] for p in tp], [p[1] for p in tp], marker=".")
plt.tight_layout(); plt.savefig(d / "charts" / "stress_throughput.png"); plt.close()
plt.figure(figsize=(8, 4))
for bt in r["backtests"]:
    if bt.get("equity_curve"):
        plt.plot([p[1] for p in bt["equity_curve"]], label=bt["strategy"])
plt.legend(); plt.tight_layout(); plt.savefig(d / "charts" / "equity_curves.png"); plt.close()
(d / "report.md").write_text(markdown_report(r, charts=[p.name for p in (d / "charts").iterdir()]))
(d / "junit.xml").write_text(junit_xml(r))
print(time.perf_counter() - t0, time.process_time())
"""

WARM = """
import sys, time
from reports import render_run
render_run(sys.argv[1])
times = []
for _ in range(5):
    t0 = time.perf_counter(); render_run(sys.argv[1]); times.append(time.perf_counter() - t0)
print(min(times))
"""

IMPORT = """
import sys, time
t0 = time.perf_counter()
import reports, tradeswarm.cli.report
print(time.perf_counter() - t0, "matplotlib" in sys.modules)
"""


def _run(code: str, run_dir: Path) -> tuple[float, str]:
    """Wall time of a fresh interpreter running `code`, and what it printed."""
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code, str(run_dir)], capture_output=True, text=True, env=env, check=True).stdout
    return time.perf_counter() - t0, out.strip()


def _fresh_run_dir(root: Path, name: str) -> Path:
    d = root / name
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    for f in ("results.json", "samples.json"):
        shutil.copy(GOLDEN / f, d / f)
    return d


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        ours, naive, ours_inner, naive_inner, ours_cpu, naive_cpu = [], [], [], [], [], []
        for i in range(args.repeat):  # interleaved, so machine load hits both alike
            wall, out = _run(OURS, _fresh_run_dir(root, f"ours{i}"))
            ours.append(wall), ours_inner.append(float(out.split()[0])), ours_cpu.append(float(out.split()[1]))
            wall, out = _run(NAIVE, _fresh_run_dir(root, f"naive{i}"))
            naive.append(wall), naive_inner.append(float(out.split()[0])), naive_cpu.append(float(out.split()[1]))
        _, warm = _run(WARM, _fresh_run_dir(root, "warm"))
        _, imp = _run(IMPORT, root)
    imp_s, mpl_loaded = imp.split()
    doc = {
        "machine": {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count(),
                    "loadavg_1m": round(os.getloadavg()[0], 2)},
        "repeat": args.repeat,
        "ours_process_s": round(statistics.median(ours), 3),
        "ours_render_s": round(statistics.median(ours_inner), 3),
        "naive_process_s": round(statistics.median(naive), 3),
        "naive_render_s": round(statistics.median(naive_inner), 3),
        "ratio_naive_over_ours_render": round(statistics.median(naive_inner) / statistics.median(ours_inner), 2),
        "ours_cpu_s": round(statistics.median(ours_cpu), 3),
        "naive_cpu_s": round(statistics.median(naive_cpu), 3),
        "ratio_naive_over_ours_cpu": round(statistics.median(naive_cpu) / statistics.median(ours_cpu), 2),
        "warm_render_s": round(float(warm), 3),
        "import_reports_s": round(float(imp_s), 3),
        "import_loads_matplotlib": mpl_loaded == "True",
    }
    if args.json:
        print(json.dumps(doc, indent=2))
        return
    print(f"machine: {doc['machine']}")
    print(f"render a run dir (imports + report.md + junit.xml + 4 charts), median of {args.repeat} fresh processes:")
    print(f"  ours : {doc['ours_render_s']:.3f} s inside the process ({doc['ours_process_s']:.3f} s with interpreter start)")
    print(f"  naive: {doc['naive_render_s']:.3f} s inside the process ({doc['naive_process_s']:.3f} s with interpreter start)")
    print(f"  ratio naive / ours: {doc['ratio_naive_over_ours_render']:.2f}x wall")
    print(f"  CPU time of the process (robust to other load): ours {doc['ours_cpu_s']:.3f} s, naive {doc['naive_cpu_s']:.3f} s, "
          f"ratio {doc['ratio_naive_over_ours_cpu']:.2f}x")
    print(f"warm re-render in one process: {doc['warm_render_s']:.3f} s")
    print(f"import reports + the CLI command: {doc['import_reports_s']:.3f} s (matplotlib loaded: {doc['import_loads_matplotlib']})")


if __name__ == "__main__":
    main()
