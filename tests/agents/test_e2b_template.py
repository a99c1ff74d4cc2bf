"""deployments/e2b/e2b.Dockerfile cannot drift from what the runner imports, constraints.txt
pins and sandboxd's `trading` template holds (it cannot be built here: no E2B access)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "deployments" / "e2b" / "e2b.Dockerfile"
WORKSPACE = "/home/user"

# Runs the runner on a shipped and a synthetic symbol, then names the distributions of every
# third-party module that imported (modules present before the runner, e.g. site's, excluded).
_PROBE = """
import sys
before = set(sys.modules)
import io, json, importlib.metadata as md
from tradeswarm.agents import runner
cfg = {"agent_id": "probe", "type": "momentum", "symbols": ["SPX", "SYN0"], "heartbeat_s": 60}
tasks = "".join(json.dumps({"id": s, "symbol": s}) + "\\n" for s in ("SPX", "SYN0"))
out = io.StringIO()
assert runner.serve(cfg, io.StringIO(tasks), out) == 0 and out.getvalue().count('"signal"') == 2
dists = md.packages_distributions()
tops = {m.split(".")[0] for m in set(sys.modules) - before} - set(sys.stdlib_module_names) - {"tradeswarm"}
print(json.dumps(sorted({d for t in tops for d in dists.get(t, [])})))
"""


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins(text: str) -> dict[str, str]:
    """`name==version` pins of a requirements-style text or a Dockerfile's pip install."""
    return {_norm(n): v for n, v in re.findall(r"(?m)(?:^|\s)([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\]+)", text)}


def drift(dockerfile: str, constraints: str, imported: list[str]) -> list[str]:
    """What the Dockerfile gets wrong, one line each (empty: in step)."""
    from tradeswarm.sandbox.sandboxd.templates import TEMPLATE_ENVS

    pins, pinned = _pins(dockerfile), _pins(constraints)
    problems = [f"{d} is imported by the runner but not pinned" for d in imported if _norm(d) not in pins]
    problems += [f"{n}=={v} but constraints.txt pins {pinned.get(n)}" for n, v in pins.items() if pinned.get(n) != v]
    copies = dict(re.findall(r"(?m)^COPY\s+(\S+)\s+(\S+)\s*$", dockerfile))
    for src, dest in (("tradeswarm", f"{WORKSPACE}/lib/tradeswarm"), ("data", f"{WORKSPACE}/data")):
        if copies.get(src) != dest:
            problems.append(f"COPY {src} goes to {copies.get(src)}, not {dest}")
    env = dict(re.findall(r"([A-Z_]+)=(\S+)", dockerfile.split("\nENV ", 1)[-1]))
    for key, value in TEMPLATE_ENVS["trading"].items():
        want = f"{WORKSPACE}/{value}" if key == "PYTHONPATH" else value
        if env.get(key) != want:
            problems.append(f"ENV {key}={env.get(key)}, sandboxd sets {want}")
    for entry in ("bin/python", "bin/agent"):
        if entry not in dockerfile:
            problems.append(f"no {entry}: the runner command cannot start")
    return problems


def test_dockerfile_matches_the_runner_constraints_and_sandboxd_template():
    from tradeswarm.agents.deploy import runner_command

    res = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=120, cwd=ROOT,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert res.returncode == 0, res.stderr
    imported = json.loads(res.stdout)
    assert {"numpy", "pandas", "pydantic"} <= set(imported)
    text, constraints = DOCKERFILE.read_text(), (ROOT / "constraints.txt").read_text()
    assert drift(text, constraints, imported) == []
    # what the Dockerfile's bin/agent (warm start's entry) and bin/python (cold start's) serve
    assert runner_command("a1").startswith("bin/agent ")
    assert runner_command("a1", warm=False).startswith("bin/python ")

    # the opposite cases: each kind of drift is caught
    bumped = text.replace("pandas==3.1.1", "pandas==3.0.0")
    assert drift(bumped, constraints, imported) == ["pandas==3.0.0 but constraints.txt pins 3.1.1"]
    dropped = re.sub(r"(?m)^\s*pyarrow==\S+ \\\n", "", text)
    assert drift(dropped, constraints, imported) == ["pyarrow is imported by the runner but not pinned"]
    moved = text.replace(f"COPY data {WORKSPACE}/data", "COPY data /data")
    assert drift(moved, constraints, imported) == [f"COPY data goes to /data, not {WORKSPACE}/data"]
    threads = text.replace("OMP_NUM_THREADS=1", "OMP_NUM_THREADS=4")
    assert drift(threads, constraints, imported) == ["ENV OMP_NUM_THREADS=4, sandboxd sets 1"]
