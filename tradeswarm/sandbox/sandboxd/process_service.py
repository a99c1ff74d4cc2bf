"""envd's `process.Process` Connect service: real subprocesses in the sandbox's workspace.

Each command runs in its own session (so its process group is the unit a timeout or a kill
signals), with the sandbox's scrubbed environment, its rlimits and its pids cgroup. Output is
read by one task per pipe and fanned out to the subscribed streams (the Start call and any
Connect calls) without copies beyond the bytes object the pipe returns.
"""

from __future__ import annotations

import asyncio
import base64
import os
import signal
from typing import AsyncIterator

from connectrpc.code import Code
from connectrpc.errors import ConnectError
from protobuf import Oneof

from e2b.envd.process import process_pb as pb
from e2b.envd.process.process_connect import Process

from tradeswarm.sandbox.sandboxd import _pty
from tradeswarm.sandbox.sandboxd._exit import exit_code
from tradeswarm.sandbox.sandboxd._limits import bash_prefix, jail_rlimits, make_preexec
from tradeswarm.sandbox.sandboxd._namespace import JailError
from tradeswarm.sandbox.sandboxd._streams import abort_current_stream
from tradeswarm.sandbox.sandboxd._warm import warm_argv
from tradeswarm.sandbox.sandboxd.registry import ApiError, Proc, Registry, SandboxRecord
from tradeswarm.sandbox.sandboxd.workspace import resolve_path, sandbox_of

KEEPALIVE_S = 30.0
_READ_CHUNK = 65536
_END = object()
_GONE = object()  # the sandbox died under the process: the stream drops (see _streams)
_BASH = ("/bin/bash", "bash", "/usr/bin/bash")


def _event(field: str, value) -> pb.ProcessEvent:
    return pb.ProcessEvent(event=Oneof(field, value))


def _find(rec: SandboxRecord, selector: pb.ProcessSelector | None) -> Proc:
    sel = selector.selector if selector is not None else None
    match sel:
        case Oneof(field="pid", value=pid):
            proc = rec.procs.get(pid)
        case Oneof(field="tag", value=tag):
            proc = next((p for p in rec.procs.values() if p.tag == tag), None)
        case _:
            proc = None
    if proc is None or proc.end is not None:
        raise ConnectError(Code.NOT_FOUND, f"process {sel.value if sel else None!r} not found")
    return proc


class ProcessService(Process):
    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    async def _spawn(self, rec: SandboxRecord, cfg: pb.ProcessConfig, stdin: bool, tag: str | None,
                     timeout_ms: float | None, tty: pb.PTY | None = None,
                     user: str | None = None) -> tuple[Proc, asyncio.Queue]:
        if rec.jail is not None:
            proc, master = await self._spawn_jailed(rec, cfg, stdin, user, tty)
            return self._track(rec, proc, proc.pid, cfg, cfg.cwd or "/home/user", tag, timeout_ms, master)
        try:
            cwd = resolve_path(rec, cfg.cwd) if cfg.has_field("cwd") and cfg.cwd else rec.workspace
        except ApiError as e:
            raise ConnectError(Code.INVALID_ARGUMENT, e.message) from None
        env = rec.base_env()
        env.update(cfg.envs)
        args = list(cfg.args)
        preexec = None
        if cfg.cmd in _BASH and len(args) == 3 and args[:2] == ["-l", "-c"]:
            # The SDK's shape. A login shell would source the host's /etc/profile (slow, and
            # it resets PATH): the sandbox keeps its scrubbed environment instead, and bash
            # applies the limits to itself before the command runs.
            args = ["--noprofile", "-l", "-c", bash_prefix(rec.limits, rec.cgroup, rec.cores) + args[2]]
        else:
            preexec = make_preexec(rec.limits, rec.cgroup, rec.cores)
        master = slave = None
        if tty is not None:  # a real terminal: the slave is the command's stdio and controlling tty
            size = tty.size if tty.size is not None else pb.PTY.Size(rows=24, cols=80)
            master, slave = _pty.open_pty(size.rows, size.cols)
            preexec = _pty.controlling_tty(preexec)
        try:
            proc = await asyncio.create_subprocess_exec(
                cfg.cmd, *args, cwd=str(cwd), env=env,
                stdin=slave if tty else (asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL),
                stdout=slave if tty else asyncio.subprocess.PIPE, stderr=slave if tty else asyncio.subprocess.PIPE,
                start_new_session=True, preexec_fn=preexec,
            )
        except OSError as e:
            if master is not None:
                os.close(master)
            raise ConnectError(Code.INVALID_ARGUMENT, f"failed to start {cfg.cmd!r}: {e}") from None
        finally:
            if slave is not None:
                os.close(slave)  # the child holds it now: EOF on the master when it exits
        return self._track(rec, proc, proc.pid, cfg, str(cwd), tag, timeout_ms, master)

    async def _spawn_jailed(self, rec: SandboxRecord, cfg: pb.ProcessConfig, stdin: bool, user: str | None,
                            tty: pb.PTY | None):
        """The command forked by the sandbox's init, inside its namespaces and cgroups; on a
        pseudo-terminal (its slave end passed to the init as stdio), also (process, master)."""
        env = rec.base_env()
        env.update(cfg.envs)
        args = list(cfg.args)
        shell = cfg.cmd in _BASH and len(args) == 3 and args[:2] == ["-l", "-c"]
        rlimits = jail_rlimits(rec.limits, self.registry.isolation.cgroups.missing)
        zygote = self.registry.isolation.zygote
        warm = warm_argv(cfg.cmd, args, shell) if zygote is not None and tty is None and user != "root" else None
        if warm is not None:  # the agent runner, forked warm into this sandbox (or None: cold)
            proc = await zygote.spawn(rec.jail, warm, env, cfg.cwd or None, stdin, rlimits)
            if proc is not None:
                return proc, None
        if shell:
            args = ["--noprofile", "-l", "-c", args[2]]  # the host's /etc/profile would reset PATH
        master = slave = None
        try:
            if tty is not None:  # the sandbox's own terminal (of its devpts), opened by its init
                size = tty.size if tty.size is not None else pb.PTY.Size(rows=24, cols=80)
                master, slave = (await rec.jail.call("openpty"))[1]
                _pty.resize(master, size.rows, size.cols)
                os.set_blocking(master, False)
            proc = await rec.jail.spawn([cfg.cmd, *args], env, cfg.cwd or None, stdin, rlimits, user,
                                        tty_fd=slave)
        except JailError as e:
            if master is not None:
                os.close(master)
            if e.code == "ESRCH":
                raise ConnectError(Code.NOT_FOUND, f"sandbox {rec.id!r} was killed") from None
            raise ConnectError(Code.INVALID_ARGUMENT, f"failed to start {cfg.cmd!r}: {e}") from None
        finally:
            if slave is not None:
                os.close(slave)  # the init's child holds it now
        return proc, master

    def _track(self, rec: SandboxRecord, proc, pid: int, cfg: pb.ProcessConfig, cwd: str, tag: str | None,
               timeout_ms: float | None, master: int | None) -> tuple[Proc, asyncio.Queue]:
        entry = Proc(pid=pid, proc=proc, cmd=cfg.cmd, args=list(cfg.args), envs=dict(cfg.envs),
                     cwd=cwd, tag=tag, pty_fd=master)
        if self.registry.sandboxes.get(rec.id) is not rec:
            # Killed while the process was being spawned: its kill could not see this one.
            entry.kill()
            raise ConnectError(Code.NOT_FOUND, f"sandbox {rec.id!r} was killed")
        queue: asyncio.Queue = asyncio.Queue()
        entry.subscribers.append(queue)
        rec.procs[pid] = entry
        if timeout_ms:
            # The client's deadline ends its stream; the command must not outlive it.
            entry.deadline = asyncio.get_running_loop().call_later(timeout_ms / 1000.0, entry.expire)
        asyncio.get_running_loop().create_task(self._pump(rec, entry))
        return entry, queue

    async def _pump(self, rec: SandboxRecord, entry: Proc) -> None:
        async def read(stream: asyncio.StreamReader, name: str) -> None:
            try:
                while chunk := await stream.read(_READ_CHUNK):
                    ev = pb.StartResponse(event=_event("data", pb.ProcessEvent.DataEvent(output=Oneof(name, chunk))))
                    for q in entry.subscribers:
                        q.put_nowait(ev)
            except OSError:  # a pty's master reads EIO once the terminal's last process is gone
                pass

        streams = ([(entry.proc.stdout, "stdout"), (entry.proc.stderr, "stderr")] if entry.pty_fd is None
                   else [(await _pty.reader(entry.pty_fd), "pty")])
        readers = asyncio.gather(*(read(st, name) for st, name in streams))
        code = await exit_code(entry.proc)  # not wait(): a background job may hold the pipes
        if entry.deadline is not None:
            entry.deadline.cancel()
        # What the command left running in its group would hold the pipes open: it goes too.
        entry.kill()
        try:
            await asyncio.wait_for(readers, 2.0)
        except TimeoutError:
            pass  # a process that escaped the group still holds a pipe; the sandbox kill reaps it
        if entry.pty_fd is not None:
            os.close(entry.pty_fd)
        if code < 0:
            status = f"signal: {signal.Signals(-code).name.removeprefix('SIG').lower()}"
            code = -1 if code == -signal.SIGKILL else 128 - code
        else:
            status = f"exit status {code}"
        entry.end = (code, status)
        end = pb.ProcessEvent.EndEvent(exit_code=code, exited=True, status=status)
        ev = pb.StartResponse(event=_event("end", end))
        gone = self.registry.sandboxes.get(rec.id) is not rec
        for q in entry.subscribers:
            if gone:
                q.put_nowait(_GONE)
                continue
            q.put_nowait(ev)
            q.put_nowait(_END)
        rec.procs.pop(entry.pid, None)

    async def _stream(self, entry: Proc, queue: asyncio.Queue, first, wrap, keepalive_s: float) -> AsyncIterator:
        yield wrap(first)
        try:
            while True:
                try:
                    if queue.empty():
                        async with asyncio.timeout(keepalive_s):  # no task per event, unlike wait_for
                            ev = await queue.get()
                    else:
                        ev = queue.get_nowait()
                except TimeoutError:
                    yield wrap(_event("keepalive", pb.ProcessEvent.KeepAlive()))
                    continue
                if ev is _GONE:
                    abort_current_stream()
                    raise ConnectError(Code.UNAVAILABLE, "sandbox was killed")
                if ev is _END:
                    if entry.timed_out:  # the client sees its deadline, not an ordinary exit
                        raise ConnectError(Code.DEADLINE_EXCEEDED, "command timed out; its process group was killed")
                    return
                yield ev if wrap is _start_response else wrap(ev.event)
        finally:
            if queue in entry.subscribers:
                entry.subscribers.remove(queue)

    def start(self, request: pb.StartRequest, ctx) -> AsyncIterator[pb.StartResponse]:
        return self._start(request, ctx)

    async def _start(self, request, ctx):
        rec = sandbox_of(self.registry, ctx)
        tag = request.tag if request.has_field("tag") else None
        stdin = bool(request.stdin) if request.has_field("stdin") else False
        entry, queue = await self._spawn(rec, request.process, stdin, tag, ctx.timeout_ms,
                                         request.pty if request.has_field("pty") else None, _user(ctx))
        first = _event("start", pb.ProcessEvent.StartEvent(pid=entry.pid))
        async for ev in self._stream(entry, queue, first, _start_response, _keepalive(ctx)):
            yield ev

    def connect(self, request: pb.ConnectRequest, ctx) -> AsyncIterator[pb.ConnectResponse]:
        return self._connect(request, ctx)

    async def _connect(self, request, ctx):
        rec = sandbox_of(self.registry, ctx)
        entry = _find(rec, request.process)
        queue: asyncio.Queue = asyncio.Queue()
        entry.subscribers.append(queue)
        first = _event("start", pb.ProcessEvent.StartEvent(pid=entry.pid))
        async for ev in self._stream(entry, queue, first, _connect_response, _keepalive(ctx)):
            yield ev

    async def list(self, request, ctx) -> pb.ListResponse:
        rec = sandbox_of(self.registry, ctx)
        return pb.ListResponse(processes=[
            pb.ProcessInfo(config=pb.ProcessConfig(cmd=p.cmd, args=p.args, envs=p.envs, cwd=p.cwd),
                           pid=p.pid, tag=p.tag)
            for p in rec.procs.values() if p.end is None
        ])

    async def send_input(self, request: pb.SendInputRequest, ctx) -> pb.SendInputResponse:
        entry = _find(sandbox_of(self.registry, ctx), request.process)
        match request.input.input if request.input is not None else None:
            case Oneof(field="pty", value=data) if entry.pty_fd is not None:
                os.write(entry.pty_fd, data)  # a terminal's input is small: keystrokes, lines
                return pb.SendInputResponse()
        stdin = entry.proc.stdin
        if stdin is None or stdin.is_closing():
            raise ConnectError(Code.FAILED_PRECONDITION, "stdin is not open for this process")
        match request.input.input if request.input is not None else None:
            case Oneof(field="stdin", value=data):
                stdin.write(data)  # the transport buffers; no drain per call keeps this O(1)
            case _:
                raise ConnectError(Code.INVALID_ARGUMENT, "only stdin input is supported")
        return pb.SendInputResponse()

    async def close_stdin(self, request, ctx) -> pb.CloseStdinResponse:
        entry = _find(sandbox_of(self.registry, ctx), request.process)
        if entry.proc.stdin is not None:
            entry.proc.stdin.close()
        return pb.CloseStdinResponse()

    async def stream_input(self, request, ctx) -> pb.StreamInputResponse:
        raise ConnectError(Code.UNIMPLEMENTED, "sandboxd does not implement process.Process/StreamInput; use SendInput")

    async def update(self, request: pb.UpdateRequest, ctx) -> pb.UpdateResponse:
        entry = _find(sandbox_of(self.registry, ctx), request.process)
        if entry.pty_fd is None:
            raise ConnectError(Code.FAILED_PRECONDITION, "the process has no pty to resize")
        if request.pty is not None and request.pty.size is not None:
            _pty.resize(entry.pty_fd, request.pty.size.rows, request.pty.size.cols)
        return pb.UpdateResponse()

    async def send_signal(self, request: pb.SendSignalRequest, ctx) -> pb.SendSignalResponse:
        entry = _find(sandbox_of(self.registry, ctx), request.process)
        sig = {pb.Signal.SIGTERM: signal.SIGTERM}.get(request.signal, signal.SIGKILL)
        entry.kill(sig)
        if sig == signal.SIGKILL:  # as envd: the call returns once the process is gone
            try:
                await asyncio.wait_for(exit_code(entry.proc), 5.0)
            except TimeoutError:
                pass
        return pb.SendSignalResponse()


def _user(ctx) -> str | None:
    """The user a command runs as (the SDK's `user=`, sent as Basic auth): "root" is the
    sandbox's root, an unprivileged host uid (docs/known-issues.md); anything else is `user`."""
    auth = ctx.request_headers.get("authorization", "")
    if not auth.lower().startswith("basic "):
        return None
    try:
        return base64.b64decode(auth[6:]).decode().split(":", 1)[0] or None
    except ValueError:
        return None


def _keepalive(ctx) -> float:
    """The keepalive interval the client asked for (as envd honours it), else ours."""
    try:
        return max(1.0, float(ctx.request_headers.get("keepalive-ping-interval", KEEPALIVE_S)))
    except ValueError:
        return KEEPALIVE_S


def _start_response(event: pb.ProcessEvent) -> pb.StartResponse:
    return pb.StartResponse(event=event)


def _connect_response(event: pb.ProcessEvent) -> pb.ConnectResponse:
    return pb.ConnectResponse(event=event)
