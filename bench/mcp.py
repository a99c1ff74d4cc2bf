"""What MCP costs: one tool call through the MCP server vs the same operation through the Python API.

Against a private sandboxd, on one sandbox: `get_e2b_sandbox_status` and `execute_e2b_process`
(`true`) through (1) the Python API the tools call (`tradeswarm.sandbox.tracked`), (2) the MCP
server over stdio and (3) over streamable HTTP with its bearer token, each with the SDK's real
client. The three paths alternate call by call, so they share the machine's load; prints
P50/P95 per path and the overhead ratio MCP ÷ API, measured side by side in this run.

    python bench/mcp.py             # 200 calls per operation and path
    python bench/mcp.py --ops 50    # quicker
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# the repo instead of bench/ (this file's own folder) on the path: `bench/mcp.py` would shadow the SDK
sys.path[0] = str(Path(__file__).resolve().parents[1])

from tradeswarm.cli.mcp.probe import call, http_session, stdio_session  # noqa: E402
from tradeswarm.sandbox import tracked  # noqa: E402
from tradeswarm.sandbox.sandboxd import daemon  # noqa: E402
from tradeswarm.settings import Settings  # noqa: E402

PATHS = ("python API", "MCP stdio", "MCP HTTP")


def pct(samples: list[float], q: float) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, int(round(q / 100 * (len(s) - 1))))]


def _http_server(env: dict) -> tuple[subprocess.Popen, str, str]:
    proc = subprocess.Popen([sys.executable, "-m", "tradeswarm", "mcp", "--http", "--port", "0"],
                            stderr=subprocess.PIPE, text=True, env=env)
    line = proc.stderr.readline()
    m = re.search(r"serving (http://\S+) \(bearer token in (\S+)\)", line)
    if not m:
        proc.kill()
        raise RuntimeError(f"the HTTP server did not start: {line!r}")
    return proc, m.group(1), Path(m.group(2)).read_text().strip()


async def measure(settings: Settings, ops: int, url: str, token: str) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {f"{op} / {p}": [] for op in ("status", "exec true") for p in PATHS}
    sid = tracked.create(settings, "base", name="mcp-bench", origin="bench")["id"]
    try:
        async with stdio_session() as stdio, http_session(url, token) as http:
            calls = {
                "status": ("get_e2b_sandbox_status", {"sandbox_id": sid},
                           lambda: tracked.status(settings, sid)),
                "exec true": ("execute_e2b_process", {"sandbox_id": sid, "command": "true", "timeout": 30},
                              lambda: tracked.execute(settings, sid, "true", 30)),
            }
            for op, (tool, args, direct) in calls.items():
                for session in (stdio, http):  # warm-up: first calls import and connect
                    await call(session, tool, args)
                direct()
                for _ in range(ops):
                    t0 = time.perf_counter()
                    direct()  # in this thread, as a Python caller makes it
                    out[f"{op} / python API"].append((time.perf_counter() - t0) * 1000)
                    for name, session in (("MCP stdio", stdio), ("MCP HTTP", http)):
                        t0 = time.perf_counter()
                        await call(session, tool, args)
                        out[f"{op} / {name}"].append((time.perf_counter() - t0) * 1000)
    finally:
        tracked.destroy(settings, sid, force=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ops", type=int, default=200)
    args = ap.parse_args()
    load_before = os.getloadavg()[0]
    state = Path(tempfile.mkdtemp(prefix="mcp-bench-"))
    for k in ("E2B_API_KEY", "E2B_API_URL", "E2B_SANDBOX_URL"):
        os.environ.pop(k, None)
    os.environ["TRADESWARM_STATE_DIR"] = str(state)  # the MCP servers' provider: this sandboxd
    daemon.start(state, extra_args=["--max-sandboxes", "10", "--create-rate", "0"])
    proc = None
    try:
        proc, url, token = _http_server(dict(os.environ))
        res = asyncio.run(measure(Settings(), args.ops, url, token))
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)
        daemon.stop(state)
    print(f"machine: {platform.machine()} {os.cpu_count()} cores, {platform.python_implementation()} "
          f"{platform.python_version()}, load {load_before:.2f} before / {os.getloadavg()[0]:.2f} after; "
          f"{args.ops} calls per operation and path, the paths alternating\n")
    print(f"{'operation / path':30} {'n':>5} {'p50 ms':>8} {'p95 ms':>8}")
    for name, s in res.items():
        print(f"{name:30} {len(s):5d} {pct(s, 50):8.2f} {pct(s, 95):8.2f}")
    print()
    for op in ("status", "exec true"):
        api = res[f"{op} / python API"]
        for p in PATHS[1:]:
            s = res[f"{op} / {p}"]
            print(f"{op:10} {p} ÷ python API: p50 {pct(s, 50) / pct(api, 50):.2f}x "
                  f"(+{pct(s, 50) - pct(api, 50):.2f} ms)   p95 {pct(s, 95) / pct(api, 95):.2f}x "
                  f"(+{pct(s, 95) - pct(api, 95):.2f} ms)")


if __name__ == "__main__":
    main()
