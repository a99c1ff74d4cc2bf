"""Resource containment of a non-isolated sandbox's processes (`serve --no-isolation`):
rlimits in the child and a pids cgroup. Isolated sandboxes: `_cgroups.py`, `jail_rlimits`.

RLIMIT_NPROC does not bind root (the kernel exempts uid 0), and sandboxd usually runs as
root in CI, so a fork bomb is contained by a per-sandbox `pids` cgroup (v1 or v2) when the
machine offers a writable one, else by RLIMIT_NPROC (which binds every other user).
"""

from __future__ import annotations

import os
import resource
import shlex
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import psutil

from tradeswarm.sandbox.sandboxd._orphans import reap, reap_adopted

_CGROUP_ROOTS = (Path("/sys/fs/cgroup/pids"), Path("/sys/fs/cgroup/unified"), Path("/sys/fs/cgroup"))


@dataclass(frozen=True)
class ResourceLimits:
    """Per-sandbox limits. Isolated, `memory_mb` is the sandbox's memory cgroup limit (all its
    processes together) and `vcpus` its cpuset and CPU quota (`_cgroups.py`); with isolation off
    they are an address-space rlimit per process (RLIMIT_AS) and CPU affinity. Either way the
    vCPU count it reports (and the cost meter prices) is what it can use.
    2 GiB of address space fits an agent (Python + pandas peak at ~1.4 GB virtual, ~130 MB
    resident); the meter prices the cap as RAM, an upper bound.
    """

    cpu_seconds: int = 3600  # a sandbox lives at most an hour by default (E2B Hobby): so may its worker
    memory_mb: int = 2048
    vcpus: int = 1
    max_processes: int = 256
    max_file_mb: int = 1024

    def rlimits(self) -> list[tuple[int, int]]:
        return [
            (resource.RLIMIT_CPU, self.cpu_seconds),
            (resource.RLIMIT_AS, self.memory_mb * 1024 * 1024),
            (resource.RLIMIT_FSIZE, self.max_file_mb * 1024 * 1024),
            (resource.RLIMIT_NPROC, self.max_processes),
            (resource.RLIMIT_CORE, 0),
        ]


def _writable_pids_root() -> Path | None:
    for root in _CGROUP_ROOTS:
        if (root / "cgroup.procs").exists() and os.access(root, os.W_OK):
            if root.name == "pids" or "pids" in _read(root / "cgroup.subtree_control"):
                return root
    return None


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


class PidsCgroups:
    """One pids cgroup per sandbox under a directory owned by this server instance."""

    def __init__(self, instance: str) -> None:
        root = _writable_pids_root()
        self.base: Path | None = None
        if root is not None:
            self._reap_dead_servers(root)
            try:
                base = root / f"tradeswarm-{os.getpid()}-{instance}"
                base.mkdir(exist_ok=True)
                self.base = base
            except OSError:
                self.base = None

    def _reap_dead_servers(self, root: Path) -> None:
        """Kill what the sandboxes of a crashed sandboxd left running (their server's pid,
        part of the cgroup's name, is gone), so a SIGKILLed server leaks no processes."""
        for stale in root.glob("tradeswarm-*-*"):
            try:
                pid = int(stale.name.split("-")[1])
            except ValueError:
                continue
            if _pid_alive(pid):
                continue
            for child in [c for c in stale.iterdir() if c.is_dir()]:
                self.kill_all(child)
            try:
                stale.rmdir()
            except OSError:
                pass

    @property
    def available(self) -> bool:
        return self.base is not None

    def create(self, sandbox_id: str, max_pids: int) -> Path | None:
        if self.base is None:
            return None
        path = self.base / sandbox_id
        try:
            path.mkdir()
            (path / "pids.max").write_text(str(max_pids))
        except OSError:
            return None
        return path

    @staticmethod
    def pids(path: Path | None) -> list[int]:
        if path is None:
            return []
        return [int(p) for p in _read(path / "cgroup.procs").split()]

    def kill_all(self, path: Path | None, owned: frozenset[int] = frozenset(), deadline_s: float = 2.0) -> None:
        """SIGKILL every process in the cgroup until it is empty, reap the killed ones this
        server adopted (all but `owned`, which asyncio waits for), then remove the cgroup."""
        if path is None:
            return
        end = time.monotonic() + deadline_s
        killed: set[int] = set()
        while True:
            pids = self.pids(path)
            if not pids or time.monotonic() > end:
                break
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            killed.update(pids)
            time.sleep(0.002)
        reap(killed - owned)
        try:
            path.rmdir()
        except OSError:
            pass

    def close(self) -> None:
        if self.base is not None:
            for child in self.base.iterdir() if self.base.exists() else ():
                if child.is_dir():
                    self.kill_all(child)
            try:
                self.base.rmdir()
            except OSError:
                pass


def bash_prefix(limits: ResourceLimits, cgroup: Path | None, cores: tuple[int, ...] = ()) -> str:
    """Shell lines that contain the bash process itself before it runs the user's command.

    Used instead of a `preexec_fn`: that forces a full fork() of the (large) server process,
    ~25 ms, where vfork+exec of bash costs ~3 ms. The user's command only runs after these
    lines, in the same process, so there is no window without limits.
    """
    kb = 1024
    lines = [f"ulimit -S -H -t {limits.cpu_seconds} -v {limits.memory_mb * kb} -f {limits.max_file_mb * kb} "
             f"-u {limits.max_processes} -c 0 2>/dev/null"]
    if cgroup is not None:
        lines.append(f"echo $$ > {shlex.quote(str(cgroup / 'cgroup.procs'))}")
    if cores:  # a sandbox that cannot be pinned must not run: its vCPU count would be a claim
        lines.append(f"taskset -pc {','.join(map(str, cores))} $$ >/dev/null || exit 125")
    return "\n".join(lines) + "\n"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def make_preexec(limits: ResourceLimits, cgroup: Path | None, cores: tuple[int, ...] = ()):
    """The function the child runs between fork and exec: join the cgroup, pin, set the rlimits."""
    procs = str(cgroup / "cgroup.procs") if cgroup is not None else None
    rlimits = limits.rlimits()

    def preexec() -> None:
        if cores:
            os.sched_setaffinity(0, cores)
        if procs is not None:
            fd = os.open(procs, os.O_WRONLY)
            try:
                os.write(fd, b"0")
            finally:
                os.close(fd)
        for which, value in rlimits:
            try:
                resource.setrlimit(which, (value, value))
            except (ValueError, OSError):
                pass

    return preexec


class CorePicker:
    """Hands each new sandbox `vcpus` of the host's cores, in turn, so sandboxes spread out."""

    def __init__(self, vcpus: int) -> None:
        self.available = sorted(os.sched_getaffinity(0))
        self.vcpus = max(1, min(vcpus, len(self.available)))
        self._next = 0

    def pick(self, vcpus: int | None = None) -> tuple[int, ...]:
        """`vcpus` cores (default: the server's per-sandbox count), at most all of the host's."""
        n = len(self.available)
        want = min(n, vcpus or self.vcpus)
        cores = tuple(sorted(self.available[(self._next + i) % n] for i in range(want)))
        self._next = (self._next + want) % n
        return cores


def kill_tree(leader: int, kill_group: Callable[[], None]) -> None:
    """SIGKILL a command's process group and every process descended from its leader, also
    those that left the group (`setsid`). The tree is read before anything dies: once a parent
    dies its children are reparented (to sandboxd, the subreaper) and no longer descend from it."""
    try:
        tree = psutil.Process(leader).children(recursive=True)
    except psutil.Error:
        tree = []
    kill_group()
    for p in tree:
        try:
            p.kill()  # psutil refuses a pid reused since the tree was read
        except psutil.Error:
            pass
    reap_adopted(tree)


def jail_rlimits(limits: ResourceLimits, missing: list[str] | tuple[str, ...] = ()) -> list[tuple[int, int]]:
    """The rlimits of a command in an isolated sandbox: its cgroups hold memory (in total) and
    pids, its tmpfs the disk; an rlimit stands in only for a controller that is missing."""
    out = [(resource.RLIMIT_CPU, limits.cpu_seconds), (resource.RLIMIT_CORE, 0)]
    if "memory" in missing:
        out.append((resource.RLIMIT_AS, limits.memory_mb * 1024 * 1024))
    if "pids" in missing:
        out.append((resource.RLIMIT_NPROC, limits.max_processes))
    return out
