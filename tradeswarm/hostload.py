"""How busy the machine was while a measured stage ran, and who kept it busy.

Why: a latency measured on a 2-core machine says as much about the neighbours as about the
code. Each stage of a certification records, next to its numbers, the load average and the
CPU the machine spent during it, split into the processes of the run (the certifier itself,
and the local sandbox server with its sandboxes and agents) and everything else, so a report
can tell a slow sandbox from a busy host (results.json `host_load`, docs/contracts.md §7).

>>> with HostLoad({"certifier": os.getpid()}, interval_s=0.05) as load:
...     _ = sum(range(10_000))
>>> sorted(load.summary)[:3]
['busy_pct', 'cores', 'groups_pct']
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import psutil


def _busy_and_total(t) -> tuple[float, float]:
    """CPU seconds the machine spent busy, and in all, from a `psutil.cpu_times()` reading."""
    total = sum(t)
    return total - t.idle - getattr(t, "iowait", 0.0), total


def tree_cpu_s(pid: int) -> float:
    """CPU seconds used so far by `pid` and its live descendants (and the children they reaped).

    Between two readings the difference is what the tree spent, including processes that were
    born and reaped within the tree; a process re-parented outside the tree is lost."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0.0
    spent = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
        except psutil.Error:  # it ended while we looked: its parent's reaped time has it
            continue
        spent += t.user + t.system + t.children_user + t.children_system
    return spent


class HostLoad:
    """A context manager measuring the machine while its block runs.

    `groups`: {name: pid}, each the root of a process tree of this run. `summary` (after the
    block): `start` and `end` (Unix time), `seconds`, `cores`, `load_avg_1m` at start and end, `busy_pct` (the machine's
    CPU busy over the block, 100 = every core), `peak_busy_pct` (busiest sampling interval),
    `groups_pct` ({name: the tree's CPU as % of the machine}), `others_pct` (the rest of the
    machine: other users' processes), `samples`.
    """

    def __init__(self, groups: dict[str, int], interval_s: float = 0.5) -> None:
        self.groups = dict(groups)
        self.interval_s = interval_s
        self.summary: dict = {}
        self._stop = threading.Event()
        self._peak = 0.0
        self._samples = 0

    def __enter__(self) -> "HostLoad":
        self._t0, self._wall0 = time.monotonic(), time.time()
        self._load0 = os.getloadavg()[0]
        self._cpu0 = _busy_and_total(psutil.cpu_times())
        self._tree0 = {name: tree_cpu_s(pid) for name, pid in self.groups.items()}
        self._thread = threading.Thread(target=self._sample, name="hostload", daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        last = self._cpu0
        while not self._stop.wait(self.interval_s):
            now = _busy_and_total(psutil.cpu_times())
            if now[1] > last[1]:
                self._peak = max(self._peak, 100.0 * (now[0] - last[0]) / (now[1] - last[1]))
                self._samples += 1
            last = now

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        seconds = time.monotonic() - self._t0
        busy, total = (b - a for a, b in zip(self._cpu0, _busy_and_total(psutil.cpu_times())))
        cores = psutil.cpu_count() or 1
        capacity = max(seconds * cores, 1e-9)  # CPU seconds the machine had
        groups = {name: round(100.0 * max(tree_cpu_s(pid) - self._tree0[name], 0.0) / capacity, 1)
                  for name, pid in self.groups.items()}
        busy_pct = 100.0 * busy / total if total > 0 else 0.0
        self.summary = {
            "start": round(self._wall0, 3), "end": round(time.time(), 3), "seconds": round(seconds, 3), "cores": cores,
            "load_avg_1m": {"start": round(self._load0, 2), "end": round(os.getloadavg()[0], 2)},
            "busy_pct": round(busy_pct, 1), "peak_busy_pct": round(max(self._peak, busy_pct), 1),
            "groups_pct": groups, "others_pct": round(max(busy_pct - sum(groups.values()), 0.0), 1),
            "samples": self._samples,
        }


def run_groups(provider: str, state_dir: Path) -> dict[str, int]:
    """The process trees of a certification: this process, and the local sandboxd (whose
    sandboxes and agents are its children) when the provider is local and it runs."""
    groups = {"certifier": os.getpid()}
    if provider == "local":
        from tradeswarm.sandbox.sandboxd.daemon import read_endpoint

        ep = read_endpoint(Path(state_dir))
        if ep is not None:
            groups["sandboxd"] = ep.pid
    return groups
