"""sandboxd's side of an isolated sandbox: its init (`_nsinit.py`) and the commands it forks.

A `Jail` is started once per sandbox (ahead of time, as a spare): a root process that
unshares the namespaces, whose uid/gid maps sandboxd writes (uids 0..65535 inside are host
uids HOST_UID_BASE.., none of them the host's root or a real user), and pid 1 inside. A
command then costs one request on the control socket and one fork inside: sandboxd makes the
pipes, the init gives back the process's pidfd, and reports its exit. `JailProcess` offers the
part of `asyncio.subprocess.Process` the process service uses (pid, stdin/stdout/stderr,
wait, returncode); its `pid` is the one the sandbox sees, and it is signalled through the init.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import os
import signal
import socket
import sys
from pathlib import Path

from tradeswarm.sandbox.sandboxd._cgroups import JailCgroups
from tradeswarm.sandbox.sandboxd._network import EgressPolicy, Uplink

INIT = Path(__file__).with_name("_nsinit.py")
HOST_UID_BASE = 100_000
ID_RANGE = 65_536
START_TIMEOUT_S = 20.0
_MAX_MSG = 4 * 1024 * 1024
#: Host directories every sandbox sees read-only at the same path (when they exist).
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc")


class JailError(OSError):
    """The init refused a request: `code` is the errno name (ENOENT, EACCES, ...)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(getattr(errno, code, errno.EIO), message)
        self.code, self.message = code, message

    def __str__(self) -> str:
        return self.message


def system_binds() -> list[str]:
    """What a sandbox sees of the host: the system dirs, this interpreter's prefix and venv
    (so the `trading` template's `bin/python` runs with the project's dependencies)."""
    extra = {os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix)}
    binds = [d for d in SYSTEM_DIRS if os.path.lexists(d)]
    for d in sorted(extra):
        if not any(d == b or d.startswith(b + "/") for b in binds if not os.path.islink(b)):
            binds.append(d)
    return binds


class JailProcess:
    """A command forked by a sandbox's init, seen from sandboxd: `pid` is the one the sandbox
    sees; signals go through the init (`kill_group`), which sees the same pids."""

    def __init__(self, jail: "Jail", pid: int) -> None:
        self.jail, self.pid = jail, pid
        self.returncode: int | None = None
        self.stdin: asyncio.StreamWriter | None = None
        self.stdout: asyncio.StreamReader | None = None
        self.stderr: asyncio.StreamReader | None = None
        self._done = asyncio.get_running_loop().create_future()

    async def wait(self) -> int:
        return await asyncio.shield(self._done)

    def _exited(self, code: int) -> None:
        if self.returncode is None:
            self.returncode = code
            if not self._done.done():
                self._done.set_result(code)

    def kill_group(self, sig: int = signal.SIGKILL, tree: bool = False) -> None:
        """Signal its process group (also once it exited: what it left running), and with `tree`
        every process descended from it."""
        self.jail.notify("signal", pid=self.pid, sig=int(sig), tree=tree)


def stdio_pipes(stdin: bool) -> tuple[list[int], list[int]]:
    """The pipes of a command's stdio (stdin only if asked): (the command's ends, sandboxd's)."""
    pipes = [os.pipe2(os.O_CLOEXEC) for _ in range(3 if stdin else 2)]
    theirs = ([pipes[0][0]] if stdin else []) + [w for _, w in pipes[-2:]]
    ours = ([pipes[0][1]] if stdin else []) + [r for r, _ in pipes[-2:]]
    return theirs, ours


async def attach_stdio(proc: JailProcess, ours: list[int]) -> None:
    """Streams on sandboxd's ends of `stdio_pipes`: stdin (when there is one), stdout, stderr."""
    loop = asyncio.get_running_loop()
    if len(ours) == 3:
        transport, protocol = await loop.connect_write_pipe(asyncio.streams.FlowControlMixin, os.fdopen(ours[0], "wb", 0))
        proc.stdin = asyncio.StreamWriter(transport, protocol, None, loop)
    for name, fd in zip(("stdout", "stderr"), ours[-2:]):
        reader = asyncio.StreamReader(limit=2 ** 16, loop=loop)
        await loop.connect_read_pipe(lambda r=reader: asyncio.StreamReaderProtocol(r, loop=loop), os.fdopen(fd, "rb", 0))
        setattr(proc, name, reader)


class Jail:
    """One running sandbox init: its control socket, its commands, its cgroup."""

    def __init__(self, proc: asyncio.subprocess.Process, ctl: socket.socket, group: dict[str, Path],
                 cgroups: JailCgroups) -> None:
        self.proc, self.ctl, self.group, self.cgroups = proc, ctl, group, cgroups
        self.init_pid = 0
        self.uplink: Uplink | None = None  # None: it shares the host's network namespace
        self.egress = EgressPolicy()
        self.internet = True  # commands start in the init's network namespace (else in one with only loopback)
        self.dead = False
        self.frozen = False  # paused by the cgroup freezer: its init too, so it answers nothing
        self._thaws = 0  # requests that need it to answer while paused (`thawed`)
        self.children: dict[int, JailProcess] = {}
        self._pending: dict[int, asyncio.Future] = {}
        self._early_exits: dict[int, int] = {}
        self._next_id = 0

    @classmethod
    async def start(cls, cgroups: JailCgroups, name: str, binds: list[str], template: Path | None,
                    disk_mb: int, nice: int = 0, own_net: bool = True) -> "Jail":
        """Start the init of a new sandbox; returns once its root is built and it serves.

        `nice`: a spare started in the background yields the CPU to live sandboxes (`promote`).
        `own_net`: in a network namespace of its own, owned by the host's root, with an uplink
        (_network.py); else in the host's."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        cfg = {"ctl_fd": theirs.fileno(), "binds": binds, "disk_mb": disk_mb,
               "template": str(template) if template is not None else None}
        try:
            proc = await asyncio.create_subprocess_exec(
                *(("unshare", "--net", "--") if own_net else ()),
                # the configuration in the environment, which only the init's uid may read: its
                # command line is visible to every process of the sandbox
                sys.executable, "-I", "-S", str(INIT), pass_fds=[theirs.fileno()], env={"NSINIT": json.dumps(cfg)},
                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
                start_new_session=True)
        finally:
            theirs.close()
        if nice:
            os.setpriority(os.PRIO_PROCESS, proc.pid, nice)  # before it forks its pid 1: inherited
        group = cgroups.create(name)
        jail = cls(proc, ours, group, cgroups)
        try:
            async with asyncio.timeout(START_TIMEOUT_S):
                await jail._handshake()
                if own_net:
                    jail.uplink = await Uplink.start(proc.pid)
        except BaseException:
            jail.kill()
            await proc.wait()
            raise
        return jail

    async def _handshake(self) -> None:
        loop = asyncio.get_running_loop()
        self.ctl.setblocking(False)
        msg = await loop.sock_recv(self.ctl, 65536)
        if json.loads(msg or b"{}").get("unshared") is not True:
            raise OSError(f"sandbox init failed to unshare: {await self._stderr()}")
        for name in ("uid_map", "gid_map"):
            with open(f"/proc/{self.proc.pid}/{name}", "w") as fh:
                fh.write(f"0 {HOST_UID_BASE} {ID_RANGE}\n")
        await loop.sock_sendall(self.ctl, b"mapped")
        ready = json.loads(await loop.sock_recv(self.ctl, 65536) or b"{}")
        if not ready.get("ready"):
            raise OSError(f"sandbox init failed: {ready.get('error') or await self._stderr()}")
        self.init_pid = int(Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()[0])
        for pid in (self.proc.pid, self.init_pid):
            self.cgroups.join(self.group, pid)
        loop.add_reader(self.ctl.fileno(), self._on_message)

    async def _stderr(self) -> str:
        try:
            async with asyncio.timeout(2):
                return (await self.proc.stderr.read()).decode(errors="replace").strip()[-500:]
        except TimeoutError:
            return "(no output)"

    def configure(self, memory_mb: int, vcpus: int, cores: tuple[int, ...], max_pids: int) -> None:
        """The limits of the sandbox it becomes, and the normal priority of a live sandbox."""
        self.cgroups.configure(self.group, memory_mb, vcpus, cores, max_pids)
        for pid in (self.proc.pid, self.init_pid):
            try:
                os.setpriority(os.PRIO_PROCESS, pid, 0)
            except OSError:
                pass

    async def set_egress(self, policy: EgressPolicy) -> None:
        """Where its connections may go, from now on, running commands' too. With an uplink
        every command runs in its namespace (one loopback, as in E2B's VM) and the rules refuse;
        without one, a command without internet starts in the init's loopback-only namespace."""
        if self.uplink is not None:
            await self.uplink.apply(policy)
        elif policy.restricted and policy.internet:
            raise ValueError("per-address egress rules need slirp4netns, which is not installed on this server "
                             "(apt-get install slirp4netns)")
        self.egress, self.internet = policy, policy.internet or self.uplink is not None

    # -- control socket -----------------------------------------------------------------
    def _on_message(self) -> None:
        while True:
            try:
                data, fds, _flags, _addr = socket.recv_fds(self.ctl, _MAX_MSG, 8)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                data, fds = b"", []
            if not data:
                self._gone()
                return
            msg = json.loads(data)
            if msg.get("op") == "exit":
                code = os.waitstatus_to_exitcode(msg["status"])
                child = self.children.pop(msg["pid"], None)
                if child is not None:
                    child._exited(code)
                else:
                    self._early_exits[msg["pid"]] = code
                continue
            fut = self._pending.pop(msg.get("id"), None)
            if fut is not None and not fut.done():
                fut.set_result((msg, fds))
            else:
                for fd in fds:
                    os.close(fd)

    def _gone(self) -> None:
        """The init died (killed, or the sandbox was): every command and request ends with it."""
        if not self.dead:
            self.dead = True
            try:
                asyncio.get_running_loop().remove_reader(self.ctl.fileno())
            except (RuntimeError, ValueError):
                pass
        for child in self.children.values():
            child._exited(-signal.SIGKILL)
        self.children.clear()
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(JailError("ESRCH", "the sandbox is gone"))
        self._pending.clear()

    def notify(self, op: str, **args) -> None:
        """A request without an answer (a signal), sent from code that cannot wait."""
        if not self.dead:
            try:
                self.ctl.send(json.dumps({"id": None, "op": op, **args}).encode())
            except OSError:  # a full socket (never seen: requests are small) or a dead init
                pass

    async def call(self, op: str, fds: list[int] = (), **args) -> tuple[dict, list[int]]:
        """One request to the init; JailError when it answers with an error."""
        if self.dead:
            raise JailError("ESRCH", "the sandbox is gone")
        if self.frozen and not self._thaws:  # it would answer only once thawed
            raise JailError("EAGAIN", "the sandbox is paused")
        self._next_id += 1
        rid = self._next_id
        fut = asyncio.get_running_loop().create_future()
        self._pending[rid] = fut
        data = json.dumps({"id": rid, "op": op, **args}).encode()
        while True:
            try:
                socket.send_fds(self.ctl, [data], list(fds)) if fds else self.ctl.send(data)
                break
            except BlockingIOError:
                await asyncio.sleep(0.001)
            except OSError:
                self._gone()
                break
        msg, out_fds = await fut
        if "error" in msg:
            raise JailError(msg["error"], msg.get("message", msg["error"]))
        return msg, out_fds

    async def spawn(self, argv: list[str], env: dict[str, str], cwd: str | None, stdin: bool,
                    rlimits: list[tuple[int, int]], user: str | None = None, tty_fd: int | None = None) -> JailProcess:
        """Fork a command; `tty_fd` (a pseudo-terminal's slave, which the caller keeps and
        closes): its stdio and controlling terminal, with no pipes (the caller reads the master)."""
        if tty_fd is not None:
            stdin, theirs, ours = True, [], []
        else:
            theirs, ours = stdio_pipes(stdin)
        try:
            msg, fds = await self.call("spawn", theirs or [tty_fd] * 3, argv=argv, env=env, cwd=cwd, stdin=stdin,
                                       internet=self.internet, rlimits=rlimits, user=user, tty=tty_fd is not None)
        except BaseException:
            for fd in ours:
                os.close(fd)
            raise
        finally:
            for fd in theirs:  # the init holds its own copies now
                os.close(fd)
        proc = JailProcess(self, msg["pid"])
        self.children[proc.pid] = proc
        if proc.pid in self._early_exits:  # its exit was read in the same batch as the reply
            self.children.pop(proc.pid)._exited(self._early_exits.pop(proc.pid))
        if tty_fd is not None:
            return proc
        await attach_stdio(proc, ours)
        return proc

    def freeze(self, frozen: bool = True) -> bool:
        """Pause (or resume) every process of the sandbox with the cgroup freezer; False where
        there is none (the caller signals the processes instead)."""
        if "freezer" not in self.group:
            return False
        self.frozen = frozen
        if not (frozen and self._thaws):  # else the copy under way freezes it when done
            self.cgroups.freeze(self.group, frozen)
        return True

    @contextlib.contextmanager
    def thawed(self):
        """The init must answer while the sandbox is paused (a snapshot, a fork): its processes
        run meanwhile, and are frozen again after the last such request, unless resumed since."""
        self._thaws += 1
        if self.frozen:
            self.cgroups.freeze(self.group, False)
        try:
            yield
        finally:
            self._thaws -= 1
            if self.frozen and not self._thaws and not self.dead:
                self.cgroups.freeze(self.group, True)

    def kill(self) -> None:
        """SIGKILL pid 1 (the kernel kills everything in its pid namespace), then the cgroup."""
        for pid in (self.init_pid, self.proc.pid):
            if pid:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        self._gone()
        if self.uplink is not None:
            self.uplink.close()
        self.cgroups.remove(self.group)
        self.ctl.close()
