"""The agents' zygote: one warm process per sandboxd that forks each agent into its sandbox.

A cold agent is a fresh interpreter in the sandbox importing numpy, pandas and the strategies
(~1 s on a loaded 2-core machine). The zygote imports them once, from the `trading`
template's own `lib/` (the code a cold agent runs), and then serves sandboxd over the control
socket (SOCK_SEQPACKET; one JSON request per message, file descriptors as SCM_RIGHTS):

- request {argv, env, cwd, rlimits, fds: {status, user, mnt, pid, ipc, uts, net, cgroups,
  stdio}} (indexes into the passed fds: a status pipe, the sandbox's namespaces as opened by
  sandboxd from its init, the network namespace a command of that sandbox gets, its cgroups'
  `cgroup.procs`, and stdin/stdout/stderr -- stdin may be missing);
- on the status pipe, JSON lines: `{"pid": n}` (the agent's pid inside the sandbox, once it
  is in the sandbox with the user's credentials) or `{"error": text}`, then `{"status": s}`
  (its wait status) when it ends.

Per request the zygote forks a waiter, which enters the sandbox's pid namespace and forks the
agent (so the agent is in it; the waiter stays outside, holds nothing of the sandbox's and
reports the exit). The agent then does what the sandbox's init does for a command
(`_nsinit.Init.spawn`), in the same order: the sandbox's cgroups, its network namespace, its
user, mount, ipc and uts namespaces (the root and cwd become the sandbox's), its own session,
the command's rlimits, oom_score_adj, the user's uid/gid -- and then it must hold no
capability, or it exits 127 before running anything; its environment (also the one /proc
shows) is the command's. Only then it runs the runner's `main`. Its command line in /proc
stays the zygote's.

It runs with `python -I` and an environment sandboxd gives it (no host secrets in its memory,
which every agent inherits).
"""

import ctypes
import errno
import io
import json
import os
import signal
import socket
import sys
import traceback

UID = GID = 1000
HOME = "/home/user"
CLONE_NEWNET, CLONE_NEWUSER, CLONE_NEWNS = 0x40000000, 0x10000000, 0x00020000
CLONE_NEWPID, CLONE_NEWIPC, CLONE_NEWUTS = 0x20000000, 0x08000000, 0x04000000
PR_SET_PDEATHSIG, PR_SET_DUMPABLE = 1, 4
_NS = (("net", CLONE_NEWNET), ("user", CLONE_NEWUSER), ("mnt", CLONE_NEWNS), ("ipc", CLONE_NEWIPC),
       ("uts", CLONE_NEWUTS))
_libc = ctypes.CDLL(None, use_errno=True)


def setns(fd: int, kind: int, what: str) -> None:
    if _libc.setns(fd, kind) != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"setns({what}): {os.strerror(e)}")


def _say(fd: int, msg: dict) -> None:
    os.write(fd, (json.dumps(msg) + "\n").encode())


def capabilities() -> dict[str, int]:
    """The capability sets of this process (from /proc/self/status: the sandbox's /proc here)."""
    with open("/proc/self/status") as fh:
        return {k: int(v, 16) for k, v in (line.split(":", 1) for line in fh)
                if k in ("CapInh", "CapPrm", "CapEff", "CapAmb")}


def _abs(path: str | None) -> str:
    if not path or path == "~":
        return HOME
    if path.startswith("~/"):
        path = HOME + path[1:]
    return os.path.normpath(os.path.join(HOME, path))


def show_environ(env: dict[str, str]) -> None:
    """/proc/self/environ as an exec of the command would show it (a host tool finds a sandbox's
    process by its E2B_SANDBOX_ID there), written over the zygote's own block, which sandboxd
    made large enough (`_warm.ENV_ROOM`); nothing points into that block any more once
    `os.environ` is the command's."""
    with open("/proc/self/stat") as fh:
        fields = fh.read().rpartition(")")[2].split()
    start, end = int(fields[47]), int(fields[48])  # env_start, env_end (proc(5))
    block = b"".join(f"{k}={v}".encode() + b"\0" for k, v in env.items())
    if len(block) >= end - start:
        raise OSError(errno.E2BIG, f"the environment ({len(block)} bytes) exceeds the zygote's room ({end - start})")
    ctypes.memmove(start, block, len(block))
    ctypes.memset(start + len(block), 0, end - start - len(block))


def enter(req: dict, fds: list[int]) -> None:
    """Become a command of the sandbox (see the module's doc); raises when any step fails."""
    idx = req["fds"]
    for i in idx["cgroups"]:  # while still the host's root, as sandboxd joins a sandbox's init
        os.write(fds[i], b"0")
    for name, kind in _NS:  # the network first: one the host owns is not reachable from inside
        setns(fds[idx[name]], kind, name)
    os.setresgid(0, 0, 0)  # the sandbox's root: from there, the user's uid clears every capability
    os.setresuid(0, 0, 0)
    _libc.prctl(PR_SET_DUMPABLE, 1)  # a uid change cleared it: /proc/self would be the host root's
    os.setsid()
    import resource

    for res, value in req.get("rlimits", []):
        resource.setrlimit(res, (value, value))
    try:  # as for any command: an OOM in the sandbox takes a command rather than pid 1
        with open("/proc/self/oom_score_adj", "w") as fh:
            fh.write("500")
    except OSError:
        pass
    os.setgroups([UID])
    os.setresgid(GID, GID, GID)
    os.setresuid(UID, UID, UID)
    _libc.prctl(PR_SET_DUMPABLE, 1)  # as an exec'd command is: the user may inspect its own process
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # the waiter gone: nobody would report the exit
    held = {k: v for k, v in capabilities().items() if v}
    if held:
        raise PermissionError(f"capabilities left after dropping to the user: {held}")
    os.chdir(_abs(req.get("cwd")))
    stdio = [fds[i] for i in idx["stdio"]]
    if len(stdio) == 2:
        stdio.insert(0, os.open("/dev/null", os.O_RDONLY))
    for i, fd in enumerate(stdio):
        os.dup2(fd, i)
    status = fds[idx["status"]]
    os.closerange(3, status)
    os.closerange(status + 1, 65536)
    os.environ.clear()
    os.environ.update(req["env"])
    show_environ(req["env"])


def relocate(host_lib: str) -> None:
    """Name the modules imported from the template's copy on the host where the sandbox has that
    copy (/home/user/lib): paths derived from a module's file (the shipped data beside the
    package) and later imports then resolve inside the sandbox, as for a cold agent."""
    lib = f"{HOME}/lib"
    sys.path[:] = [lib if p == host_lib else p for p in sys.path]
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None) or ""
        if path.startswith(host_lib + "/"):
            module.__file__ = lib + path[len(host_lib):]
            if isinstance(getattr(module, "__path__", None), list):
                module.__path__ = [lib + p[len(host_lib):] if p.startswith(host_lib) else p for p in module.__path__]
    # the shipped frames `runner.warm_up` loaded, filed under the sandbox's copy of each file:
    # its own size, mtime and checksum still decide whether the agent uses them
    shipped = sys.modules.get("tradeswarm.marketdata.shipped")
    host_data = os.path.join(os.path.dirname(host_lib), "data") + "/"
    for key in list(getattr(shipped, "_CACHE", {})):
        if key[0].startswith(host_data):
            shipped._CACHE[(f"{HOME}/data/{key[0][len(host_data):]}", *key[1:])] = shipped._CACHE.pop(key)


def agent(req: dict, fds: list[int]) -> None:
    """The forked agent: into the sandbox, then the runner's main; never returns."""
    status = fds[req["fds"]["status"]]
    try:
        enter(req, fds)
        _say(status, {"pid": os.getpid()})
        os.close(status)
    except BaseException as e:  # noqa: BLE001 - nothing of the agent ran: sandboxd says why
        try:
            _say(status, {"error": f"{type(e).__name__}: {e}"})
        finally:
            os._exit(127)
    code = 1
    try:
        sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False), encoding="utf-8")
        sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding="utf-8", line_buffering=True)
        sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), encoding="utf-8", line_buffering=True)
        sys.argv = list(req["argv"])
        relocate(req["lib"])
        from tradeswarm.agents import runner

        runner.START = "warm"
        code = runner.main(sys.argv[1:])
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 2)
    except BaseException:  # noqa: BLE001 - a crash is reported as a cold interpreter would
        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # noqa: BLE001 - a closed pipe: nothing left to tell
                pass
    os._exit(code & 0xFF)


def waiter(req: dict, fds: list[int]) -> None:
    """Fork the agent into the sandbox's pid namespace, report its end; never returns."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    status = fds[req["fds"]["status"]]
    try:
        setns(fds[req["fds"]["pid"]], CLONE_NEWPID, "pid")  # for the child: this process stays outside
        pid = os.fork()
    except BaseException as e:  # noqa: BLE001
        _say(status, {"error": f"{type(e).__name__}: {e}"})
        os._exit(1)
    if pid == 0:
        agent(req, fds)
    for i, fd in enumerate(fds):
        if i != req["fds"]["status"]:
            os.close(fd)
    _, code = os.waitpid(pid, 0)
    _say(status, {"status": code})
    os._exit(0)


def main() -> None:
    cfg = json.loads(os.environ.pop("ZYGOTE"))
    ctl = socket.socket(fileno=cfg["ctl_fd"])
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # sandboxd gone: so is its zygote
    sys.path.insert(0, cfg["lib"])
    from tradeswarm.agents import runner

    runner.warm_up()
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the waiters reap themselves
    ctl.send(b'{"ready": true}')
    while True:
        data, fds, _flags, _addr = socket.recv_fds(ctl, 1 << 20, 32)
        if not data:
            os._exit(0)
        try:
            if os.fork() == 0:
                ctl.close()
                waiter({**json.loads(data), "lib": cfg["lib"]}, fds)
        finally:
            for fd in fds:
                os.close(fd)


if __name__ == "__main__":
    main()
