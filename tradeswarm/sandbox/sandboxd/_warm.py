"""sandboxd's side of the agents' zygote (`_zygote.py`): starting it, and forking commands from it.

A command of an isolated sandbox starts warm when it is exactly the `trading` template's agent
entry point, `bin/agent` with plain arguments (`bin/agent --config agents/a1.json`), started
in /home/user, as the user, without a terminal, and the sandbox's `bin/agent` is still the
template's. Anything else -- and any command while the zygote is not ready, or when a warm
start fails -- starts cold through the sandbox's init, as every command does; `bin/agent` is a
real script that runs the same runner there (and on E2B, where the template's start command
plays this part: deployments/e2b/README.md). The runner's handshake says which start it got.

Where the agent runs is the sandbox a cold command runs in: sandboxd opens the sandbox's
namespaces from its init (user, mount, pid, ipc, uts), the network namespace a command gets
(the init's own with internet; without, the private loopback-only one the init holds -- exactly
one, or the start is cold), and its cgroups, and hands them to the zygote with the command's
stdio, environment, cwd and rlimits (docs/contracts.md).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import shlex
import signal
import socket
import sys
from pathlib import Path

from tradeswarm.sandbox.sandboxd._namespace import Jail, JailError, JailProcess, attach_stdio, stdio_pipes
from tradeswarm.sandbox.sandboxd.templates import TEMPLATE_ENVS

log = logging.getLogger("tradeswarm.sandboxd")

ZYGOTE = Path(__file__).with_name("_zygote.py")
ENTRY = "bin/agent"
HOME = "/home/user"
START_TIMEOUT_S = 120.0  # its imports, at a low priority, on a machine busy with other starts
SPAWN_TIMEOUT_S = 10.0
ENV_ROOM = 120_000  # bytes of environment a warm agent may have (one variable may hold 128 KiB)
_PLAIN = re.compile(r"^[A-Za-z0-9_./:=,@+-]+$")  # nothing a shell would expand or split


def warm_argv(cmd: str, args: list[str], shell: bool) -> list[str] | None:
    """The argv of a command that may start warm (`shell`: `args[2]` is a `bash -l -c` script)."""
    if shell:
        try:
            argv = shlex.split(args[2])
        except ValueError:
            return None
    else:
        argv = [cmd, *args]
    if not argv or argv[0] not in (ENTRY, f"{HOME}/{ENTRY}") or not all(_PLAIN.match(a) for a in argv):
        return None
    return argv


def _netns(jail: Jail) -> str:
    """The network namespace a command of `jail` gets, as a path: the init's own with internet,
    else the one other network namespace the init holds open."""
    own = f"/proc/{jail.init_pid}/ns/net"
    if jail.internet:
        return own
    mine, held = os.readlink(own), {}
    for fd in os.listdir(f"/proc/{jail.init_pid}/fd"):
        path = f"/proc/{jail.init_pid}/fd/{fd}"
        try:
            link = os.readlink(path)
        except OSError:
            continue
        if link.startswith("net:[") and link != mine:
            held[link] = path
    if len(held) != 1:
        raise OSError(f"the sandbox's init holds {len(held)} other network namespaces (expected 1)")
    return next(iter(held.values()))


class Zygote:
    """The zygote of one server: its process, its control socket, and why it is off."""

    def __init__(self, template: Path) -> None:
        self.template = template
        self.entry = (template / ENTRY).read_bytes()
        self.proc: asyncio.subprocess.Process | None = None
        self.ctl: socket.socket | None = None
        self.reason: str | None = "starting"  # why commands start cold (None: the zygote serves)
        self._tasks: set[asyncio.Task] = set()
        self._started = asyncio.Event()  # set once it serves or has failed

    async def start(self, nice: int) -> None:
        """Start it at priority `nice` (its imports must not slow live sandboxes), then serve at 0."""
        try:
            await self._start(nice)
        finally:
            self._started.set()

    async def _start(self, nice: int) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        env = {k: v for k, v in TEMPLATE_ENVS["trading"].items() if k != "PYTHONPATH"}
        env["ZYGOTE_ENV_ROOM"] = " " * ENV_ROOM  # an agent's environment is written over it (_zygote.show_environ)
        env["ZYGOTE"] = json.dumps({"ctl_fd": theirs.fileno(), "lib": str(self.template / "lib")})
        try:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-I", str(ZYGOTE), pass_fds=[theirs.fileno()], env=env,
                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
                start_new_session=True)
        finally:
            theirs.close()
        os.setpriority(os.PRIO_PROCESS, self.proc.pid, nice)
        ours.setblocking(False)
        try:
            async with asyncio.timeout(START_TIMEOUT_S):
                ready = json.loads(await asyncio.get_running_loop().sock_recv(ours, 64) or b"{}").get("ready")
        except TimeoutError:
            ready = False
        if not ready:
            self.proc.kill()
            err = (await self.proc.stderr.read()).decode(errors="replace").strip()[-300:]
            self.reason = f"the zygote did not start: {err or 'no output'}"
            log.warning("agents start cold: %s", self.reason)
            ours.close()
            return
        os.setpriority(os.PRIO_PROCESS, self.proc.pid, 0)  # what it forks are live sandboxes' agents
        ours.settimeout(1.0)  # a send to a zygote that stopped reading fails instead of blocking sandboxd
        self.ctl, self.reason = ours, None
        self._background(self._log_stderr())

    def _background(self, coro) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _log_stderr(self) -> None:
        while line := await self.proc.stderr.readline():
            log.warning("zygote: %s", line.decode(errors="replace").rstrip())
        self._off("the zygote exited")

    def _off(self, reason: str) -> None:
        if self.reason is None:
            log.warning("agents start cold: %s", reason)
        self.reason = reason
        if self.ctl is not None:
            self.ctl.close()
            self.ctl = None

    async def _is_entry(self, jail: Jail, path: str) -> bool:
        """Whether the sandbox's `bin/agent` is still the template's (read as the user reads it)."""
        try:
            _msg, fds = await jail.call("open", path=path, mode="r")
        except JailError:
            return False
        with os.fdopen(fds[0], "rb") as fh:
            os.set_blocking(fh.fileno(), True)
            return fh.read(len(self.entry) + 1) == self.entry

    async def spawn(self, jail: Jail, argv: list[str], env: dict[str, str], cwd: str | None, stdin: bool,
                    rlimits: list[tuple[int, int]]) -> JailProcess | None:
        """`argv` (see `warm_argv`) forked from the zygote into `jail`; None: start it cold."""
        if not self._started.is_set() and self.proc is not None:
            # it started before this agent would: waiting beats a cold start, at full priority now
            os.setpriority(os.PRIO_PROCESS, self.proc.pid, 0)
            await self._started.wait()
        if self.ctl is None or jail.dead or os.path.normpath(os.path.join(HOME, cwd or HOME)) != HOME:
            return None
        if not await self._is_entry(jail, f"{HOME}/{ENTRY}"):
            return None
        sent: list[int] = []
        try:
            status_r, status_w = os.pipe2(os.O_CLOEXEC)
            sent.append(status_w)
            layout: dict = {"status": 0}
            for name in ("user", "mnt", "pid", "ipc", "uts"):
                layout[name] = len(sent)
                sent.append(os.open(f"/proc/{jail.init_pid}/ns/{name}", os.O_RDONLY | os.O_CLOEXEC))
            layout["net"] = len(sent)
            sent.append(os.open(_netns(jail), os.O_RDONLY | os.O_CLOEXEC))
            layout["cgroups"] = []
            for path in jail.group.values():
                layout["cgroups"].append(len(sent))
                sent.append(os.open(path / "cgroup.procs", os.O_WRONLY | os.O_CLOEXEC))
            theirs, ours = stdio_pipes(stdin)
            layout["stdio"] = list(range(len(sent), len(sent) + len(theirs)))
            sent.extend(theirs)
        except OSError as e:
            for fd in sent:
                os.close(fd)
            log.warning("a warm start in %s falls back to cold: %s", jail.init_pid, e)
            return None
        req = json.dumps({"argv": argv, "env": env, "cwd": cwd, "rlimits": rlimits, "fds": layout}).encode()
        try:
            socket.send_fds(self.ctl, [req], sent)
        except OSError as e:  # the zygote is gone (a full socket would be a few hundred requests)
            self._off(f"the zygote's socket failed: {e}")
            os.close(status_r)
            for fd in ours:
                os.close(fd)
            return None
        finally:
            for fd in sent:
                os.close(fd)
        return await self._forked(jail, status_r, ours)

    async def _forked(self, jail: Jail, status_r: int, ours: list[int]) -> JailProcess | None:
        loop = asyncio.get_running_loop()
        status = asyncio.StreamReader(loop=loop)
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(status, loop=loop), os.fdopen(status_r, "rb", 0))
        try:
            async with asyncio.timeout(SPAWN_TIMEOUT_S):
                first = json.loads(await status.readline() or b'{"error": "the zygote closed the status pipe"}')
        except TimeoutError:
            first = {"error": f"no answer in {SPAWN_TIMEOUT_S:g} s"}
        if "pid" not in first:
            log.warning("a warm start falls back to cold: %s", first.get("error"))
            for fd in ours:
                os.close(fd)
            return None
        proc = JailProcess(jail, int(first["pid"]))
        jail.children[proc.pid] = proc  # the sandbox's end ends it too (`Jail._gone`)
        await attach_stdio(proc, ours)
        self._background(self._follow(jail, proc, status))
        return proc

    @staticmethod
    async def _follow(jail: Jail, proc: JailProcess, status: asyncio.StreamReader) -> None:
        line = await status.readline()
        code = os.waitstatus_to_exitcode(json.loads(line)["status"]) if line else -signal.SIGKILL
        if jail.children.get(proc.pid) is proc:
            del jail.children[proc.pid]
        proc._exited(code)

    def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self.ctl is not None:
            self.ctl.close()
            self.ctl = None
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
