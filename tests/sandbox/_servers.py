"""A private sandboxd with its own limits, for the tests that need other limits than the fixture's."""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from tradeswarm.sandbox.sandboxd import daemon


@contextmanager
def private_sandboxd(state_dir: Path, *args: str, env: dict[str, str] | None = None) -> Iterator[dict]:
    """Start a daemon on `state_dir` with extra `serve` args (and extra host env); yield SDK params."""
    saved = {k: os.environ.get(k) for k in (env or {})}
    os.environ.update(env or {})
    try:
        ep = daemon.start(state_dir, extra_args=list(args))
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    try:
        yield {"api_key": ep.token, "api_url": ep.url, "sandbox_url": ep.url}
    finally:
        daemon.stop(state_dir)


def host_pids(marker: str) -> list[int]:
    """Host pids of the processes whose command line contains `marker` (a sandbox's own pids
    are those of its pid namespace: the host knows its processes by another number)."""
    import psutil

    found = []
    for p in psutil.process_iter(["cmdline", "status"]):
        if marker in " ".join(p.info["cmdline"] or ()) and p.info["status"] != psutil.STATUS_ZOMBIE:
            found.append(p.pid)
    return found


def host_pid(sandbox_id: str, pid: int | None) -> int | None:
    """The host's pid of process `pid` of sandbox `sandbox_id` (an isolated sandbox numbers its
    processes in its own pid namespace; isolation off, the two are the same)."""
    import psutil

    for p in psutil.process_iter():
        try:
            if p.environ().get("E2B_SANDBOX_ID") != sandbox_id:
                continue
            with open(f"/proc/{p.pid}/status") as fh:
                nspid = next(line.split()[-1] for line in fh if line.startswith("NSpid:"))
        except (psutil.Error, OSError, StopIteration):
            continue
        if int(nspid) == pid:
            return p.pid
    return None


def signal_sandbox_process(sandbox_id: str, pid: int | None, sig: int) -> bool:
    """Send `sig` to process `pid` of a sandbox from the host; False when it is gone."""
    import os

    target = host_pid(sandbox_id, pid)
    if target is None:
        return False
    try:
        os.kill(target, sig)
    except ProcessLookupError:
        return False
    return True
