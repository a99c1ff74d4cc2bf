"""What a sandbox's own network namespace costs: side by side, in one run, interleaved.

For `--n` rounds, starts one sandbox init in a network namespace of its own with its
slirp4netns uplink (what every sandbox gets) and one in the host's namespace (what a sandbox
with internet had before), and measures in each: the start (a spare's; a create takes a started
one), 5 execs of `true` through its init, and, with the uplink, replacing its egress rules
(what a create with allowOut/denyOut or an `update_network` adds), and a TCP connect from
inside to a listener on a non-loopback host address. Prints P50/P95 and the ratios. Needs
root (as sandboxd's isolation does).

    sudo .venv/bin/python bench/sandbox_net.py --n 30
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import socket
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.sandbox.sandboxd._net import host_address  # noqa: E402
from tradeswarm.sandbox.sandboxd._jailpool import Isolation  # noqa: E402
from tradeswarm.sandbox.sandboxd._namespace import Jail  # noqa: E402
from tradeswarm.sandbox.sandboxd._network import EgressPolicy  # noqa: E402

EXECS = 5  # per sandbox
_CONNECT = ("import socket, time\nt = time.perf_counter()\nsocket.create_connection(({host!r}, {port}), 5).close()\n"
            "print((time.perf_counter() - t) * 1000)")


def pct(samples: list[float], q: float) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, int(round(q / 100 * (len(s) - 1))))]


async def run_in(jail: Jail, argv: list[str]) -> str:
    proc = await jail.spawn(argv, {"PATH": "/usr/bin:/bin"}, None, False, [])
    out = await proc.stdout.read()
    await proc.wait()
    return out.decode()


async def round_(iso: Isolation, own_net: bool, host: str, port: int, rows: dict[str, list[float]]) -> None:
    kind = "own" if own_net else "host"
    t = time.perf_counter()
    jail = await Jail.start(iso.cgroups, uuid.uuid4().hex[:16], iso.binds, None, iso.disk_mb, own_net=own_net)
    rows[f"start {kind}"].append((time.perf_counter() - t) * 1000)
    try:
        for _ in range(EXECS):
            t = time.perf_counter()
            await run_in(jail, ["true"])
            rows[f"exec {kind}"].append((time.perf_counter() - t) * 1000)
        rows[f"connect {kind}"].append(float(await run_in(jail, [sys.executable, "-c", _CONNECT.format(host=host, port=port)])))
        if own_net:
            t = time.perf_counter()
            await jail.set_egress(EgressPolicy.parse(None, {"allowOut": [host], "denyOut": ["0.0.0.0/0"]}))
            rows["rules own"].append((time.perf_counter() - t) * 1000)
    finally:
        jail.kill()
        await jail.proc.wait()


async def main(n: int) -> None:
    host = host_address()
    srv = socket.create_server((host, 0))
    srv.setblocking(False)
    loop = asyncio.get_running_loop()
    loop.add_reader(srv.fileno(), lambda: srv.accept()[0].close())
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "base").mkdir()
        iso = Isolation({"base": Path(tmp) / "base"}, spares=0)
        rows: dict[str, list[float]] = {f"{m} {k}": [] for m in ("start", "exec", "connect") for k in ("own", "host")}
        rows["rules own"] = []
        try:
            for i in range(n):
                for own_net in ((True, False) if i % 2 else (False, True)):  # neither always first
                    await round_(iso, own_net, host, srv.getsockname()[1], rows)
        finally:
            iso.close()
    print(f"{platform.node()} · {os.cpu_count()} cores · load {os.getloadavg()[0]:.1f} (1 min, at the end) · n={n}")
    print(f"{'measurement':<14} {'P50 ms':>9} {'P95 ms':>9}")
    for name, samples in rows.items():
        print(f"{name:<14} {pct(samples, 50):>9.2f} {pct(samples, 95):>9.2f}")
    for m in ("start", "exec", "connect"):
        print(f"{m}: own namespace / host's at P50 {pct(rows[f'{m} own'], 50) / pct(rows[f'{m} host'], 50):.2f}, "
              f"at P95 {pct(rows[f'{m} own'], 95) / pct(rows[f'{m} host'], 95):.2f}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=30)
    asyncio.run(main(ap.parse_args().n))
