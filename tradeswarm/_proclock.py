"""What a background server's start/stop needs: an exclusive file lock and "is this pid alive".

Shared by sandboxd (tradeswarm/sandbox/sandboxd/daemon.py) and the local Prefect server
(tradeswarm/prefect_server.py); kept free of heavy imports so their CLI commands start fast.
"""

from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


class Busy(RuntimeError):
    """Another process holds the lock (a non-blocking `flock`)."""


@contextmanager
def flock(path: Path, blocking: bool = True) -> Iterator[None]:
    """Hold an exclusive lock on `path` (created if missing); `Busy` when not `blocking` and taken."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            raise Busy(str(path)) from None
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def alive(pid: int) -> bool:
    """True while `pid` runs (a zombie child of ours counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False
