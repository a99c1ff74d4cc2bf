"""The init of one isolated sandbox: pid 1 of its namespaces, started once per sandbox.

sandboxd starts it as root; it unshares new user, mount, pid, ipc and uts namespaces,
sandboxd maps uids 0..65535 inside to unprivileged host uids, and it forks pid 1. It builds the sandbox's root
on a size-limited tmpfs (the disk quota: `/home/user` and `/tmp` live on it), binds the
host's system directories read-only, mounts its own /proc, keeps a private network
namespace (loopback only) for commands without internet, pivots into the new root and then
serves sandboxd over the control socket (SOCK_SEQPACKET, one JSON object per message,
file descriptors as SCM_RIGHTS):

- `spawn` {argv, env, cwd, internet, rlimits, user, tty} + fds [stdin, stdout, stderr] → {pid}:
  forks the command as the unprivileged user, in its own session (with `tty`, stdin is a
  pseudo-terminal's slave and becomes its controlling terminal);
  later an unsolicited {op: "exit", pid, status} when it ends.
- `signal` {pid, sig, tree} (no answer): its process group, and with `tree` its descendants.
- `open`/`stat`/`list`/`mkdir`/`remove`/`move`/`disk`: file operations done *here*, inside
  the sandbox's mount view and with the user's file credentials (setfsuid), so a path or a
  symlink (also one swapped mid-request) resolves exactly as it would for a command.
- `ping` → {} (its answer: every earlier request was handled); `openpty` → fds [master,
  slave] of a pseudo-terminal of the sandbox's devpts.
- `copyout` + fd [a host directory]: /home/user copied into it (a snapshot, a fork), as the
  sandbox's root.

It imports nothing from tradeswarm and runs with `python -I -S`: its start is on the path of
a cold create. Each command costs one fork of this small process (docs/contracts.md).
"""

import array
import ctypes
import errno
import fcntl
import json
import os
import platform
import selectors
import shutil
import signal
import socket
import stat
import struct
import time

UID = GID = 1000
HOME = "/home/user"
_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = (ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p)
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
MS_NOATIME, MS_NODIRATIME, MS_RELATIME = 1024, 2048, 1 << 21
MNT_DETACH = 2
CLONE_NEWNET, CLONE_NEWUSER, CLONE_NEWNS = 0x40000000, 0x10000000, 0x00020000
CLONE_NEWPID, CLONE_NEWIPC, CLONE_NEWUTS = 0x20000000, 0x08000000, 0x04000000
PR_SET_PDEATHSIG, PR_SET_DUMPABLE = 1, 4
TIOCSCTTY = 0x540E  # x86_64 and aarch64 alike
_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}[platform.machine()]
_MAX_MSG = 4 * 1024 * 1024


def _check(ret: int, what: str) -> None:
    if ret != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"{what}: {os.strerror(e)}")


def mount(src, target, fstype, flags, data=None) -> None:
    enc = lambda s: s.encode() if isinstance(s, str) else s  # noqa: E731
    _check(_libc.mount(enc(src), enc(target), enc(fstype), flags, enc(data)), f"mount {target}")


def _locked_flags(path: str) -> int:
    """The flags of the mount under `path` that a user namespace may not drop on a remount."""
    f = os.statvfs(path).f_flag
    return ((f & (MS_NOSUID | MS_NODEV | MS_NOEXEC)) | (MS_NOATIME if f & 1024 else 0)
            | (MS_NODIRATIME if f & 2048 else 0) | (MS_RELATIME if f & 4096 else 0))


def bind_ro(src: str, target: str) -> None:
    mount(src, target, None, MS_BIND | MS_REC)
    mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | _locked_flags(target))


def _mkdirs(path: str, mode: int = 0o755) -> None:
    os.makedirs(path, mode=mode, exist_ok=True)


def build_root(cfg: dict) -> int | None:
    """Assemble the sandbox's root on a size-limited tmpfs and pivot into it.
    Returns an fd of the private network namespace (None when the sandbox has none)."""
    os.setgroups([])
    socket.sethostname("e2b")
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    mb = int(cfg["disk_mb"])
    # Staged over /tmp of this (private) mount namespace, which every uid may traverse.
    mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, f"size={mb}m,nr_inodes={mb * 64},mode=755")
    os.chdir("/tmp")
    root = "."
    for name in ("proc", "dev", "home", "tmp", ".oldroot", ".sandbox"):
        _mkdirs(f"{root}/{name}")
    os.chmod(f"{root}/tmp", 0o1777)
    for src, fd in cfg["binds"]:  # system dirs, the interpreter's prefix: read-only, same path
        target = root + src
        if os.path.islink(src):
            os.symlink(os.readlink(src), target)
            continue
        _mkdirs(target)
        bind_ro(f"/proc/self/fd/{fd}", target)
    _mkdirs(f"{root}{HOME}", 0o755)
    if cfg.get("template_fd") is not None:
        shutil.copytree(f"/proc/self/fd/{cfg['template_fd']}", f"{root}{HOME}", symlinks=True, dirs_exist_ok=True)
    for dirpath, dirnames, filenames in os.walk(f"{root}{HOME}"):
        for name in [dirpath, *(os.path.join(dirpath, n) for n in dirnames + filenames)]:
            os.lchown(name, UID, GID)
    _identity(root)
    _devices(root)
    for rw in (HOME, "/tmp"):  # separate mounts: stay writable when the root goes read-only
        # recursive: a bind already under /tmp (an interpreter or venv living in the host's /tmp)
        # must stay visible under the new mount, not be covered by it
        mount(f"{root}{rw}", f"{root}{rw}", None, MS_BIND | MS_REC)
        mount(None, f"{root}{rw}", None, MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV)
    mount("proc", f"{root}/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    netfd = _private_net(f"{root}/proc")
    _check(_libc.syscall(_PIVOT_ROOT, b".", b".oldroot"), "pivot_root")
    os.chdir("/")
    _check(_libc.umount2(b"/.oldroot", MNT_DETACH), "umount old root")
    os.rmdir("/.oldroot")
    mount(None, "/", None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)
    return netfd


def _identity(root: str) -> None:
    """/etc/passwd and /etc/group that name the sandbox's user (bound over the host's)."""
    files = {"passwd": "root:x:0:0:root:/root:/bin/bash\nuser:x:1000:1000::/home/user:/bin/bash\n"
                       "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
             "group": "root:x:0:\nuser:x:1000:\nnogroup:x:65534:\n",
             "hostname": "e2b\n"}
    for name, text in files.items():
        with open(f"{root}/.sandbox/{name}", "w") as fh:
            fh.write(text)
        if os.path.exists(f"{root}/etc/{name}"):
            bind_ro(f"{root}/.sandbox/{name}", f"{root}/etc/{name}")


def _devices(root: str) -> None:
    for name in ("null", "zero", "full", "random", "urandom", "tty"):
        open(f"{root}/dev/{name}", "w").close()
        mount(f"/dev/{name}", f"{root}/dev/{name}", None, MS_BIND)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
                         ("stderr", "/proc/self/fd/2"), ("ptmx", "pts/ptmx")):
        os.symlink(target, f"{root}/dev/{name}")
    _mkdirs(f"{root}/dev/shm")
    mount("tmpfs", f"{root}/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "size=64m,mode=1777")
    _mkdirs(f"{root}/dev/pts")
    try:  # a pty of its own (newinstance): none of the host's terminals
        mount("devpts", f"{root}/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=620")
    except OSError:
        pass


def _private_net(proc: str) -> int:
    """A network namespace with only a loopback device, kept by fd for the commands without internet."""
    ready_r, ready_w = os.pipe()
    done_r, done_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            _check(_libc.unshare(CLONE_NEWNET), "unshare(net)")
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:  # SIOCSIFFLAGS lo: IFF_UP|IFF_LOOPBACK|IFF_RUNNING
                fcntl.ioctl(s, 0x8914, struct.pack("16sh14x", b"lo", 0x1 | 0x8 | 0x40))
            os.write(ready_w, b"1")
            os.read(done_r, 1)
        finally:
            os._exit(0)
    try:
        if os.read(ready_r, 1) != b"1":
            raise OSError("private network namespace failed")
        return os.open(f"{proc}/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    finally:
        os.write(done_w, b"x")
        for fd in (ready_r, ready_w, done_r, done_w):
            os.close(fd)
        os.waitpid(pid, 0)


# -- serving ---------------------------------------------------------------------------------
class Init:
    def __init__(self, ctl: socket.socket, netfd: int | None) -> None:
        self.ctl, self.netfd = ctl, netfd
        self.children: set[int] = set()
        self.backlog: list[tuple[dict, list[int]]] = []
        self.devnull = os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC)

    def send(self, msg: dict, fds=()) -> None:
        data = json.dumps(msg).encode()
        if len(data) > _MAX_MSG:
            data = json.dumps({"id": msg.get("id"), "error": "EFBIG", "message": "reply too large"}).encode()
            fds = ()
        socket.send_fds(self.ctl, [data], list(fds)) if fds else self.ctl.send(data)

    def serve(self) -> None:
        r, w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        sel = selectors.DefaultSelector()
        sel.register(self.ctl, selectors.EVENT_READ, "ctl")
        sel.register(r, selectors.EVENT_READ, "sig")
        self.reap()
        while True:
            while self.backlog:
                self.handle(*self.backlog.pop(0))
            for key, _ in sel.select():
                if key.data == "sig":
                    try:
                        while os.read(r, 512):
                            pass
                    except BlockingIOError:
                        pass
                    self.reap()
                    continue
                try:  # non-blocking: `take_signals` may have read what woke this select
                    data, fds, _flags, _addr = _recv_nowait(self.ctl)
                except (BlockingIOError, InterruptedError):
                    continue
                if not data:  # sandboxd is gone: so is the sandbox (pid 1 exits, the kernel kills the rest)
                    os._exit(0)
                self.handle(json.loads(data), fds)

    def reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid in self.children:  # orphans adopted by pid 1 are reaped silently
                self.children.discard(pid)
                self.send({"op": "exit", "pid": pid, "status": status})

    def handle(self, req: dict, fds: list[int]) -> None:
        rid = req.get("id")
        try:
            if req["op"] == "spawn":
                self.send({"id": rid, "pid": self.spawn(req, fds)})
                return
            if req["op"] == "signal":  # no answer: sandboxd signals from code that cannot wait
                signal_tree(int(req["pid"]), int(req["sig"]), bool(req.get("tree")), self.reap)
                return
            if req["op"] == "copyout":  # as the sandbox's root: everything under /home/user
                out, out_fds = op_copyout(req, fds)
            else:
                with _as_user():
                    out, out_fds = FILE_OPS[req["op"]](req)
            try:
                self.send({"id": rid, **out}, out_fds)
            finally:
                for fd in out_fds:
                    os.close(fd)
        except OSError as e:
            self.send({"id": rid, "error": errno.errorcode.get(e.errno or 0, "EIO"), "message": str(e)})
        except Exception as e:  # a bad request must not end the sandbox
            self.send({"id": rid, "error": "EINVAL", "message": f"{type(e).__name__}: {e}"})
        finally:
            for fd in fds:
                os.close(fd)

    def _fork(self) -> int:
        """fork(), retried for a second while the pids cgroup is full: the zombies of a killed
        fork bomb hold their slots until this init has reaped them."""
        for _ in range(200):
            try:
                return os.fork()
            except BlockingIOError:
                self.reap()
                self.take_signals()  # the kill of the bomb may be queued behind this request
                time.sleep(0.01)
        return os.fork()

    def take_signals(self) -> None:
        """Handle the queued `signal` requests now; keep the others for the serve loop."""
        while True:
            try:
                data, fds, _flags, _addr = _recv_nowait(self.ctl)
            except (BlockingIOError, InterruptedError):
                return
            if not data:
                os._exit(0)
            req = json.loads(data)
            if req.get("op") == "signal":
                self.handle(req, fds)
            else:
                self.backlog.append((req, fds))

    def spawn(self, req: dict, fds: list[int]) -> int:
        stdio = list(fds) if req.get("stdin") else [self.devnull, *fds]
        errr, errw = os.pipe2(os.O_CLOEXEC)
        pid = self._fork()
        if pid == 0:
            try:
                os.close(errr)
                os.setsid()
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                signal.set_wakeup_fd(-1)
                if self.netfd is not None and not req.get("internet", False):
                    _check(_libc.setns(self.netfd, CLONE_NEWNET), "setns(net)")
                for res, value in req.get("rlimits", []):
                    import resource
                    resource.setrlimit(res, (value, value))
                try:  # an OOM in the sandbox takes a command rather than pid 1
                    with open("/proc/self/oom_score_adj", "w") as fh:
                        fh.write("500")
                except OSError:
                    pass
                uid = 0 if req.get("user") == "root" else UID
                os.setgroups([uid])
                os.setresgid(uid, uid, uid)
                os.setresuid(uid, uid, uid)
                os.chdir(_abs(req.get("cwd") or HOME))
                for i, fd in enumerate(stdio):
                    os.dup2(fd, i)
                if req.get("tty"):  # a pseudo-terminal's slave: the session's controlling terminal
                    fcntl.ioctl(0, TIOCSCTTY, 0)
                os.closerange(3, errw)
                os.closerange(errw + 1, 65536)
                argv, env = req["argv"], req["env"]
                path = argv[0] if "/" in argv[0] else (shutil.which(argv[0], path=env.get("PATH")) or argv[0])
                os.execve(path, argv, env)
            except BaseException as e:  # noqa: BLE001 - the child must never return into the server loop
                try:
                    os.write(errw, json.dumps([getattr(e, "errno", 0) or 0, str(e)]).encode())
                finally:
                    os._exit(127)
        os.close(errw)
        try:
            err = os.read(errr, 65536)
        finally:
            os.close(errr)
        if err:
            os.waitpid(pid, 0)
            code, message = json.loads(err)
            raise OSError(code or errno.EINVAL, message)
        self.children.add(pid)
        return pid


def signal_tree(pid: int, sig: int, tree: bool, reap=lambda: None) -> None:
    """Signal a command's process group and, with `tree`, every process descended from it (also
    those that left the group): read before anything dies, as orphans are reparented to pid 1."""
    doomed = []
    if tree:
        parents: dict[int, list[int]] = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/stat") as fh:
                        ppid = int(fh.read().rpartition(")")[2].split()[1])
                except (OSError, ValueError, IndexError):
                    continue
                parents.setdefault(ppid, []).append(int(entry))
        todo = [pid]
        while todo:
            kids = parents.get(todo.pop(), [])
            doomed.extend(kids)
            todo.extend(kids)
    for target, kill in ((pid, os.killpg), *((d, os.kill) for d in doomed)):
        try:
            kill(target, sig)
        except (ProcessLookupError, PermissionError):
            pass
    # A fork bomb's group refills as it dies: SIGKILL it until the group is empty (at most ~1 s).
    for _ in range(500 if sig == signal.SIGKILL else 0):
        try:
            os.killpg(pid, sig)
        except (ProcessLookupError, PermissionError):
            break
        time.sleep(0.002)
        reap()  # its zombies stay in the group until reaped


def _recv_nowait(sock: socket.socket) -> tuple[bytes, list[int], int, object]:
    """`socket.recv_fds` without blocking (Python 3.11's ignores its `flags`)."""
    fds = array.array("i")
    msg, anc, flags, addr = sock.recvmsg(_MAX_MSG, socket.CMSG_LEN(8 * fds.itemsize), socket.MSG_DONTWAIT)
    for level, kind, data in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(data[:len(data) - (len(data) % fds.itemsize)])
    return msg, list(fds), flags, addr


class _as_user:
    """File operations with the user's file credentials: the kernel checks what the user may do."""

    def __enter__(self):
        _libc.setfsgid(GID)
        _libc.setfsuid(UID)

    def __exit__(self, *exc):
        _libc.setfsuid(0)
        _libc.setfsgid(0)
        _libc.prctl(PR_SET_DUMPABLE, 1)  # a credential change clears it (see main)


def _abs(path: str) -> str:
    if path == "~" or path.startswith("~/"):
        path = HOME + path[1:]
    return os.path.normpath(os.path.join(HOME, path or HOME))


def entry(path: str) -> dict:
    st = os.lstat(path)
    kind = "symlink" if stat.S_ISLNK(st.st_mode) else "dir" if stat.S_ISDIR(st.st_mode) else "file"
    out = {"name": os.path.basename(path) or "/", "path": path, "type": kind, "size": st.st_size,
           "mode": stat.S_IMODE(st.st_mode), "permissions": stat.filemode(st.st_mode), "mtime": st.st_mtime,
           "uid": st.st_uid, "gid": st.st_gid}
    try:  # file metadata (envd's `user.e2b.*` extended attributes)
        out["metadata"] = {n[9:]: os.getxattr(path, n, follow_symlinks=False).decode(errors="replace")
                           for n in os.listxattr(path, follow_symlinks=False) if n.startswith("user.e2b.")}
    except OSError:
        pass
    if kind == "symlink":
        out["target"] = os.path.realpath(path)
        try:
            out["target_type"] = "dir" if os.path.isdir(path) else "file"
        except OSError:
            pass
    return out


def op_open(req):
    path, mode = _abs(req["path"]), req["mode"]
    if mode == "r":
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise OSError(errno.EISDIR if os.path.isdir(path) else errno.EINVAL, f"{path} is not a regular file")
        return {"entry": entry(path)}, [fd]
    # write: a new file next to the target, renamed over it by `move` once written
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    if os.path.isdir(path):
        raise OSError(errno.EISDIR, f"path {path} is a directory")
    # the name a watcher knows for the files API's temp files (`_watch._UPLOAD`)
    tmp = os.path.join(parent, f".{os.path.basename(path)}.{os.urandom(4).hex()}.upload")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644)
    return {"tmp": tmp, "path": path}, [fd]


def op_stat(req):
    return {"entry": entry(_abs(req["path"]))}, []


def op_list(req):
    top, depth = _abs(req["path"]), max(1, int(req.get("depth") or 1))
    if not os.path.isdir(top):
        raise OSError(errno.ENOTDIR if os.path.exists(top) else errno.ENOENT, f"directory {top} not found")
    out = []

    def walk(directory: str, level: int) -> None:  # depth first, as envd lists: a dir, then what it holds
        for name in sorted(os.listdir(directory)):
            path = os.path.join(directory, name)
            out.append(entry(path))
            if level < depth and os.path.isdir(path) and not os.path.islink(path):
                walk(path, level + 1)

    walk(top, 1)
    return {"entries": out}, []


def op_mkdir(req):
    path = _abs(req["path"])
    if os.path.lexists(path):
        raise OSError(errno.EEXIST, f"path {path} already exists")
    os.makedirs(path)
    return {"entry": entry(path)}, []


def op_remove(req):
    path = _abs(req["path"])
    if not os.path.lexists(path):  # envd's remove is idempotent
        return {}, []
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    else:
        os.unlink(path)
    return {}, []


def op_move(req):
    src, dst = _abs(req["source"]), _abs(req["destination"])
    if not os.path.lexists(src):
        raise OSError(errno.ENOENT, f"path {src} not found")
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    os.rename(src, dst)
    return {"entry": entry(dst)}, []


def op_disk(req):
    st = os.statvfs(HOME)
    return {"total": st.f_blocks * st.f_frsize, "used": (st.f_blocks - st.f_bfree) * st.f_frsize}, []


def op_openpty(req):
    """A pseudo-terminal of the sandbox's own devpts (so `tty` names it inside): master, slave."""
    master, slave = os.openpty()
    return {}, [master, slave]


def op_copyout(req, fds):
    """Copy /home/user into the directory sandboxd passed (a snapshot's, a fork's): links are
    copied as links, special files (fifos, sockets) left out."""
    def special(d, names):
        return [n for n in names if not (os.path.islink(os.path.join(d, n)) or os.path.isdir(os.path.join(d, n))
                                         or os.path.isfile(os.path.join(d, n)))]
    shutil.copytree(HOME, f"/proc/self/fd/{fds[0]}", symlinks=True, ignore=special, dirs_exist_ok=True)
    return {}, []


FILE_OPS = {"ping": lambda req: ({}, []), "openpty": op_openpty, "open": op_open, "stat": op_stat, "list": op_list, "mkdir": op_mkdir, "remove": op_remove,
            "move": op_move, "disk": op_disk}


def main() -> None:
    """Unshare, have sandboxd map the uids, fork pid 1 (the init proper) and wait for it."""
    cfg = json.loads(os.environ.pop("NSINIT"))
    ctl = socket.socket(fileno=cfg["ctl_fd"])
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # sandboxd gone (even SIGKILLed): sandbox gone
    _check(_libc.unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS), "unshare")
    # Opened now, in the new mount namespace and before the uid changes: the host's root may
    # traverse to an interpreter under /root or a template under a private directory.
    cfg["binds"] = [(src, os.open(src, os.O_PATH | os.O_NOFOLLOW)) for src in cfg["binds"]]
    if cfg.get("template"):
        cfg["template_fd"] = os.open(cfg["template"], os.O_PATH | os.O_DIRECTORY)
    ctl.send(b'{"unshared": true}')
    if ctl.recv(64) != b"mapped":  # sandboxd writes our uid_map/gid_map (it holds CAP_SETUID outside)
        os._exit(1)
    os.setresgid(0, 0, 0)
    os.setresuid(0, 0, 0)
    _libc.prctl(PR_SET_DUMPABLE, 1)  # a uid change cleared it: pid 1 could not open its helper's /proc/N/ns
    pid = os.fork()
    if pid:
        ctl.close()
        os._exit(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) & 0xFF)
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    try:
        netfd = build_root(cfg)
    except Exception as e:  # noqa: BLE001 - reported to sandboxd, which says why the sandbox failed
        ctl.send(json.dumps({"ready": False, "error": f"{type(e).__name__}: {e}"}).encode())
        os._exit(1)
    for fd in os.listdir("/proc/self/fd"):  # what the setup needed: the host's directories
        if int(fd) not in (0, 1, 2, ctl.fileno(), netfd):
            try:
                os.close(int(fd))
            except OSError:
                pass
    os.umask(0o022)
    init = Init(ctl, netfd)
    init.send({"ready": True})
    init.serve()


if __name__ == "__main__":
    main()
