"""The sandboxes a sandboxd instance holds: creation from templates, limits, lifetime, faults.

Everything here runs on the server's event loop; no locks are needed because no method
awaits between reading and changing the registry's state.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import secrets
import shutil
import signal
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

import psutil

from tradeswarm.sandbox.sandboxd import RESOURCES_KEY
from tradeswarm.sandbox.sandboxd._jailpool import Isolation
from tradeswarm.sandbox.sandboxd._network import EgressPolicy
from tradeswarm.sandbox.sandboxd._limits import CorePicker, PidsCgroups, ResourceLimits, kill_tree
from tradeswarm.sandbox.sandboxd._namespace import HOST_UID_BASE, Jail, JailProcess
from tradeswarm.sandbox.sandboxd._snapshots import Snapshot, Snapshots
from tradeswarm.sandbox.sandboxd.templates import TEMPLATE_ENVS, prepare_templates

ENVD_VERSION = "0.6.4"  # every feature gate in e2b/envd/versions.py is on from here
MAX_TIMEOUT_S = 24 * 3600  # E2B Pro's maximum lifetime
SPARES_PER_TEMPLATE = 8  # workspaces copied ahead, so a create is a rename, not a copy
SPARE_WAIT_S = 2.0  # how long a create waits for a spare being copied before copying itself
MIN_MEMORY_MB = 64  # below this a sandbox's bash cannot start


class ApiError(Exception):
    """An error answered as E2B does: HTTP status and a JSON body `{code, message}`."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


@dataclass
class ServerLimits:
    """E2B-style account limits: concurrent sandboxes and create rate (token bucket).

    `resources` are a sandbox's defaults; a create may ask for up to the host's cores and
    `max_memory_mb` (default: the host's RAM). `spares`: workspaces copied ahead per template.
    """

    max_sandboxes: int = 10
    create_rate_per_s: float = 50.0
    create_burst: int = 20
    resources: ResourceLimits = field(default_factory=ResourceLimits)
    max_memory_mb: int = field(default_factory=lambda: psutil.virtual_memory().total // (1024 * 1024))
    spares: int = SPARES_PER_TEMPLATE

    @property
    def cpu_count(self) -> int:
        """The vCPUs a sandbox is pinned to (the host may have fewer than were asked for)."""
        return max(1, min(self.resources.vcpus, len(os.sched_getaffinity(0))))


@dataclass
class Proc:
    """One process started in a sandbox, with the subscribers of its output stream."""

    pid: int
    proc: asyncio.subprocess.Process
    cmd: str
    args: list[str]
    envs: dict[str, str]
    cwd: str
    tag: str | None
    subscribers: list[asyncio.Queue] = field(default_factory=list)
    end: tuple[int, str] | None = None  # (exit_code, status) once it exited
    deadline: asyncio.TimerHandle | None = None
    timed_out: bool = False
    pty_fd: int | None = None  # the master end, when the process runs on a pseudo-terminal

    def expire(self) -> None:
        """The command outlived its deadline: kill its whole tree and remember why."""
        self.timed_out = True
        if isinstance(self.proc, JailProcess):
            self.proc.kill_group(tree=True)
        else:
            kill_tree(self.pid, self.kill)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Signal the whole process group (the command and everything it started)."""
        if isinstance(self.proc, JailProcess):
            self.proc.kill_group(sig)
            return
        try:
            os.killpg(self.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


@dataclass
class SandboxRecord:
    id: str
    template: str
    workspace: Path
    envd_token: str
    envs: dict[str, str]
    metadata: dict[str, str]
    started_at: datetime
    end_at: float  # monotonic deadline
    timeout_s: int
    client_id: str
    cgroup: Path | None
    limits: ResourceLimits
    cores: tuple[int, ...] = ()
    procs: dict[int, Proc] = field(default_factory=dict)
    cpu_sample: tuple[float, float] | None = None  # (monotonic, cpu seconds) of the last metrics call
    samples: list[dict] = field(default_factory=list)  # metrics answered so far, for ranged queries
    end_wall: datetime | None = None  # end_at as wall time, fixed when the lifetime is set
    state: str = "running"  # or "paused": processes stopped, lifetime clock stopped
    paused_left_s: float = 0.0  # the lifetime left when paused
    auto_pause: bool = False  # at the end of its lifetime, pause instead of kill (E2B's autoPause)
    auto_resume: bool = False  # an envd request to the paused sandbox resumes it
    base_template: str = ""  # whose environment it gets (a snapshot's sandbox: the snapshotted one's)
    watchers: dict = field(default_factory=dict)  # watcher id -> (DirWatcher, root, include_entry)
    jail: Jail | None = None  # its namespaces (isolation on); None: processes in `workspace` on the host

    def set_lifetime(self, seconds: float) -> None:
        """End the sandbox `seconds` from now (the wall time reported stays fixed until changed)."""
        self.end_at = time.monotonic() + seconds
        self.end_wall = datetime.now(timezone.utc) + timedelta(seconds=seconds)

    def end_at_wall(self) -> datetime:
        return self.end_wall or datetime.now(timezone.utc)

    def signal_all(self, sig: int) -> None:
        for p in self.procs.values():
            p.kill(sig)

    def base_env(self) -> dict[str, str]:
        """The scrubbed environment: PATH, HOME, LANG, the template's and create's envs only."""
        ws = "/home/user" if self.jail is not None else str(self.workspace)
        env = {"PATH": f"{ws}/bin:/usr/local/bin:/usr/bin:/bin", "HOME": ws, "LANG": "C.UTF-8",
               "USER": "user", "E2B_SANDBOX": "true", "E2B_SANDBOX_ID": self.id}
        env.update(TEMPLATE_ENVS.get(self.base_template or self.template, {}))
        env.update(self.envs)
        return env


class Registry:
    """Sandboxes by id, created under `state/sandboxes/` from templates in `state/templates/`."""

    def __init__(self, state_dir: Path, limits: ServerLimits | None = None, isolate: bool = True) -> None:
        self.limits = limits or ServerLimits()
        self.root = state_dir
        self.workspaces = state_dir / "sandboxes"
        shutil.rmtree(self.workspaces, ignore_errors=True)  # leftovers of a crashed server
        self.workspaces.mkdir(parents=True, exist_ok=True)
        self.templates = prepare_templates(state_dir / "templates")
        self._spares: dict[str, list[Path]] = {t: [] for t in self.templates}
        self._spares_inflight: dict[str, int] = {t: 0 for t in self.templates}
        self._tasks: set[asyncio.Task] = set()
        # Background copies run one at a time (in parallel they would starve the on-demand copy
        # of a create that found no spare); deletions are batched into one `rm` at a time.
        self._copy_slot = asyncio.Semaphore(1)
        self._spare_added = {t: asyncio.Event() for t in self.templates}
        self._purging = False
        self._empty = {t for t, d in self.templates.items() if not any(d.iterdir())}
        self._creating = 0  # creates admitted and still copying: they count against the cap
        self.snapshots = Snapshots(self.workspaces / ".snapshots")
        self.cgroups = PidsCgroups(uuid.uuid4().hex[:12])
        self.isolation = Isolation(self.templates, self.limits.spares) if isolate else None
        self.cores = CorePicker(self.limits.resources.vcpus)
        self.sandboxes: dict[str, SandboxRecord] = {}
        self._idempotency: dict[str, str] = {}
        self._tokens = float(self.limits.create_burst)
        self._tokens_at = time.monotonic()
        self._fail_next = 0
        self._fail_message = "failed to place sandbox"
        self._throttle_until = 0.0
        self.counters = {"created": 0, "killed": 0, "expired": 0, "create_rejected": 0, "faults_injected": 0,
                         "paused": 0, "resumed": 0}
        self.on_kill: list[Callable[[SandboxRecord, str], None]] = []  # observers of every end (metrics)

    # -- faults (the admin endpoint) ------------------------------------------------------
    def inject(self, fail_next: int | None = None, throttle_s: float | None = None,
               message: str | None = None) -> dict:
        """Set the faults given; those not given keep their current state."""
        if fail_next is not None:
            self._fail_next = max(0, int(fail_next))
        if message:
            self._fail_message = message
        if throttle_s is not None:
            self._throttle_until = time.monotonic() + float(throttle_s) if float(throttle_s) > 0 else 0.0
        return self.fault_state()

    def clear_faults(self) -> dict:
        self._fail_next, self._throttle_until = 0, 0.0
        return self.fault_state()

    def check_throttle(self) -> None:
        """An injected throttle answers every control-plane call 429, as E2B's rate limiter does.

        No Retry-After (as with the concurrency cap): the SDK backs off exponentially (~0.7 s
        over its 3 retries) before it raises RateLimitException to its caller."""
        if time.monotonic() < self._throttle_until:
            self.counters["faults_injected"] += 1
            raise ApiError(429, "Rate limit exceeded, please try again later (injected)")

    def fault_state(self) -> dict:
        return {"fail_next": self._fail_next,
                "throttle_remaining_s": max(0.0, self._throttle_until - time.monotonic()),
                "faults_injected": self.counters["faults_injected"]}

    # -- lifecycle ----------------------------------------------------------------------
    def _admit(self) -> None:
        """Refuse a create as E2B would: injected failures, the concurrency cap, the rate."""
        now = time.monotonic()
        if self._fail_next > 0:
            self._fail_next -= 1
            self.counters["faults_injected"] += 1
            raise ApiError(500, self._fail_message)
        if len(self.sandboxes) + self._creating >= self.limits.max_sandboxes:
            self.counters["create_rejected"] += 1
            raise ApiError(429, f"You have reached the maximum number of concurrent sandboxes "
                                f"({self.limits.max_sandboxes}). Kill some sandboxes or try again later.")
        rate = self.limits.create_rate_per_s
        if rate > 0:
            self._tokens = min(float(self.limits.create_burst), self._tokens + (now - self._tokens_at) * rate)
            self._tokens_at = now
            if self._tokens < 1.0:
                self.counters["create_rejected"] += 1
                raise ApiError(429, f"Create rate limit exceeded ({rate:g}/s)",
                               {"Retry-After": f"{(1.0 - self._tokens) / rate:.3f}"})
            self._tokens -= 1.0

    async def create(self, template: str, timeout_s: int | None, metadata: dict | None, envs: dict | None,
               idempotency_key: str | None = None, auto_pause: bool = False,
               auto_resume: bool = False, copy_of: SandboxRecord | None = None,
               allow_internet: bool | None = None, network: dict | None = None) -> SandboxRecord:
        """A new sandbox from `template` (a template, or a snapshot's id or name), or a copy of
        the workspace of `copy_of` (a fork)."""
        if idempotency_key and idempotency_key in self._idempotency:
            existing = self.sandboxes.get(self._idempotency[idempotency_key])
            if existing is not None:
                return existing
        snap = self.snapshots.find(template) if copy_of is None else None
        source = copy_of.workspace if copy_of is not None else (snap.path if snap is not None else None)
        base_template = copy_of.base_template or copy_of.template if copy_of else (snap.template if snap else "")
        if source is None and template not in self.templates:
            raise ApiError(404, f"template '{template}' not found (known: {', '.join(sorted(self.templates))})")
        timeout_s = int(timeout_s if timeout_s is not None else 300)
        if not 0 < timeout_s <= MAX_TIMEOUT_S:
            raise ApiError(400, f"timeout must be between 1 and {MAX_TIMEOUT_S} seconds")
        metadata = {str(k): str(v) for k, v in (metadata or {}).items()}
        limits, vcpus = self._requested(metadata.pop(RESOURCES_KEY, None))
        self._admit()
        sid = "i" + uuid.uuid4().hex[:19]
        workspace = self.workspaces / sid
        egress = _egress(allow_internet, network)
        if egress.restricted and not self._jailed:
            raise ApiError(501, "network rules need isolated sandboxes (isolation is off on this server)")
        cores = self.cores.pick(vcpus)
        self._creating += 1
        jail = None
        try:
            if self._jailed:
                jail = await self._take_jail(template, copy_of, snap)
                jail.configure(limits.memory_mb, vcpus, cores, limits.max_processes)
                await jail.set_egress(egress if copy_of is None else copy_of.jail.egress)
                workspace = Path("/home/user")
            elif source is not None:
                await _run_fs("cp", "-a", "--", str(source), str(workspace))
            else:
                await self._take_workspace(template, workspace)
        except (OSError, ValueError) as e:
            if jail is not None:
                jail.kill()
            else:
                shutil.rmtree(workspace, ignore_errors=True)
            raise ApiError(400 if isinstance(e, ValueError) else 500, f"failed to create sandbox: {e}") from e
        finally:
            self._creating -= 1
        rec = SandboxRecord(
            id=sid, template=template, workspace=workspace, envd_token=secrets.token_urlsafe(24),
            envs={str(k): str(v) for k, v in (envs or {}).items()}, metadata=metadata,
            started_at=datetime.now(timezone.utc), end_at=0.0,
            timeout_s=timeout_s, client_id=uuid.uuid4().hex[:8],
            cgroup=None if jail else self.cgroups.create(sid, limits.max_processes), limits=limits, cores=cores,
            auto_pause=auto_pause, auto_resume=auto_resume, base_template=base_template, jail=jail,
        )
        rec.set_lifetime(timeout_s)
        self.sandboxes[sid] = rec
        if idempotency_key:
            self._idempotency[idempotency_key] = sid
        self.counters["created"] += 1
        return rec

    def _requested(self, raw: str | None) -> tuple[ResourceLimits, int]:
        """The sandbox's limits and vCPU count: the defaults, or the request (400 beyond the caps)."""
        base = self.limits.resources
        if raw is None:
            return base, self.cores.vcpus
        try:
            req = json.loads(raw)
            vcpus = int(req.get("vcpus") or self.cores.vcpus)
            memory_mb = int(req.get("memory_mb") or base.memory_mb)
        except (ValueError, TypeError, AttributeError):
            raise ApiError(400, f'metadata {RESOURCES_KEY!r} must be JSON {{"vcpus": int, "memory_mb": int}}') from None
        max_vcpus = len(self.cores.available)
        if not 1 <= vcpus <= max_vcpus:
            raise ApiError(400, f"vcpus={vcpus} is outside this server's range 1..{max_vcpus}")
        if not MIN_MEMORY_MB <= memory_mb <= self.limits.max_memory_mb:
            raise ApiError(400, f"memory_mb={memory_mb} is outside this server's range "
                                f"{MIN_MEMORY_MB}..{self.limits.max_memory_mb}")
        return dataclasses.replace(base, vcpus=vcpus, memory_mb=memory_mb), vcpus

    def get(self, sandbox_id: str) -> SandboxRecord:
        rec = self.sandboxes.get(sandbox_id)
        if rec is None:
            raise ApiError(404, f"sandbox \"{sandbox_id}\" doesn't exist or you don't have access to it")
        return rec

    def set_timeout(self, sandbox_id: str, timeout_s: int) -> None:
        if not 0 < int(timeout_s) <= MAX_TIMEOUT_S:
            raise ApiError(400, f"timeout must be between 1 and {MAX_TIMEOUT_S} seconds")
        self.get(sandbox_id).set_lifetime(int(timeout_s))

    async def snapshot(self, sandbox_id: str, name: str | None) -> Snapshot:
        """Copy the sandbox's workspace into a snapshot new sandboxes can start from."""
        rec = self.get(sandbox_id)
        if name and self.snapshots.find(name) is not None:
            raise ApiError(409, f"a snapshot named {name!r} already exists")
        snap = self.snapshots.new(sandbox_id, rec.base_template or rec.template, name)
        snap.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            if rec.jail is not None:
                await self._copy_out(rec, snap.path)
            else:
                await _run_fs("cp", "-a", "--", str(rec.workspace), str(snap.path))
        except OSError as e:
            shutil.rmtree(snap.path, ignore_errors=True)
            raise ApiError(500, f"failed to snapshot sandbox {sandbox_id}: {e}") from e
        self.snapshots.add(snap)
        return snap

    async def _copy_out(self, rec: SandboxRecord, dest: Path) -> None:
        """Copy an isolated sandbox's /home/user into the new host directory `dest`. Its init
        copies (inside its mount namespace, so a link the sandbox planted is copied as a link,
        never followed on the host) into `dest`, handed over as an fd and owned by the sandbox's
        root (an unprivileged host uid)."""
        dest.mkdir(mode=0o700)
        os.chown(dest, HOST_UID_BASE, HOST_UID_BASE)
        fd = os.open(dest, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            with rec.jail.thawed():
                await rec.jail.call("copyout", [fd])
        finally:
            os.close(fd)

    async def _take_jail(self, template: str, copy_of: SandboxRecord | None, snap: Snapshot | None) -> Jail:
        """An isolated sandbox's init: a spare of `template`, or one started on a snapshot or on
        a copy of the forked sandbox's /home/user."""
        if snap is not None:
            return await self.isolation.start_from(snap.path)
        if copy_of is None:
            return await self.isolation.take(template)
        tmp = self.workspaces / f".fork-{uuid.uuid4().hex[:12]}"
        try:
            await self._copy_out(copy_of, tmp)
            return await self.isolation.start_from(tmp)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    async def fork(self, sandbox_id: str, count: int, timeout_s: int | None) -> list[SandboxRecord | ApiError]:
        """`count` new sandboxes, each with a copy of the sandbox's workspace; each may fail alone."""
        source = self.get(sandbox_id)
        if not 1 <= count <= 100:
            raise ApiError(400, "count must be between 1 and 100")
        out: list[SandboxRecord | ApiError] = []
        for _ in range(count):
            try:
                out.append(await self.create(source.template, timeout_s, dict(source.metadata), dict(source.envs),
                                             copy_of=source))
            except ApiError as e:
                out.append(e)
        return out

    def pause(self, sandbox_id: str) -> None:
        """Stop every process of the sandbox (the cgroup freezer, else SIGSTOP to each command's
        process group) and its lifetime clock; 409 when paused."""
        rec = self.get(sandbox_id)
        if rec.state == "paused":
            raise ApiError(409, f"sandbox {sandbox_id} is already paused")
        if rec.jail is None or not rec.jail.freeze():
            rec.signal_all(signal.SIGSTOP)
        rec.paused_left_s = max(0.0, rec.end_at - time.monotonic())
        rec.end_at = float("inf")
        rec.state = "paused"
        self.counters["paused"] += 1

    def resume(self, sandbox_id: str, timeout_s: int | None = None) -> bool:
        """Continue a paused sandbox's processes; its lifetime is `timeout_s`, else what was left.

        False when it was running (nothing to do)."""
        rec = self.get(sandbox_id)
        if rec.state != "paused":
            return False
        if rec.jail is not None and rec.jail.frozen:
            rec.jail.freeze(False)
        else:
            rec.signal_all(signal.SIGCONT)
        rec.state = "running"
        rec.set_lifetime(int(timeout_s) if timeout_s else max(1.0, rec.paused_left_s))
        self.counters["resumed"] += 1
        return True

    async def signalled(self, sandbox_id: str) -> None:
        """Return once the signals sent to the sandbox's processes were delivered: an isolated
        sandbox's init takes requests in order, so its answer to a later one says so."""
        rec = self.get(sandbox_id)
        if rec.jail is not None and rec.jail.frozen:
            await rec.jail.cgroups.until_frozen(rec.jail.group)
        elif rec.jail is not None:
            try:
                await rec.jail.call("ping")
            except OSError:  # gone meanwhile: nothing left to signal
                pass

    def kill(self, sandbox_id: str, reason: str = "killed") -> None:
        """Kill every process of the sandbox, remove its workspace and forget it."""
        rec = self.get(sandbox_id)
        del self.sandboxes[sandbox_id]
        self._idempotency = {k: v for k, v in self._idempotency.items() if v != sandbox_id}
        for w in list(rec.watchers.values()):
            w[0].close()
        for p in rec.procs.values():
            if p.deadline is not None:
                p.deadline.cancel()
            p.kill()
        if rec.jail is not None:  # its root is a tmpfs of its own mount namespace: gone with it
            rec.jail.kill()
        else:
            self._remove_host_sandbox(rec)
        self.counters["expired" if reason == "expired" else "killed"] += 1
        for observe in self.on_kill:
            observe(rec, reason)

    def _remove_host_sandbox(self, rec: SandboxRecord) -> None:
        """Kill what a non-isolated sandbox left in its cgroup and delete its workspace."""
        self.cgroups.kill_all(rec.cgroup, owned=frozenset(p.pid for p in rec.procs.values() if p.proc.returncode is None))
        trash = self.workspaces / f".trash-{rec.id}"
        try:
            rec.workspace.rename(trash)
            self._schedule_purge()
        except (OSError, RuntimeError):  # no running loop (shutdown): delete inline
            shutil.rmtree(trash if trash.exists() else rec.workspace, ignore_errors=True)

    def expire(self) -> list[str]:
        """Kill the sandboxes whose lifetime has passed, as E2B does (pause those created so)."""
        now = time.monotonic()
        gone = [sid for sid, rec in self.sandboxes.items() if rec.end_at <= now]
        for sid in gone:
            if self.sandboxes[sid].auto_pause:
                self.pause(sid)
            else:
                self.kill(sid, reason="expired")
        return gone

    def close(self) -> None:
        for sid in list(self.sandboxes):
            self.kill(sid)
        self.cgroups.close()
        self.snapshots.close()
        if self.isolation is not None:
            self.isolation.close()
        shutil.rmtree(self.workspaces, ignore_errors=True)

    # -- workspaces: copied ahead by `cp -a` processes and deleted by `rm -rf` ones, so
    # neither the copy nor the deletion holds the event loop (or the GIL) ---------------------
    async def start(self) -> None:
        """Find out whether sandboxes can be isolated, then start spares (once the loop runs)."""
        if self.isolation is not None:
            await self.isolation.detect()
        if self._jailed:
            self.isolation.refill()
        else:
            self._refill_spares()

    @property
    def _jailed(self) -> bool:
        return self.isolation is not None and self.isolation.available

    async def update_network(self, sandbox_id: str, allow_internet: bool | None, network: dict | None) -> None:
        """E2B's `update_network`: the whole policy replaced, at once for running commands too."""
        rec = self.get(sandbox_id)
        if rec.jail is None:
            raise ApiError(501, "update_network needs isolated sandboxes (isolation is off on this server)")
        egress = _egress(allow_internet, network)
        try:
            await rec.jail.set_egress(egress)
        except ValueError as e:
            raise ApiError(400, str(e)) from None
        except OSError as e:
            raise ApiError(500, f"update_network failed: {e}") from e

    async def _take_workspace(self, template: str, workspace: Path) -> None:
        """Move a ready copy of the template into place, or copy now when none is ready."""
        ready = self._spares[template]
        if template in self._empty:
            workspace.mkdir()
            return
        # A copy already under way finishes sooner than a new one, and two copies at once on
        # a small machine make both slower: wait for it (bounded) before copying ourselves.
        deadline = time.monotonic() + SPARE_WAIT_S
        while not ready and self._spares_inflight[template] and time.monotonic() < deadline:
            event = self._spare_added[template]
            event.clear()
            try:
                async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                    await event.wait()
            except TimeoutError:
                break
        if ready:
            ready.pop().rename(workspace)
        else:
            await _run_fs("cp", "-a", "--", str(self.templates[template]), str(workspace))
        self._refill_spares()

    def _refill_spares(self) -> None:
        for template, ready in self._spares.items():
            while template not in self._empty and len(ready) + self._spares_inflight[template] < self.limits.spares:
                self._spares_inflight[template] += 1
                self._background(self._make_spare(template))

    async def _make_spare(self, template: str) -> None:
        path = self.workspaces / f".spare-{template}-{uuid.uuid4().hex[:8]}"
        try:
            async with self._copy_slot:
                await _run_fs("cp", "-a", "--", str(self.templates[template]), str(path))
            self._spares[template].append(path)
            self._spare_added[template].set()
        except OSError:
            shutil.rmtree(path, ignore_errors=True)
        finally:
            self._spares_inflight[template] -= 1
            self._schedule_purge()

    def _schedule_purge(self) -> None:
        """Deletions wait until no spare is being copied: they are never urgent."""
        if not self._purging and not any(self._spares_inflight.values()):
            self._purging = True
            self._background(self._purge())

    async def _purge(self) -> None:
        """Delete every killed workspace, as many per `rm` process as have piled up."""
        try:
            while trash := [str(p) for p in self.workspaces.glob(".trash-*")]:
                await _run_fs("rm", "-rf", "--", *trash)
        finally:
            self._purging = False

    def _background(self, coro) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


    # -- views --------------------------------------------------------------------------
    def info(self, rec: SandboxRecord, detail: bool = False) -> dict:
        out = {
            "templateID": rec.template, "alias": rec.template, "sandboxID": rec.id,
            "clientID": rec.client_id, "startedAt": rec.started_at.isoformat(),
            "endAt": rec.end_at_wall().isoformat(), "cpuCount": len(rec.cores) or self.limits.cpu_count,
            "memoryMB": rec.limits.memory_mb,
            "diskSizeMB": self.isolation.disk_mb if rec.jail is not None else 1024, "state": rec.state,
            "envdVersion": ENVD_VERSION, "metadata": rec.metadata,
        }
        if detail:
            out["envdAccessToken"] = rec.envd_token
            if rec.jail is not None and rec.jail.egress.restricted:
                out["network"] = rec.jail.egress.view()
        return out

async def _run_fs(*argv: str) -> None:
    """Run a coreutils command as a separate process; OSError with its message on failure."""
    proc = await asyncio.create_subprocess_exec(*argv, stdin=asyncio.subprocess.DEVNULL,
                                                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
                                                start_new_session=True)  # so it is never taken for an orphan
    _, err = await proc.communicate()
    if proc.returncode != 0:
        raise OSError(f"{argv[0]} failed: {err.decode(errors='replace').strip()}")


def _egress(allow: bool | None, network: dict | None) -> EgressPolicy:
    try:
        return EgressPolicy.parse(allow, network)
    except ValueError as e:
        raise ApiError(400, str(e)) from None
