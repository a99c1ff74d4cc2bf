"""Per-sandbox cgroups of an isolated sandbox: memory (total), CPU quota, cpuset, pids, freezer.

cgroup v1 hierarchies are used where they are writable (this machine: `pids`, `memory`, `cpu`,
`cpuset`, `freezer`), else cgroup v2 where the controller is delegated (the v1 `freezer` only:
pause falls back to signals without it). A controller that is neither is
reported missing (sandboxd says so at start and in `status`). The cgroup files belong to the
host's root and `/sys` is not mounted in a sandbox: a sandbox can neither leave nor lift them.

>>> groups = JailCgroups("test")            # doctest: +SKIP
>>> g = groups.create("i123"); groups.configure(g, memory_mb=512, vcpus=1, cores=(0,), max_pids=256)  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

CONTROLLERS = ("pids", "memory", "cpu", "cpuset", "freezer")
CFS_PERIOD_US = 100_000
_V1 = Path("/sys/fs/cgroup")
_V2 = (Path("/sys/fs/cgroup/unified"), Path("/sys/fs/cgroup"))


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _root_of(controller: str) -> tuple[Path, int] | None:
    """The writable hierarchy serving `controller`, with its version."""
    v1 = _V1 / controller
    if (v1 / "cgroup.procs").exists() and os.access(v1, os.W_OK):
        return v1, 1
    for v2 in _V2:
        if controller in _read(v2 / "cgroup.subtree_control").split() and os.access(v2, os.W_OK):
            return v2, 2
    return None


def _thaw(path: Path) -> None:
    try:
        (path / "freezer.state").write_text("THAWED")
    except OSError:  # not a freezer cgroup
        pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


class JailCgroups:
    """One cgroup per sandbox and controller, under a directory owned by this server instance."""

    def __init__(self, instance: str) -> None:
        self.bases: dict[str, tuple[Path, int]] = {}
        self.missing: list[str] = []
        for ctl in CONTROLLERS:
            found = _root_of(ctl)
            if found is None:
                self.missing.append(ctl)
                continue
            root, version = found
            self._remove_dead_servers(root)
            base = root / f"tradeswarm-jails-{os.getpid()}-{instance}"
            try:
                base.mkdir(exist_ok=True)
                if ctl == "cpuset" and version == 1:  # a v1 cpuset child starts empty: no task may join it
                    for f in ("cpuset.cpus", "cpuset.mems"):
                        (base / f).write_text(_read(root / f).strip() or "0")
            except OSError:
                self.missing.append(ctl)
                continue
            self.bases[ctl] = (base, version)

    @staticmethod
    def _remove_dead_servers(root: Path) -> None:
        """A SIGKILLed server's sandboxes died with it (their init has a parent-death signal):
        what remains are its empty cgroups, removed here."""
        for stale in root.glob("tradeswarm-jails-*-*"):
            try:
                pid = int(stale.name.split("-")[2])
            except (ValueError, IndexError):
                continue
            if _alive(pid):
                continue
            for child in [c for c in stale.iterdir() if c.is_dir()] + [stale]:
                _thaw(child)
                for p in _read(child / "cgroup.procs").split():
                    try:
                        os.kill(int(p), signal.SIGKILL)
                    except OSError:
                        pass
                try:
                    child.rmdir()
                except OSError:
                    pass

    def create(self, name: str) -> dict[str, Path]:
        group = {}
        for ctl, (base, version) in self.bases.items():
            path = base / name
            path.mkdir(exist_ok=True)
            if ctl == "cpuset" and version == 1:
                for f in ("cpuset.cpus", "cpuset.mems"):
                    (path / f).write_text(_read(base / f).strip())
            group[ctl] = path
        return group

    def configure(self, group: dict[str, Path], memory_mb: int, vcpus: int, cores: tuple[int, ...],
                  max_pids: int) -> None:
        """Write the sandbox's limits (again at every create: a spare is configured when taken)."""
        v = {ctl: self.bases[ctl][1] for ctl in group}
        if "pids" in group:
            (group["pids"] / "pids.max").write_text(str(max_pids))
        if "memory" in group:
            limit = str(memory_mb * 1024 * 1024)
            (group["memory"] / ("memory.limit_in_bytes" if v["memory"] == 1 else "memory.max")).write_text(limit)
            if v["memory"] == 1 and (group["memory"] / "memory.memsw.limit_in_bytes").exists():
                try:  # no swap either (the host has none; where it has, the total stays the limit)
                    (group["memory"] / "memory.memsw.limit_in_bytes").write_text(limit)
                except OSError:
                    pass
        if "cpu" in group:
            quota = vcpus * CFS_PERIOD_US
            if v["cpu"] == 1:
                (group["cpu"] / "cpu.cfs_period_us").write_text(str(CFS_PERIOD_US))
                (group["cpu"] / "cpu.cfs_quota_us").write_text(str(quota))
            else:
                (group["cpu"] / "cpu.max").write_text(f"{quota} {CFS_PERIOD_US}")
        if "cpuset" in group and cores:
            (group["cpuset"] / "cpuset.cpus").write_text(",".join(map(str, cores)))

    @staticmethod
    def join(group: dict[str, Path], pid: int) -> None:
        for path in group.values():
            (path / "cgroup.procs").write_text(str(pid))

    @staticmethod
    def pids(group: dict[str, Path] | None) -> list[int]:
        path = next(iter((group or {}).values()), None)
        return [int(p) for p in _read(path / "cgroup.procs").split()] if path else []

    def memory_bytes(self, group: dict[str, Path]) -> int | None:
        if "memory" not in group:
            return None
        name = "memory.usage_in_bytes" if self.bases["memory"][1] == 1 else "memory.current"
        try:
            return int(_read(group["memory"] / name))
        except ValueError:
            return None

    @staticmethod
    def freeze(group: dict[str, Path], frozen: bool) -> bool:
        """Freeze (or thaw) every process of the group at once, also those that left their
        process group; False where there is no freezer."""
        if "freezer" not in group:
            return False
        (group["freezer"] / "freezer.state").write_text("FROZEN" if frozen else "THAWED")
        return True

    @staticmethod
    async def until_frozen(group: dict[str, Path], deadline_s: float = 5.0) -> None:
        """Return once the freezer has stopped every process (FREEZING until then)."""
        end = time.monotonic() + deadline_s
        while _read(group["freezer"] / "freezer.state").strip() == "FREEZING" and time.monotonic() < end:
            await asyncio.sleep(0.002)

    def remove(self, group: dict[str, Path], deadline_s: float = 2.0) -> None:
        """SIGKILL whatever is left in the group (its pid namespace is already dying) and remove it."""
        if "freezer" in group:
            _thaw(group["freezer"])  # a frozen process takes its SIGKILL only once thawed
        end = time.monotonic() + deadline_s
        while (pids := self.pids(group)) and time.monotonic() < end:
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            time.sleep(0.002)
        for path in group.values():
            try:
                path.rmdir()
            except OSError:
                pass

    def close(self) -> None:
        for base, _ in self.bases.values():
            for child in [c for c in base.iterdir() if c.is_dir()] if base.exists() else []:
                self.remove({"x": child}, deadline_s=0.5)
            try:
                base.rmdir()
            except OSError:
                pass
