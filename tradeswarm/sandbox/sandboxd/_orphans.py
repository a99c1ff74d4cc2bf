"""sandboxd reaps the zombies its sandboxes leave behind instead of leaving them to the host's init.

A process whose parent dies is reparented to the nearest "child subreaper", else to init. Until
someone reaps it, its zombie keeps a slot in the sandbox's pids cgroup: `pids.current` counts
zombies, `cgroup.procs` does not. An init that reaps lazily (seen here: ~1.5 s after a fork
bomb; in CI long enough that the sandbox could fork 9 of its 48 processes) leaves a sandbox that
survived a fork bomb unable to fork. So sandboxd is the subreaper of its sandboxes and reaps
what it adopts whenever a child dies (SIGCHLD).

Which zombie children were adopted and which are asyncio's to wait for? sandboxd starts every
child of its own as a session leader (`start_new_session`), so a zombie child that leads no
process group is an adopted orphan. One that made itself a leader (setsid) is reaped by pid
when its command times out (`reap_adopted`) or its sandbox is killed (`reap`).
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import time
from pathlib import Path
from typing import Iterable

import psutil

_PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> bool:
    """Adopt the orphans of every process below this one (Linux prctl); False where refused."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _zombie_children() -> list[tuple[int, int]]:
    """(pid, process group) of each child of this process that has exited and awaits reaping."""
    found = []
    for children in Path("/proc/self/task").glob("*/children"):  # a child belongs to the thread that forked it
        try:
            pids = children.read_text().split()
        except OSError:
            continue
        for pid in pids:
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
            except OSError:
                continue
            state, _ppid, pgrp = stat.rpartition(")")[2].split()[:3]  # the name may hold spaces and ')'
            if state == "Z":
                found.append((int(pid), int(pgrp)))
    return found


def _reaped(pid: int) -> bool:
    try:
        return os.waitpid(pid, os.WNOHANG)[0] == pid
    except ChildProcessError:  # not ours (its parent lives) or already gone
        return True


def reap_orphans() -> int:
    """Reap every adopted orphan that has exited; the number reaped."""
    return sum(_reaped(pid) for pid, pgrp in _zombie_children() if pid != pgrp)


def reap(pids: Iterable[int], deadline_s: float = 0.5) -> None:
    """Reap these killed processes (none of them asyncio's) as they exit, for at most `deadline_s`."""
    left = set(pids)
    end = time.monotonic() + deadline_s
    while left:
        left = {pid for pid in left if not _reaped(pid)}
        if not left or time.monotonic() > end:
            return
        time.sleep(0.002)


def reap_adopted(procs: Iterable[psutil.Process], interval_s: float = 0.05, deadline_s: float = 2.0) -> None:
    """Reap these killed processes once they have exited and this server adopted them (their
    parents die too, in any order), polling from the running event loop without blocking it."""
    me, loop = os.getpid(), asyncio.get_running_loop()
    end = loop.time() + deadline_s

    def poll(left: list[psutil.Process]) -> None:
        still = []
        for p in left:
            try:
                # is_running compares start times: a pid reused since (say, by a new command
                # of ours, which asyncio waits for) is never taken for this one
                if p.is_running() and (p.ppid() != me or not _reaped(p.pid)):
                    still.append(p)
            except psutil.Error:
                continue
        if still and loop.time() < end:
            loop.call_later(interval_s, poll, still)

    poll(list(procs))
