"""`SandboxManager`: create, pool, reuse and always clean up sandboxes, over the e2b SDK.

```python
async with SandboxManager() as mgr:            # E2B with E2B_API_KEY, else the local sandboxd
    sb = await mgr.create("trading")
    res = await sb.run("python -c 'import pandas; print(pandas.__version__)'")
    assert res.exit_code == 0
# every sandbox the manager created is killed here, also on exceptions and cancellation
```

Every service call goes through `SandboxManager._call`: its latency is recorded as
`sandbox_<op>` (`create`, `status`, `list`, `kill`, `connect`, `set_timeout`, and the handles'
`exec`, `start`, `attach`, `write`, `read`), each attempt is counted by the cost meter as an
API call of that kind, and idempotent calls are retried when the failure is transient.
Counters: `created`, `killed`, `create_failures`, `retries`.

Resources: `create(..., resources=Resources(vcpus=2, memory_mb=1024))`. sandboxd grants them
per sandbox (a reserved metadata key, see `tradeswarm.sandbox.sandboxd`); E2B's templates fix
them, so there the template's must be at least what is asked (else `ResourcesUnavailable`).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import defaultdict
from typing import Any, Awaitable, Callable, TypeVar

from e2b import AsyncSandbox
from e2b.exceptions import NotFoundException

from tradeswarm.costmeter import CostMeter
from tradeswarm.latency import LatencyRecorder
from tradeswarm.sandbox.provider import connection_params
from tradeswarm.sandbox._retry import RateLimiter, with_retries
from tradeswarm.sandbox.instance import Resources, ResourcesUnavailable, Sandbox, SandboxError, SandboxNotFound
from tradeswarm.sandbox.sandboxd import RESOURCES_KEY
from tradeswarm.settings import Settings

T = TypeVar("T")

#: Metadata key naming the manager that created a sandbox (for leak checks across runs).
OWNER_KEY = "tradeswarm_owner"
POOL_LIFETIME_S = 3600  # pooled sandboxes wait idle: they get E2B Hobby's maximum lifetime
EXPIRY_MARGIN_S = 30.0  # an idle sandbox this close to its lifetime is killed, not handed out


class _ManagerService:
    """The manager as its sandboxes see it (`instance.SandboxService`): the call path, the
    secret check, kill and the meter; nothing else of the manager is reachable from a sandbox."""

    def __init__(self, manager: "SandboxManager") -> None:
        self._manager = manager

    @property
    def meter(self) -> CostMeter | None:
        return self._manager.meter

    def check_envs(self, envs: dict[str, str] | None) -> None:
        self._manager._check_envs(envs)

    async def call(self, op: str, call: Callable[[], Awaitable[T]], *, retry: bool = True, bounded: bool = True) -> T:
        return await self._manager._call(op, call, retry=retry, bounded=bounded)

    async def kill(self, sandbox_id: str) -> bool:
        return await self._manager.kill(sandbox_id)


class SandboxManager:
    """Creates sandboxes and guarantees they are killed when the manager closes.

    - `max_concurrency`: service calls in flight at once (lifecycle, status, list, connect,
      file reads and writes; not commands, which may run for minutes).
    - `rate_per_s`: client-side create rate (None: no limit beyond the service's).
    - `pool_size`: sandboxes of `pool_template` created on entry and handed out by `acquire`.
    - `idle_timeout_s`: released sandboxes idle longer than this are killed (lazily, and by a
      janitor task while the manager is open).
    - `keepalive`: while the manager is open, extend each sandbox's lifetime before it runs
      out (by its `timeout_s` again), so a long run keeps its sandboxes while a crashed owner's
      still end within `timeout_s`, as on E2B.
    - `labels`: metadata put on every sandbox it creates (the run id: `runlabel.run_labels`).
    """

    def __init__(self, settings: Settings | None = None, recorder: LatencyRecorder | None = None,
                 meter: CostMeter | None = None, max_concurrency: int = 10, rate_per_s: float | None = None,
                 pool_size: int = 0, idle_timeout_s: float | None = None, pool_template: str = "trading",
                 retry_attempts: int = 5, keepalive: bool = True, labels: dict[str, str] | None = None) -> None:
        self.settings = settings or Settings()
        self.labels = dict(labels or {})  # metadata on every sandbox (see tradeswarm.sandbox.runlabel)
        self.recorder = recorder
        self.meter = meter
        self.pool_size = pool_size
        self.pool_template = pool_template
        self.idle_timeout_s = idle_timeout_s
        self.retry_attempts = retry_attempts
        self.keepalive = keepalive
        self.owner = uuid.uuid4().hex[:12]
        self.counters = {"created": 0, "killed": 0, "create_failures": 0, "retries": 0}
        self._params: dict[str, Any] | None = None
        self._sem = asyncio.Semaphore(max_concurrency)
        self.service = _ManagerService(self)  # the narrow handle each Sandbox gets
        self._rate = RateLimiter(rate_per_s, burst=1)
        self._live: dict[str, Sandbox] = {}
        self._ever: set[str] = set()
        self._idle: dict[str, list[Sandbox]] = defaultdict(list)  # template -> released or pooled
        self._granted: dict[tuple, tuple[float, float]] = {}  # (template, resources) -> (vcpu, memory_mb)
        self._janitor: asyncio.Task | None = None
        self._bg: set[asyncio.Task] = set()  # pool refills and idle kills in flight
        self._refilling = 0
        self._secrets = self.settings.secret_values()
        self._created_blind = False  # a create ended without an answer: sweep by owner tag at close

    # -- context ------------------------------------------------------------------------
    async def __aenter__(self) -> "SandboxManager":
        await self._connect()
        if self.idle_timeout_s or self.keepalive:
            self._janitor = asyncio.get_running_loop().create_task(self._janitor_loop())
        if self.pool_size:
            try:
                await asyncio.gather(*(self._fill_one(self.pool_template) for _ in range(self.pool_size)))
            except BaseException:
                await self.close()
                raise
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    async def _connect(self) -> dict[str, Any]:
        if self._params is None:
            self._params = await asyncio.to_thread(connection_params, self.settings)
        return self._params

    @property
    def provider(self) -> str:
        return self.settings.provider

    async def close(self) -> None:
        """Kill every sandbox this manager created and still holds; safe to call twice.

        If the kills themselves are cancelled (a second Ctrl-C), the rest are killed
        synchronously so that nothing is left behind.
        """
        if self._janitor is not None:
            self._janitor.cancel()
            self._janitor = None
        # Refills are awaited, not cancelled: a create cancelled mid-flight could leave a
        # sandbox the service made but this manager never learnt about.
        if self._bg:
            await asyncio.gather(*self._bg, return_exceptions=True)
        ids = list(self._live)
        try:
            await asyncio.gather(*(self.kill(i) for i in ids), return_exceptions=True)
            if self._created_blind:
                await self._sweep()
        except asyncio.CancelledError:
            self._kill_sync([i for i in ids if i in self._live])
            raise
        left = [i for i in ids if i in self._live]
        if left:  # a kill failed transiently beyond its retries: one last synchronous attempt
            self._kill_sync(left)

    async def _sweep(self) -> None:
        """Kill sandboxes carrying this manager's owner tag that it never learnt the id of
        (a create cancelled or failed after the service had already made the sandbox)."""
        try:
            orphans = [i["id"] for i in await self.list(mine_only=True)]
        except Exception:  # the service is unreachable: nothing more can be done from here
            return
        for sid in orphans:
            self._ever.add(sid)
            try:
                await self.kill(sid)
            except Exception:
                continue
        self._created_blind = False

    def _kill_sync(self, ids: list[str]) -> None:
        from e2b import Sandbox as SyncSandbox

        for sid in ids:
            try:
                SyncSandbox.kill(sid, **(self._params or {}))
            except Exception:
                continue
            self._forget(sid)

    # -- lifecycle ------------------------------------------------------------------------
    def _check_envs(self, envs: dict[str, str] | None) -> None:
        """Refuse to pass a configured secret into a sandbox, under any variable name."""
        for value in (envs or {}).values():
            if any(s and s in str(value) for s in self._secrets):
                raise ValueError("refusing to pass a configured secret into a sandbox environment")

    async def _call(self, op: str, call: Callable[[], Awaitable[T]], retry: bool = True, bounded: bool = True,
                    rate: bool = False) -> T:
        """One service operation: each attempt counted by the cost meter as an API call `op`,
        under the concurrency limit (`bounded`) and the create rate (`rate`), retried on
        transient failures (`retry`: idempotent calls only), its latency recorded as `sandbox_<op>`."""
        async def attempt() -> T:
            if rate:
                await self._rate.acquire()
            if self.meter is not None:
                self.meter.api_call(op)
            if not bounded:
                return await call()
            async with self._sem:
                return await call()

        t0 = time.perf_counter()
        try:
            if not retry:
                return await attempt()
            return await with_retries(attempt, attempts=self.retry_attempts, on_retry=self._count_retry)
        finally:
            if self.recorder is not None:
                self.recorder.record(f"sandbox_{op}", (time.perf_counter() - t0) * 1000.0)

    def _count_retry(self, _: BaseException) -> None:
        self.counters["retries"] += 1

    async def create(self, template: str = "trading", name: str | None = None, metadata: dict[str, str] | None = None,
                     timeout_s: int = 300, envs: dict[str, str] | None = None,
                     resources: Resources | None = None) -> Sandbox:
        """Create a sandbox from `template` (retrying transient failures with one idempotency key).

        `resources`: on sandboxd the sandbox gets them (a 400 `SandboxException` above the
        server's caps); on E2B the template must offer them, else `ResourcesUnavailable`.
        """
        self._check_envs(envs)
        self._reap_idle()
        params = await self._connect()
        meta = {**self.labels, **(metadata or {}), OWNER_KEY: self.owner}
        if name:
            meta["name"] = name
        on_e2b = self.provider == "e2b"
        if resources and not on_e2b:
            meta[RESOURCES_KEY] = resources.to_json()
        if resources and on_e2b and (template, None) in self._granted:  # known too small: no create at all
            resources.check(template, *self._granted[(template, None)])
        key = uuid.uuid4().hex
        try:
            sdk = await self._call("create", lambda: AsyncSandbox.create(
                template, timeout=timeout_s, metadata=meta, envs=envs or {}, idempotency_key=key, **params), rate=True)
        except BaseException:
            self.counters["create_failures"] += 1
            self._created_blind = True
            raise
        sb = Sandbox(self.service, sdk, template, name)
        sb.lifetime_s = timeout_s
        sb.expires_at = time.monotonic() + timeout_s
        self._live[sb.id] = sb
        self._ever.add(sb.id)
        self.counters["created"] += 1
        if self.meter is not None or (resources and on_e2b):
            try:
                vcpu, mem = await self._granted_resources(template, None if on_e2b else resources, sb.id)
                if resources and on_e2b:
                    resources.check(template, vcpu, mem)
            except BaseException:
                await self.kill(sb.id)
                raise
            if self.meter is not None:
                self.meter.sandbox_started(sb.id, vcpu=vcpu, memory_mb=mem)
        return sb

    async def connect(self, sandbox_id: str, template: str = "trading", timeout_s: int | None = None) -> Sandbox:
        """A handle on a running sandbox this manager did not create (`timeout_s` extends its
        lifetime). It is not this manager's to clean up: `close` leaves it alone, `kill` ends it."""
        params = await self._connect()
        kwargs = {"timeout": timeout_s} if timeout_s else {}
        try:
            sdk = await self._call("connect", lambda: AsyncSandbox.connect(sandbox_id, **kwargs, **params))
        except NotFoundException:  # the SDK says "Paused sandbox … not found" for any unknown id
            raise SandboxNotFound(f"no sandbox {sandbox_id} (`tradeswarm list` shows the running ones)") from None
        return Sandbox(self.service, sdk, template, None)

    async def _granted_resources(self, template: str, resources: Resources | None, sandbox_id: str) -> tuple[float, float]:
        """(vCPUs, memory MiB) the service reports for sandboxes of `template` made with `resources`."""
        key = (template, resources)
        if key not in self._granted:
            info = await self._call("status", lambda: AsyncSandbox.get_info(sandbox_id, **self._params))
            self._granted[key] = (float(info.cpu_count), float(info.memory_mb))
        return self._granted[key]

    async def kill(self, sandbox_id: str) -> bool:
        """Kill a sandbox; False when the service no longer knew it."""
        params = await self._connect()
        existed = await self._call("kill", lambda: AsyncSandbox.kill(sandbox_id, **params))
        self._forget(sandbox_id)
        return existed

    def _forget(self, sandbox_id: str) -> None:
        sb = self._live.pop(sandbox_id, None)
        if sb is not None:
            self.counters["killed"] += 1
            pool = self._idle.get(sb.template, [])
            if sb in pool:
                pool.remove(sb)
            if self.meter is not None:
                self.meter.sandbox_stopped(sandbox_id)

    async def status(self, sandbox_id: str) -> dict[str, Any]:
        """The service's view of one sandbox; raises SandboxNotFound when it is gone."""
        params = await self._connect()
        try:
            info = await self._call("status", lambda: AsyncSandbox.get_info(sandbox_id, **params))
        except NotFoundException as e:
            raise SandboxNotFound(f"sandbox {sandbox_id} not found") from e
        return _info_dict(info)

    async def list(self, mine_only: bool = False) -> list[dict[str, Any]]:
        """Every running sandbox the key can see (`mine_only`: created by this manager)."""
        from e2b.sandbox.sandbox_api import SandboxQuery

        params = await self._connect()
        query = SandboxQuery(metadata={OWNER_KEY: self.owner}) if mine_only else None
        pager = AsyncSandbox.list(query=query, **params)
        out: list[dict[str, Any]] = []
        while pager.has_next:  # one call per page; a page fetch is idempotent
            out.extend(_info_dict(i) for i in await self._call("list", pager.next_items))
        return out

    async def leaked(self) -> list[str]:
        """Ids this manager ever created that the service still reports alive."""
        alive = {i["id"] for i in await self.list()}
        return sorted(alive & self._ever)

    # -- pool and reuse ---------------------------------------------------------------------
    async def _fill_one(self, template: str) -> None:
        sb = await self.create(template, timeout_s=POOL_LIFETIME_S)
        sb.released_at = time.monotonic()
        self._idle[template].append(sb)

    async def acquire(self, template: str = "trading", **create_kwargs: Any) -> Sandbox:
        """A warm sandbox of `template` from the pool or the idle set, else a new one.

        With `create_kwargs` (envs, name, metadata, timeout_s, resources) it is always a new
        one: a pooled or released sandbox was made without them.
        """
        if create_kwargs:
            return await self.create(template, **create_kwargs)
        self._reap_idle()
        idle = self._idle.get(template)
        while idle and idle[-1].expires_at - time.monotonic() < EXPIRY_MARGIN_S:
            self._background(self.kill(idle.pop().id))  # about to hit its lifetime: not worth handing out
        if idle:
            sb = idle.pop()
            sb.released_at = None
            if template == self.pool_template and self.pool_size:
                self._schedule_refill(template)
            return sb
        return await self.create(template, **create_kwargs)

    async def release(self, sb: Sandbox) -> None:
        """Hand a sandbox back for reuse; it is killed once idle longer than `idle_timeout_s`."""
        if sb.id not in self._live:
            return
        sb.released_at = time.monotonic()
        self._idle[sb.template].append(sb)
        self._reap_idle()

    def _schedule_refill(self, template: str) -> None:
        if len(self._idle[template]) + self._refilling >= self.pool_size:
            return
        self._refilling += 1

        async def refill() -> None:
            try:
                await self._fill_one(template)
            finally:
                self._refilling -= 1

        self._background(refill())

    def _background(self, coro) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._bg.add(task)
        # A failed refill is already counted in create_failures; the next acquire creates on demand.
        task.add_done_callback(lambda t: (self._bg.discard(t), t.cancelled() or t.exception()))

    def _reap_idle(self) -> None:
        if not self.idle_timeout_s:
            return
        now = time.monotonic()
        for template, idle in self._idle.items():
            keep = self.pool_size if template == self.pool_template else 0
            stale = [sb for sb in idle if sb.released_at is not None and now - sb.released_at > self.idle_timeout_s]
            for sb in stale[: max(0, len(idle) - keep)]:
                idle.remove(sb)
                self._background(self.kill(sb.id))

    async def _janitor_loop(self) -> None:
        # A short tick: a sandbox created between two ticks may have a lifetime of seconds.
        tick = max(0.05, min(0.5, (self.idle_timeout_s or 2.0) / 4))
        while True:
            await asyncio.sleep(tick)
            self._reap_idle()
            if self.keepalive:
                await self._extend_lifetimes()

    async def _extend_lifetimes(self) -> None:
        """Renew, by its own `timeout_s`, each sandbox past half of its remaining lifetime."""
        now = time.monotonic()
        due = [sb for sb in self._live.values() if sb.expires_at - now < sb.lifetime_s / 2]

        async def renew(sb: Sandbox) -> None:
            try:
                await self._call("set_timeout", lambda: AsyncSandbox.set_timeout(sb.id, int(sb.lifetime_s), **self._params))
                sb.expires_at = time.monotonic() + sb.lifetime_s
            except Exception:  # gone or unreachable: the next status/kill will say so
                pass

        await asyncio.gather(*(renew(sb) for sb in due))

    def idle_count(self, template: str | None = None) -> int:
        if template is not None:
            return len(self._idle.get(template, []))
        return sum(len(v) for v in self._idle.values())

    @property
    def live(self) -> list[Sandbox]:
        return list(self._live.values())


def _info_dict(info) -> dict[str, Any]:
    return {
        "id": info.sandbox_id, "template": info.template_id, "state": str(getattr(info.state, "value", info.state)),
        "started_at": info.started_at.isoformat(), "end_at": info.end_at.isoformat(),
        "cpu_count": info.cpu_count, "memory_mb": info.memory_mb, "metadata": dict(info.metadata or {}),
        "name": (info.metadata or {}).get("name"),
    }


__all__ = ["SandboxManager", "SandboxError", "SandboxNotFound", "Resources", "ResourcesUnavailable", "OWNER_KEY"]
