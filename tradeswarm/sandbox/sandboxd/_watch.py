"""Directory watchers for envd's `WatchDir` / `CreateWatcher` RPCs, on Linux inotify (via ctypes).

Events are read as the kernel queues them (an event-loop reader per watcher), so a directory
created under a recursive watch is watched before the next request arrives. Names are relative
to the watched directory (`sub/file.txt`), with envd's event types: CREATE, WRITE, REMOVE,
RENAME (the old name of a move), CHMOD.

The files API writes by temp file + rename (readers never see half a file); a watcher reports
that as envd's own write reports it: CREATE, CHMOD, WRITE for a new file, WRITE for an
existing one, and nothing of the temp file.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import os
import re
import struct
from pathlib import Path
from typing import Callable

from e2b.envd.filesystem import filesystem_pb as fpb

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
IN_MODIFY, IN_ATTRIB, IN_MOVED_FROM, IN_MOVED_TO = 0x2, 0x4, 0x40, 0x80
IN_CREATE, IN_DELETE, IN_ISDIR, IN_IGNORED = 0x100, 0x200, 0x40000000, 0x8000
IN_ONLYDIR = 0x01000000
_OPENAT2 = 437  # the same number on x86_64 and aarch64
RESOLVE_NO_MAGICLINKS, RESOLVE_IN_ROOT = 0x02, 0x10
_MASK = IN_MODIFY | IN_ATTRIB | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE
_IN_NONBLOCK, _IN_CLOEXEC = 0o4000, 0o2000000
_HEADER = struct.Struct("iIII")
_UPLOAD = re.compile(r"^\.(?P<name>.+)\.[0-9a-f]{8}\.upload$")  # the files API's temp files
E = fpb.EventType


class DirWatcher:
    """Watch `root` (and, if `recursive`, every directory below it) until `close()`.

    `on_event` is called with each new (type, relative name) batch; `events()` drains them.
    With `root_fd` (an isolated sandbox's root directory, which the watcher then owns), `root`
    is a path as the sandbox sees it, and every directory is opened with its links resolved
    inside that root (`open_in_root`): a link the sandbox plants or swaps in never leads to a
    host directory. Without, `root` is a host path."""

    def __init__(self, root: Path, recursive: bool, on_event: Callable[[], None] | None = None,
                 root_fd: int | None = None) -> None:
        self.root, self.recursive, self.on_event, self.root_fd = root, recursive, on_event, root_fd
        self.fd = _libc.inotify_init1(_IN_NONBLOCK | _IN_CLOEXEC)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1 failed")
        self._dirs: dict[int, str] = {}  # watch descriptor -> path relative to root ("" = root)
        self._known: set[str] = set()  # names that exist, so a rename-write is told new or not
        self._uploads: dict[int, str] = {}  # move cookie -> target of a temp-file rename
        self._pending: list[tuple[int, str]] = []
        self._add("", announce=False)
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self.fd, self._read)

    def _open(self, rel: str) -> int:
        if self.root_fd is None:
            return os.open(self.root / rel, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        return open_in_root(self.root_fd, f"{self.root}/{rel}" if rel else str(self.root))

    def _add(self, rel: str, announce: bool) -> None:
        try:
            fd = self._open(rel)
        except OSError:
            return  # gone already (or replaced by a link): nothing to watch
        try:  # through the opened directory itself: no path is resolved twice
            wd = _libc.inotify_add_watch(self.fd, os.fsencode(f"/proc/self/fd/{fd}"), _MASK | IN_ONLYDIR)
            if wd < 0:
                return  # the watch limit: its events are simply not seen
            self._dirs[wd] = rel
            entries = [(e.name, e.is_dir(follow_symlinks=False)) for e in os.scandir(fd)]
        except OSError:
            return
        finally:
            os.close(fd)
        for base, is_dir in entries:
            name = f"{rel}/{base}" if rel else base
            if _UPLOAD.match(base):
                continue
            if announce and name not in self._known:  # made before its directory was watched
                self._pending.append((E.CREATE, name))
            self._known.add(name)
            if self.recursive and is_dir:
                self._add(name, announce)

    def _read(self) -> None:
        before = len(self._pending)
        while True:
            try:
                buf = os.read(self.fd, 65536)
            except BlockingIOError:
                break
            except OSError:
                break
            offset = 0
            while offset < len(buf):
                wd, mask, cookie, length = _HEADER.unpack_from(buf, offset)
                raw = buf[offset + _HEADER.size: offset + _HEADER.size + length].rstrip(b"\0")
                offset += _HEADER.size + length
                self._translate(wd, mask, cookie, os.fsdecode(raw))
        if self.on_event is not None and len(self._pending) > before:
            self.on_event()

    def _translate(self, wd: int, mask: int, cookie: int, base: str) -> None:
        if mask & IN_IGNORED:
            self._dirs.pop(wd, None)
            return
        rel = self._dirs.get(wd)
        if rel is None or not base:
            return
        name = f"{rel}/{base}" if rel else base
        upload = _UPLOAD.match(base)
        if upload:
            if mask & IN_MOVED_FROM:
                self._uploads[cookie] = upload["name"]
            return
        if mask & IN_MOVED_TO and cookie in self._uploads:
            self._uploads.pop(cookie)
            if name not in self._known:
                self._pending += [(E.CREATE, name), (E.CHMOD, name)]
            self._pending.append((E.WRITE, name))
        elif mask & (IN_CREATE | IN_MOVED_TO):
            self._pending.append((E.CREATE, name))
            if mask & IN_ISDIR and self.recursive:
                self._add(name, announce=True)
        elif mask & IN_MODIFY:
            self._pending.append((E.WRITE, name))
        elif mask & IN_ATTRIB:
            self._pending.append((E.CHMOD, name))
        elif mask & IN_DELETE:
            self._pending.append((E.REMOVE, name))
        elif mask & IN_MOVED_FROM:
            self._pending.append((E.RENAME, name))
        if mask & (IN_CREATE | IN_MOVED_TO):
            self._known.add(name)
        elif mask & (IN_DELETE | IN_MOVED_FROM):
            self._known.discard(name)

    def events(self) -> list[tuple[int, str]]:
        """The events since the last call (reading what the kernel queued meanwhile)."""
        self._read()
        out, self._pending = self._pending, []
        return out

    def close(self) -> None:
        if self.fd >= 0:
            self._loop.remove_reader(self.fd)
            os.close(self.fd)
            self.fd = -1
            if self.root_fd is not None:
                os.close(self.root_fd)
                self.root_fd = None
            if self.on_event is not None:  # a stream waiting on it learns that it ended
                self.on_event()


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


def open_in_root(root_fd: int, path: str) -> int:
    """Open directory `path` as if `root_fd` were `/` (openat2 RESOLVE_IN_ROOT)."""
    how = _OpenHow(os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, 0, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)
    fd = _libc.syscall(ctypes.c_long(_OPENAT2), ctypes.c_long(root_fd), ctypes.c_char_p(os.fsencode(path.lstrip("/") or ".")),
                       ctypes.byref(how), ctypes.c_size_t(ctypes.sizeof(how)))
    if fd < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{path}: {os.strerror(err)}")
    return fd
