"""Latency of sandbox operations through the real e2b SDK against a private sandboxd.

Measures P50/P95/P99 of: create (`base`, an empty workspace; `trading` from the template,
which mostly takes a workspace the server copied ahead; `trading` on a second server started
with `--spares 0`, so every create is a full copy of the template: the true cold create;
handed out by the warm pool), exec of a trivial command, status and kill, each over `--ops`
operations, plus the stdin→stdout round trip of a background worker (the path the stress test
drives). Prints a table and the ratios pooled-create ÷ cold-create, all measured in this run.

    python bench/sandbox_ops.py            # 200 ops each
    python bench/sandbox_ops.py --ops 50   # quicker
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tradeswarm.latency import LatencyRecorder  # noqa: E402
from tradeswarm.sandbox import SandboxManager  # noqa: E402
from tradeswarm.sandbox.sandboxd import daemon  # noqa: E402
from tradeswarm.settings import Settings  # noqa: E402


def pct(samples: list[float], q: float) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, int(round(q / 100 * (len(s) - 1))))]


async def create_kill(mgr: SandboxManager, make, n: int, before=None) -> list[float]:
    """Milliseconds of `n` creates made by `make()`, each followed by an (untimed) kill."""
    times = []
    for _ in range(n):
        if before is not None:
            await before()
        t0 = time.perf_counter()
        sb = await make()
        times.append((time.perf_counter() - t0) * 1000)
        await mgr.kill(sb.id)
    return times


async def measure(settings: Settings, ops: int) -> dict[str, list[float]]:
    rec = LatencyRecorder()
    out: dict[str, list[float]] = {}
    async with SandboxManager(settings=settings, recorder=rec, pool_size=4, pool_template="trading") as mgr:
        out["create base (empty workspace)"] = await create_kill(mgr, lambda: mgr.create("base"), ops)
        out["create from template (trading)"] = await create_kill(mgr, lambda: mgr.create("trading"), ops)
        out["kill"] = rec.samples("sandbox_kill")[-(2 * ops):]
        # Back-to-back creates outrun the server's spare workspaces (copied ahead in the
        # background); paced at 10/s, as a deploy of a few agents is, they find one ready.
        out["create from template, paced 10/s"] = await create_kill(
            mgr, lambda: mgr.create("trading"), max(20, ops // 4), before=lambda: asyncio.sleep(0.1))

        async def pool_full() -> None:  # the pool refills off the hot path
            while mgr.idle_count("trading") < mgr.pool_size:
                await asyncio.sleep(0.002)

        out["create from warm pool"] = await create_kill(mgr, lambda: mgr.acquire("trading"), ops, before=pool_full)

        sb = await mgr.create("trading")
        before = rec.count("sandbox_exec")
        for _ in range(ops):
            await sb.run("true")
        out["exec `true`"] = rec.samples("sandbox_exec")[before:]
        for _ in range(ops):
            await mgr.status(sb.id)
        out["status"] = rec.samples("sandbox_status")[-ops:]

        got: list[str] = []
        arrived = asyncio.Event()

        def on_out(chunk: str) -> None:
            got.append(chunk)
            arrived.set()

        proc = await sb.start("cat", on_stdout=on_out)
        rtt = []
        for i in range(ops):
            arrived.clear()
            t0 = time.perf_counter()
            await proc.send_stdin(f"task {i}\n")
            await arrived.wait()
            rtt.append((time.perf_counter() - t0) * 1000)
        out["stdin→stdout round trip"] = rtt
        n = ops * 5
        got.clear()
        t0 = time.perf_counter()
        await asyncio.gather(*(proc.send_stdin(f"t{i}\n") for i in range(n)))
        while "".join(got).count("\n") < n:
            await asyncio.sleep(0.001)
        out["_throughput_per_s"] = [n / (time.perf_counter() - t0)]
        await proc.kill()
    leaked = await SandboxManager(settings=settings).leaked()
    assert leaked == [], leaked
    return out


async def measure_full_copy(settings: Settings, ops: int) -> list[float]:
    """Creates of `trading` on a server without spares: each one copies the whole template."""
    async with SandboxManager(settings=settings) as mgr:
        return await create_kill(mgr, lambda: mgr.create("trading"), ops)


async def create_and_exec(settings: Settings, ops: int) -> dict[str, list[float]]:
    """Back-to-back template creates and trivial execs: the two figures isolation must keep fast."""
    rec = LatencyRecorder()
    async with SandboxManager(settings=settings, recorder=rec) as mgr:
        await asyncio.sleep(3)  # the spares of a just-started server: as a warm server has them
        creates = await create_kill(mgr, lambda: mgr.create("trading"), ops)
        sb = await mgr.create("base")
        before = rec.count("sandbox_exec")
        for _ in range(ops):
            await sb.run("true")
        return {"create": creates, "exec": rec.samples("sandbox_exec")[before:]}


def _server(state: Path, *args: str) -> Settings:
    daemon.start(state, extra_args=["--max-sandboxes", "50", "--create-rate", "0", *args])
    return Settings(TRADESWARM_STATE_DIR=str(state))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ops", type=int, default=200)
    args = ap.parse_args()
    load_before = os.getloadavg()[0]
    state = Path(tempfile.mkdtemp(prefix="sandbox-bench-"))
    for k in ("E2B_API_KEY", "E2B_API_URL", "E2B_SANDBOX_URL"):
        os.environ.pop(k, None)
    try:
        res = asyncio.run(measure(_server(state / "spares"), args.ops))
    finally:
        daemon.stop(state / "spares")
    try:  # one server at a time: the first one's background copies would slow this one's
        res["create trading, no spare (full copy)"] = asyncio.run(
            measure_full_copy(_server(state / "no-spares", "--spares", "0"), args.ops))
    finally:
        daemon.stop(state / "no-spares")
    # Isolation (namespaces per sandbox) against none, side by side, same ops, one after the other.
    side: dict[str, dict[str, list[float]]] = {}
    for label, extra in (("isolated", ()), ("no isolation", ("--no-isolation",)), ("isolated again", ())):
        sd = state / label.replace(" ", "-")
        try:
            side[label] = asyncio.run(create_and_exec(_server(sd, *extra), max(20, args.ops // 4)))
        finally:
            daemon.stop(sd)
    throughput = res.pop("_throughput_per_s")[0]
    print(f"machine: {platform.machine()} {os.cpu_count()} cores, {platform.python_implementation()} "
          f"{platform.python_version()}, load {load_before:.2f} before / {os.getloadavg()[0]:.2f} after; "
          f"{args.ops} ops each\n")
    print(f"{'operation':38} {'n':>5} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}")
    for name, s in res.items():
        print(f"{name:38} {len(s):5d} {pct(s, 50):8.2f} {pct(s, 95):8.2f} {pct(s, 99):8.2f}")
    pooled = res["create from warm pool"]
    print()
    for label, key in (("cold-create (full copy of trading)", "create trading, no spare (full copy)"),
                       ("create of empty base", "create base (empty workspace)"),
                       ("template-create (spares on)", "create from template (trading)")):
        other = res[key]
        print(f"pooled-create ÷ {label}: p50 {pct(pooled, 50) / pct(other, 50):.4f}   "
              f"p95 {pct(pooled, 95) / pct(other, 95):.4f}")
    print("\nisolation side by side (template create back to back, exec `true`):")
    print(f"{'server':16} {'create p50':>11} {'create p95':>11} {'exec p50':>9} {'exec p95':>9}")
    for label, m in side.items():
        print(f"{label:16} {pct(m['create'], 50):11.2f} {pct(m['create'], 95):11.2f} "
              f"{pct(m['exec'], 50):9.2f} {pct(m['exec'], 95):9.2f}")
    iso, off = side["isolated again"], side["no isolation"]
    print(f"isolated ÷ no isolation, p95: create {pct(iso['create'], 95) / pct(off['create'], 95):.2f}   "
          f"exec {pct(iso['exec'], 95) / pct(off['exec'], 95):.2f}")
    print(f"stdin→stdout pipelined throughput: {throughput:,.0f} lines/s through one background process")
    print("context: E2B advertises ~150 ms per create; the replaced system claimed 4,200 ms P95.")


if __name__ == "__main__":
    main()
