"""Isolation of sandboxd's sandboxes: whether it is available, and sandboxes started ahead.

`Isolation.detect` tries one sandbox at server start: when namespaces cannot be made (not
root, no user namespaces, an unknown architecture), the reason is logged, printed at start
and shown by `tradeswarm sandboxd status`, and sandboxd falls back to plain processes in a
workspace directory (never silently). Missing cgroup controllers are reported the same way.

Starting a sandbox's init takes ~100-200 ms (an interpreter, the root's mounts, the copy of
the template): `spares` per template are started in the background, so a create takes a
ready one, writes its limits into its cgroups and hands it out. The agents' zygote
(`_warm.py`) is started here too, once isolation works, at the spares' low priority.
"""

from __future__ import annotations

import asyncio
import logging
import os
import platform
import uuid
from pathlib import Path

from tradeswarm.sandbox.sandboxd import _network
from tradeswarm.sandbox.sandboxd._cgroups import JailCgroups
from tradeswarm.sandbox.sandboxd._namespace import Jail, system_binds
from tradeswarm.sandbox.sandboxd._warm import ENTRY, Zygote

log = logging.getLogger("tradeswarm.sandboxd")

SPARE_NICE = 10  # spares start at a low priority: a burst of refills must not slow live sandboxes
DISK_MB = 1024  # the size every sandbox reports (diskSizeMB) and its tmpfs root is limited to


class Isolation:
    """The jails of one server: availability, cgroups, spares per template."""

    def __init__(self, templates: dict[str, Path], spares: int, disk_mb: int = DISK_MB) -> None:
        self.templates, self.spares_wanted, self.disk_mb = templates, spares, disk_mb
        self.cgroups = JailCgroups(uuid.uuid4().hex[:12])
        self.binds = system_binds()
        self.reason: str | None = None  # why isolation is off (None: on)
        self.net_reason = _network.missing()  # why sandboxes share the host's network namespace (None: they don't)
        self._spares: dict[str, list[Jail]] = {t: [] for t in templates}
        self._inflight: dict[str, int] = {t: 0 for t in templates}
        self._tasks: set[asyncio.Task] = set()
        self._slot = asyncio.Semaphore(1)  # one spare at a time: the live sandboxes come first
        self.zygote: Zygote | None = None  # warm agent starts: only where a template has `bin/agent`
        self.taken = {"spare": 0, "started": 0}  # creates served by a spare / by a start on demand

    @property
    def available(self) -> bool:
        return self.reason is None

    def status(self) -> dict:
        return {"isolation": "namespaces" if self.available else "off", "isolation_unavailable": self.reason,
                "cgroup_controllers_missing": list(self.cgroups.missing),
                "network_isolation": "off" if self.reason or self.net_reason else
                                     "own namespace, slirp4netns uplink, no host loopback",
                "network_isolation_unavailable": self.reason or self.net_reason,
                "disk_mb": self.disk_mb, "creates_from": dict(self.taken),
                "agent_starts": "cold" if self.zygote is None or self.zygote.reason else "warm",
                "agent_starts_cold_because": None if self.zygote is None else self.zygote.reason}

    async def detect(self) -> None:
        """Start one sandbox; on failure isolation is off, with the reason."""
        if platform.system() != "Linux" or platform.machine() not in ("x86_64", "aarch64"):
            self.reason = f"namespaces need Linux on x86_64/aarch64 (this is {platform.system()} {platform.machine()})"
        elif os.geteuid() != 0:
            self.reason = "sandboxd is not root: it cannot map a sandbox's uids nor create its cgroups"
        else:
            try:
                jail = await self._start(next(iter(self.templates)))
            except OSError as e:
                self.reason = f"a test sandbox failed to start: {e}"
            else:
                jail.kill()
                await jail.proc.wait()
        if self.reason:
            log.warning("sandbox isolation is OFF: %s", self.reason)
        else:
            with_entry = [d for d in self.templates.values() if (d / ENTRY).is_file()]
            if with_entry:
                self.zygote = Zygote(with_entry[0])
                task = asyncio.get_running_loop().create_task(self.zygote.start(SPARE_NICE))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        if self.net_reason and not self.reason:
            log.warning("sandbox network isolation is OFF: %s", self.net_reason)
        if self.cgroups.missing:
            log.warning("cgroup controllers unavailable (their limits are not enforced): %s",
                        ", ".join(self.cgroups.missing))

    async def _start(self, template: str, nice: int = 0) -> Jail:
        tdir = self.templates[template]
        return await Jail.start(self.cgroups, uuid.uuid4().hex[:16], self.binds,
                                tdir if any(tdir.iterdir()) else None, self.disk_mb, nice, self.net_reason is None)

    async def take(self, template: str) -> Jail:
        """A started sandbox of `template`: a spare when one is ready, else started now."""
        ready = self._spares[template]
        while ready:
            jail = ready.pop()
            if not jail.dead:
                self.refill()
                self.taken["spare"] += 1
                return jail
        self.refill()
        self.taken["started"] += 1
        return await self._start(template)

    async def start_from(self, workspace: Path) -> Jail:
        """A sandbox started now on a copy of `workspace` (a snapshot's, a fork's)."""
        return await Jail.start(self.cgroups, uuid.uuid4().hex[:16], self.binds, workspace, self.disk_mb,
                                own_net=self.net_reason is None)

    def refill(self) -> None:
        for template, ready in self._spares.items():
            while len(ready) + self._inflight[template] < self.spares_wanted:
                self._inflight[template] += 1
                task = asyncio.get_running_loop().create_task(self._spare(template))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _spare(self, template: str) -> None:
        try:
            async with self._slot:
                jail = await self._start(template, nice=SPARE_NICE)
            self._spares[template].append(jail)
        except OSError as e:
            log.warning("starting a spare %s sandbox failed: %s", template, e)
        finally:
            self._inflight[template] -= 1

    def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self.zygote is not None:
            self.zygote.close()
        for ready in self._spares.values():
            for jail in ready:
                jail.kill()
            ready.clear()
        self.cgroups.close()
