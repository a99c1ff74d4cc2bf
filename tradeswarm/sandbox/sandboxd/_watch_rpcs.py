"""envd's watcher RPCs: `WatchDir` (a stream, the async SDK) and `CreateWatcher` /
`GetWatcherEvents` / `RemoveWatcher` (polling, the sync SDK), over `_watch.DirWatcher`.

A sandbox's watchers end with it (`SandboxRecord.watchers`, closed by the registry's kill).
"""

from __future__ import annotations

import asyncio
import errno
import os
import posixpath
import uuid
from pathlib import Path

from connectrpc.code import Code
from connectrpc.errors import ConnectError
from protobuf import Oneof

from e2b.envd.filesystem import filesystem_pb as fpb

from tradeswarm.sandbox.sandboxd._streams import abort_current_stream
from tradeswarm.sandbox.sandboxd._watch import DirWatcher, open_in_root

KEEPALIVE_S = 30.0


class WatchRpcs:
    """Mixed into the Filesystem service (which provides `registry`, `_resolve`, `_isolated`)."""

    def _watcher(self, ctx, path: str, recursive: bool, on_event=None):
        if self._isolated(ctx):
            return self._jailed_watcher(ctx, path, recursive, on_event)
        rec, p = self._resolve(ctx, path)
        if not p.exists():
            raise ConnectError(Code.NOT_FOUND, f"path {path!r} not found")
        if not p.is_dir():
            raise ConnectError(Code.INVALID_ARGUMENT, f"path {path!r} is not a directory")
        try:
            return rec, p, DirWatcher(p, recursive, on_event)
        except OSError as e:
            raise ConnectError(Code.INTERNAL, f"cannot watch {path!r}: {e}") from None

    def _jailed_watcher(self, ctx, path: str, recursive: bool, on_event):
        """An isolated sandbox's directory, watched from the host through its init's root: every
        directory is opened with its links resolved inside the sandbox's root (`open_in_root`),
        so a link it plants (or swaps in) never leads to a host directory. `root` is then the
        directory's path as the sandbox sees it."""
        from tradeswarm.sandbox.sandboxd.workspace import E2B_HOME, sandbox_of  # workspace mixes this class in

        rec = sandbox_of(self.registry, ctx)
        if path == "~" or path.startswith("~/"):
            path = E2B_HOME + path[1:]
        top = posixpath.normpath(posixpath.join(E2B_HOME, path or E2B_HOME))
        root_fd = os.open(f"/proc/{rec.jail.init_pid}/root", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.close(open_in_root(root_fd, top))  # its errors are the RPC's
            return rec, Path(top), DirWatcher(Path(top), recursive, on_event, root_fd)
        except OSError as e:
            os.close(root_fd)
            code = {errno.ENOENT: Code.NOT_FOUND, errno.ENOTDIR: Code.INVALID_ARGUMENT}.get(e.errno, Code.INTERNAL)
            raise ConnectError(code, f"cannot watch {path!r}: {e.strerror}") from None

    async def create_watcher(self, request, ctx):
        rec, root, watcher = self._watcher(ctx, request.path, request.recursive)
        wid = uuid.uuid4().hex
        rec.watchers[wid] = (watcher, root, request.include_entry)
        return fpb.CreateWatcherResponse(watcher_id=wid)

    async def get_watcher_events(self, request, ctx):
        rec, _ = self._resolve(ctx, ".")
        found = rec.watchers.get(request.watcher_id)
        if found is None:
            raise ConnectError(Code.NOT_FOUND, f"watcher {request.watcher_id!r} not found")
        watcher, root, include = found
        return fpb.GetWatcherEventsResponse(events=[await _event(rec, t, n, root, include) for t, n in watcher.events()])

    async def remove_watcher(self, request, ctx):
        rec, _ = self._resolve(ctx, ".")
        found = rec.watchers.pop(request.watcher_id, None)
        if found is None:
            raise ConnectError(Code.NOT_FOUND, f"watcher {request.watcher_id!r} not found")
        found[0].close()
        return fpb.RemoveWatcherResponse()

    def watch_dir(self, request, ctx):
        return self._watch_dir(request, ctx)

    async def _watch_dir(self, request, ctx):
        changed = asyncio.Event()
        rec, root, watcher = self._watcher(ctx, request.path, request.recursive, changed.set)
        wid = uuid.uuid4().hex
        rec.watchers[wid] = (watcher, root, request.include_entry)
        try:
            yield fpb.WatchDirResponse(event=Oneof("start", fpb.WatchDirResponse.StartEvent()))
            while True:
                try:
                    async with asyncio.timeout(KEEPALIVE_S):
                        await changed.wait()
                except TimeoutError:
                    yield fpb.WatchDirResponse(event=Oneof("keepalive", fpb.WatchDirResponse.KeepAlive()))
                    continue
                changed.clear()
                if watcher.fd < 0:  # closed by the sandbox's kill: drop the stream as E2B does
                    abort_current_stream()
                    raise ConnectError(Code.UNAVAILABLE, "sandbox was killed")
                for t, n in watcher.events():
                    event = await _event(rec, t, n, root, request.include_entry)
                    yield fpb.WatchDirResponse(event=Oneof("filesystem", event))
        finally:
            rec.watchers.pop(wid, None)
            watcher.close()


async def _event(rec, kind, name: str, root: Path, include_entry: bool) -> fpb.FilesystemEvent:
    from tradeswarm.sandbox.sandboxd.workspace import _entry_pb, entry_info  # workspace mixes this class in

    entry = None
    path = root / name
    if include_entry and rec.jail is not None:  # `root` is the sandbox's path: its init says
        try:
            entry = _entry_pb((await rec.jail.call("stat", path=str(path)))[0]["entry"])
        except OSError:  # gone meanwhile: best effort, as envd
            entry = None
    elif include_entry and (path.exists() or path.is_symlink()):
        try:
            entry = entry_info(path, root)
        except OSError:  # gone meanwhile: best effort, as envd
            entry = None
    return fpb.FilesystemEvent(name=name, type=kind, entry=entry)
