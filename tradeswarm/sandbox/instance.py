"""What a caller holds: a `Sandbox`, a `BackgroundProcess` in it, a `CommandResult`.

Every call goes through the manager's narrow `SandboxService` handle: latencies are recorded by
operation name (`sandbox_exec`, `sandbox_start`, `sandbox_attach`, `sandbox_write`,
`sandbox_read`) and API calls counted by the cost meter (with the bytes written). File reads
and writes are retried on transient failures; commands never are (see `Sandbox.run`).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Awaitable, Callable, Protocol, TypeVar, Union

from e2b import AsyncSandbox
from e2b.exceptions import TimeoutException
from e2b.sandbox.commands.command_handle import CommandExitException

if TYPE_CHECKING:
    from tradeswarm.costmeter import CostMeter

T = TypeVar("T")
OutputCallback = Union[Callable[[str], None], Callable[[str], Awaitable[None]]]


def sandbox_gone(exc: TimeoutException) -> bool:
    """True when the SDK's TimeoutException means the sandbox died under the call, not a deadline.

    E2B (and sandboxd) drop the stream of a killed sandbox; the SDK then finds the sandbox gone
    and says so in the message."""
    return "killed or reached its end of life" in str(exc)


class SandboxError(Exception):
    """A sandbox operation failed (after retries, where retrying made sense)."""


class SandboxNotFound(SandboxError, LookupError):
    """The sandbox id is unknown to the service (never existed, killed, or expired)."""


class CommandTimeout(SandboxError, TimeoutError):
    """A command outlived its timeout; the server killed its whole process tree."""


class ResourcesUnavailable(SandboxError, ValueError):
    """The service cannot give a sandbox the resources asked for."""


@dataclass(frozen=True)
class Resources:
    """What a sandbox is to get: vCPUs and memory in MiB (None: the service's default)."""

    vcpus: int | None = None
    memory_mb: int | None = None

    def to_json(self) -> str:
        return json.dumps({k: v for k, v in asdict(self).items() if v is not None})

    def check(self, template: str, vcpus: float, memory_mb: float) -> None:
        """Raise ResourcesUnavailable when `vcpus`/`memory_mb` (what `template` gives) fall short."""
        if (self.vcpus or 0) > vcpus or (self.memory_mb or 0) > memory_mb:
            raise ResourcesUnavailable(
                f"template {template!r} gives {vcpus:g} vCPUs and {memory_mb:g} MB; asked for "
                f"{self.vcpus or vcpus:g} vCPUs and {self.memory_mb or memory_mb:g} MB (E2B's templates fix "
                "a sandbox's resources: build a larger template)")


@dataclass(frozen=True)
class CommandResult:
    exit_code: int
    stdout: str
    stderr: str
    duration_ms: float

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


class SandboxService(Protocol):
    """What a `Sandbox` needs of the manager that made it, and no more (the manager's
    `service` handle): its service-call path (cost meter, concurrency limit, retries,
    latency), its secret check on environments, kill, and the cost meter."""

    @property
    def meter(self) -> "CostMeter | None": ...

    def check_envs(self, envs: dict[str, str] | None) -> None: ...

    async def call(self, op: str, call: Callable[[], Awaitable[T]], *, retry: bool = True,
                   bounded: bool = True) -> T: ...

    async def kill(self, sandbox_id: str) -> bool: ...


class BackgroundProcess:
    """A command running in the background with an open stdin."""

    def __init__(self, sandbox: "Sandbox", handle) -> None:
        self._sandbox_id = sandbox.id
        self._service = sandbox.service
        self._commands = sandbox.sdk_commands
        self._handle = handle
        self.pid: int = handle.pid

    async def send_stdin(self, data: str | bytes) -> None:
        """Write to the process's stdin (one small RPC, no shell involved; counted, not timed:
        it is the hot path of a worker, and not retried: a repeat would deliver the data twice)."""
        meter = self._service.meter
        if meter is not None:
            meter.api_call("stdin")
            # lines per call: what batching saved (validation.cost), one call per line otherwise
            meter.batched("stdin", data.count("\n" if isinstance(data, str) else b"\n"))
        await self._commands.send_stdin(self.pid, data)

    async def close_stdin(self) -> None:
        await self._handle.close_stdin()

    async def disconnect(self) -> None:
        """Stop following the process's output; the process runs on (see `Sandbox.attach`)."""
        await self._handle.disconnect()

    async def kill(self) -> bool:
        """SIGKILL the process and its group; False when it had already ended."""
        try:
            return await self._handle.kill()
        except Exception:  # already gone: the server no longer knows the pid
            return False

    async def wait(self) -> CommandResult:
        """Wait until the process ends; a non-zero exit is a result, not an exception."""
        t0 = time.perf_counter()
        try:
            res = await self._handle.wait()
            code, out, err = res.exit_code, res.stdout, res.stderr
        except CommandExitException as e:
            code, out, err = e.exit_code, e.stdout, e.stderr
        except TimeoutException as e:
            if sandbox_gone(e):
                raise SandboxNotFound(f"sandbox {self._sandbox_id} was killed or expired while the process ran") from e
            raise
        return CommandResult(code, out or "", err or "", (time.perf_counter() - t0) * 1000.0)


class Sandbox:
    """One sandbox the manager created; `id`, `template` and `name` identify it."""

    def __init__(self, service: SandboxService, sdk: AsyncSandbox, template: str, name: str | None) -> None:
        self.service = service
        self._sdk = sdk
        self.id: str = sdk.sandbox_id
        self.template = template
        self.name = name
        self.released_at: float | None = None
        self.expires_at: float = float("inf")  # monotonic time the service will end it
        self.lifetime_s: float = float("inf")  # the timeout_s it was created with

    @property
    def sdk_commands(self):
        """The SDK's command API of this sandbox (what a `BackgroundProcess` writes stdin through)."""
        return self._sdk.commands

    def __repr__(self) -> str:
        return f"Sandbox(id={self.id!r}, template={self.template!r}, name={self.name!r})"

    async def run(self, cmd: str, timeout_s: float = 60, envs: dict[str, str] | None = None,
                  cwd: str | None = None) -> CommandResult:
        """Run `cmd` under `bash -l -c` and wait for it; raises CommandTimeout past `timeout_s`."""
        self.service.check_envs(envs)

        async def call() -> tuple[int, str, str]:
            try:
                res = await self._sdk.commands.run(cmd, envs=envs, cwd=cwd, timeout=timeout_s)
                return res.exit_code, res.stdout, res.stderr
            except CommandExitException as e:
                return e.exit_code, e.stdout, e.stderr

        t0 = time.perf_counter()
        try:
            # Never retried: a command is not idempotent, and a failed attempt may already
            # have run it. Nor bounded by the manager's limit: commands may run for minutes.
            code, out, err = await self.service.call("exec", call, retry=False, bounded=False)
        except TimeoutException as e:
            if sandbox_gone(e):
                raise SandboxNotFound(f"sandbox {self.id} was killed or expired while the command ran") from e
            raise CommandTimeout(f"command timed out after {timeout_s}s in sandbox {self.id}") from e
        return CommandResult(code, out or "", err or "", (time.perf_counter() - t0) * 1000.0)

    async def start(self, cmd: str, on_stdout: OutputCallback | None = None, on_stderr: OutputCallback | None = None,
                    envs: dict[str, str] | None = None, cwd: str | None = None,
                    timeout_s: float = 0) -> BackgroundProcess:
        """Start `cmd` in the background with stdin open; callbacks get decoded text chunks.

        Output is not accumulated (a long-lived worker's output would grow without bound):
        use the callbacks. `timeout_s=0` lets the process run until killed or the sandbox ends.
        """
        self.service.check_envs(envs)
        # Not retried, like `run`: a retry could start a second copy of the process.
        handle = await self.service.call("start", lambda: self._sdk.commands.run(
            cmd, background=True, envs=envs, cwd=cwd, stdin=True, on_stdout=on_stdout, on_stderr=on_stderr,
            timeout=timeout_s, retain_output=False), retry=False, bounded=False)
        return BackgroundProcess(self, handle)

    async def attach(self, pid: int, on_stdout: OutputCallback | None = None,
                     on_stderr: OutputCallback | None = None) -> BackgroundProcess:
        """Follow a background process that is already running (started by another process of
        ours, say): its output from now on reaches the callbacks, and stdin stays writable."""
        # Not retried: a connection the server accepted keeps its output subscription.
        handle = await self.service.call("attach", lambda: self._sdk.commands.connect(
            pid, timeout=0, on_stdout=on_stdout, on_stderr=on_stderr, retain_output=False), retry=False, bounded=False)
        return BackgroundProcess(self, handle)

    async def write(self, path: str, data: bytes | str) -> None:
        """Write a file (retried when transient: the upload replaces the whole file)."""
        await self.service.call("write", lambda: self._sdk.files.write(path, data))
        if self.service.meter is not None:
            self.service.meter.stored(len(data.encode() if isinstance(data, str) else data))

    async def read(self, path: str) -> bytes:
        return bytes(await self.service.call("read", lambda: self._sdk.files.read(path, format="bytes")))

    async def kill(self) -> bool:
        return await self.service.kill(self.id)

    async def metrics(self) -> list:
        """The service's CPU/memory samples for this sandbox (`e2b` SandboxMetrics)."""
        return await self._sdk.get_metrics()
