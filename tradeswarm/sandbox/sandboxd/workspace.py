"""Paths inside a sandbox, and the filesystem surface envd offers over them.

An isolated sandbox (the default): every file operation is done by the sandbox's init,
inside its mount namespace and with the user's file credentials (docs/contracts.md), so paths
are E2B's — relative ones are relative to `/home/user`, absolute ones name the sandbox's own
root — and a symlink, even one a command swaps in while a request runs, resolves exactly as it
would for that command: to nothing of the host's that the sandbox's user could not already read.

Isolation off (`--no-isolation`): a relative path is relative to the workspace directory; an
absolute path must already lie inside it. Symlinks are resolved before the check, so neither
`../` nor a planted link reaches outside (a link swapped in during the request can: that is
one reason isolation is the default).
"""

from __future__ import annotations

import errno
import hmac
import os
import shutil
import stat as stat_mod
from pathlib import Path

from connectrpc.code import Code
from connectrpc.errors import ConnectError

from e2b.envd.filesystem import filesystem_pb as fpb
from e2b.envd.filesystem.filesystem_connect import Filesystem

from tradeswarm.sandbox.sandboxd._metadata import read_metadata, set_metadata
from tradeswarm.sandbox.sandboxd._namespace import JailError
from tradeswarm.sandbox.sandboxd._watch_rpcs import WatchRpcs
from tradeswarm.sandbox.sandboxd.registry import ApiError, Registry, SandboxRecord


#: The home directory of an E2B sandbox: the files API maps it onto the workspace.
E2B_HOME = "/home/user"


def resolve_path(rec: SandboxRecord, path: str) -> Path:
    """The real path of `path` in the workspace; ApiError(403) when it would leave it."""
    root = rec.workspace.resolve()
    if path == E2B_HOME or path.startswith(E2B_HOME + "/"):  # code written for E2B names its home
        path = "~" + path[len(E2B_HOME):]
    rel = path[2:] if path.startswith("~/") else ("" if path == "~" else path)
    target = Path(os.path.realpath(root / rel))  # an absolute `rel` replaces root, then is checked
    if target != root and root not in target.parents:
        raise ApiError(403, f"path {path!r} is outside the sandbox workspace")
    return target


def resolve_entry(rec: SandboxRecord, path: str) -> Path:
    """Like resolve_path, but a symlink named last stays itself (for its own metadata)."""
    head, _, name = path.rstrip("/").rpartition("/")
    if name in ("", ".", "..", "~") or not head and path.startswith("/"):
        return resolve_path(rec, path)
    return resolve_path(rec, head or ".") / name


def sandbox_of(registry: Registry, ctx) -> SandboxRecord:
    """The sandbox a Connect request addresses (header `E2b-Sandbox-Id`), token checked."""
    headers = ctx.request_headers
    sid = headers.get("e2b-sandbox-id")
    rec = registry.sandboxes.get(sid or "")
    if rec is None:
        raise ConnectError(Code.NOT_FOUND, f"sandbox {sid!r} not found")
    if not hmac.compare_digest(headers.get("x-access-token", "").encode(), rec.envd_token.encode()):
        raise ConnectError(Code.UNAUTHENTICATED, "invalid or missing access token")
    return rec


def entry_info(path: Path, root: Path) -> fpb.EntryInfo:
    st = path.lstat()
    is_link = stat_mod.S_ISLNK(st.st_mode)
    target = os.path.realpath(path) if is_link else None
    if is_link:  # as envd: the type is the target's, and the link says where it points
        try:
            st = os.stat(path)
        except OSError:  # dangling
            pass
    if stat_mod.S_ISLNK(st.st_mode):
        kind = fpb.FileType.SYMLINK
    elif stat_mod.S_ISDIR(st.st_mode):
        kind = fpb.FileType.DIRECTORY
    else:
        kind = fpb.FileType.FILE
    return fpb.EntryInfo(
        name=path.name, type=kind, path=str(path), size=st.st_size, mode=stat_mod.S_IMODE(st.st_mode),
        permissions=stat_mod.filemode(st.st_mode), owner="user", group="user", is_symlink=is_link,
        symlink_target=target, metadata=read_metadata(path),
    )


def write_info(path: Path, metadata: dict[str, str] | None = None) -> dict:
    return {"name": path.name, "type": "file", "path": str(path), **({"metadata": metadata} if metadata else {})}


#: errno name → (HTTP status, Connect code) of an isolated sandbox's file operation
_ERRORS = {"ENOENT": (404, Code.NOT_FOUND), "ENOTDIR": (404, Code.NOT_FOUND), "EEXIST": (409, Code.ALREADY_EXISTS),
           "EACCES": (403, Code.PERMISSION_DENIED), "EPERM": (403, Code.PERMISSION_DENIED),
           "EROFS": (403, Code.PERMISSION_DENIED), "ELOOP": (403, Code.PERMISSION_DENIED),
           "EISDIR": (400, Code.INVALID_ARGUMENT), "ENOSPC": (507, Code.RESOURCE_EXHAUSTED),
           "EDQUOT": (507, Code.RESOURCE_EXHAUSTED), "ESRCH": (404, Code.NOT_FOUND)}
_KINDS = {"file": fpb.FileType.FILE, "dir": fpb.FileType.DIRECTORY, "symlink": fpb.FileType.SYMLINK}
_USERS = {0: "root", 1000: "user"}


def _api_error(e: JailError) -> ApiError:
    return ApiError(_ERRORS.get(e.code, (500, None))[0], str(e))


def _connect_error(e: JailError) -> ConnectError:
    return ConnectError(_ERRORS.get(e.code, (0, Code.INTERNAL))[1], str(e))


def _entry_pb(e: dict) -> fpb.EntryInfo:
    """An entry the init reported, as `entry_info` builds one: a link has its target's type
    (its own when dangling), `is_symlink` and `symlink_target`."""
    link = e["type"] == "symlink"
    kw = {"symlink_target": e["target"]} if link and e.get("target") else {}
    return fpb.EntryInfo(name=e["name"], type=_KINDS[e.get("target_type") or e["type"] if link else e["type"]],
                         path=e["path"], size=e["size"], mode=e["mode"], permissions=e["permissions"],
                         owner=_USERS.get(e["uid"], str(e["uid"])), group=_USERS.get(e["gid"], str(e["gid"])),
                         is_symlink=link, metadata=e.get("metadata") or {}, **kw)


async def read_file(rec: SandboxRecord, path: str) -> bytes:
    """The content of a file of an isolated sandbox, opened by its init as its user."""
    try:
        _, fds = await rec.jail.call("open", path=path or "~", mode="r")
    except JailError as e:
        raise _api_error(e) from None
    with os.fdopen(fds[0], "rb") as fh:
        return fh.read()


async def write_file(rec: SandboxRecord, path: str, data: bytes, metadata: dict[str, str] | None = None) -> dict:
    """Write a file of an isolated sandbox: a new file (the init creates it as the user) then a
    rename over the target, so a command reading it sees the old or the new content (and the
    new file carries only the new metadata, set on its fd)."""
    try:
        msg, fds = await rec.jail.call("open", path=path, mode="w")
        try:
            with os.fdopen(fds[0], "wb") as fh:
                fh.write(data)
                set_metadata(fh.fileno(), metadata or {})
        except ApiError:
            await rec.jail.call("remove", path=msg["tmp"])
            raise
        except OSError as e:  # the disk quota (ENOSPC) or the file-size limit
            await rec.jail.call("remove", path=msg["tmp"])
            raise JailError(_errno_name(e), f"writing {path!r}: {e.strerror}") from None
        await rec.jail.call("move", source=msg["tmp"], destination=msg["path"])
    except JailError as e:
        raise _api_error(e) from None
    return {"name": os.path.basename(msg["path"]), "type": "file", "path": msg["path"],
            **({"metadata": metadata} if metadata else {})}


def _errno_name(e: OSError) -> str:
    return errno.errorcode.get(e.errno or 0, "EIO")


class FilesystemService(WatchRpcs, Filesystem):
    """`filesystem.Filesystem` RPCs behind files.list/exists/get_info/make_dir/remove/rename."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def _resolve(self, ctx, path: str) -> tuple[SandboxRecord, Path]:
        rec = sandbox_of(self.registry, ctx)
        try:
            return rec, resolve_path(rec, path)
        except ApiError as e:
            raise ConnectError(Code.PERMISSION_DENIED, e.message) from None

    def _isolated(self, ctx) -> bool:
        return sandbox_of(self.registry, ctx).jail is not None

    async def _jailed(self, ctx, op: str, **args) -> dict | None:
        """The init's answer for an isolated sandbox; None when the sandbox is not isolated."""
        rec = sandbox_of(self.registry, ctx)
        if rec.jail is None:
            return None
        try:
            return (await rec.jail.call(op, **args))[0]
        except JailError as e:
            raise _connect_error(e) from None

    async def stat(self, request, ctx):
        if (out := await self._jailed(ctx, "stat", path=request.path)) is not None:
            return fpb.StatResponse(entry=_entry_pb(out["entry"]))
        rec = sandbox_of(self.registry, ctx)
        try:
            p = resolve_entry(rec, request.path)
        except ApiError as e:
            raise ConnectError(Code.PERMISSION_DENIED, e.message) from None
        if not p.exists() and not p.is_symlink():
            raise ConnectError(Code.NOT_FOUND, f"path {request.path!r} not found")
        return fpb.StatResponse(entry=entry_info(p, rec.workspace))

    async def make_dir(self, request, ctx):
        if (out := await self._jailed(ctx, "mkdir", path=request.path)) is not None:
            return fpb.MakeDirResponse(entry=_entry_pb(out["entry"]))
        rec, p = self._resolve(ctx, request.path)
        if p.exists():
            raise ConnectError(Code.ALREADY_EXISTS, f"path {request.path!r} already exists")
        p.mkdir(parents=True)
        return fpb.MakeDirResponse(entry=entry_info(p, rec.workspace))

    async def remove(self, request, ctx):
        if await self._jailed(ctx, "remove", path=request.path) is not None:
            return fpb.RemoveResponse()
        _, p = self._resolve(ctx, request.path)
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        elif p.exists() or p.is_symlink():
            p.unlink()
        # a missing path is not an error: envd's remove is idempotent
        return fpb.RemoveResponse()

    async def move(self, request, ctx):
        if (out := await self._jailed(ctx, "move", source=request.source, destination=request.destination)) is not None:
            return fpb.MoveResponse(entry=_entry_pb(out["entry"]))
        rec, src = self._resolve(ctx, request.source)
        _, dst = self._resolve(ctx, request.destination)
        if not src.exists():
            raise ConnectError(Code.NOT_FOUND, f"path {request.source!r} not found")
        dst.parent.mkdir(parents=True, exist_ok=True)
        src.rename(dst)
        return fpb.MoveResponse(entry=entry_info(dst, rec.workspace))

    async def list_dir(self, request, ctx):
        if (out := await self._jailed(ctx, "list", path=request.path, depth=request.depth)) is not None:
            return fpb.ListDirResponse(entries=[_entry_pb(e) for e in out["entries"]])
        rec, p = self._resolve(ctx, request.path)
        if not p.is_dir():
            raise ConnectError(Code.NOT_FOUND, f"directory {request.path!r} not found")
        depth = max(1, request.depth or 1)
        entries = []
        for dirpath, dirnames, filenames in os.walk(p):
            level = len(Path(dirpath).relative_to(p).parts) + 1
            for name in sorted(dirnames + filenames):
                entries.append(entry_info(Path(dirpath) / name, rec.workspace))
            if level >= depth:
                dirnames.clear()
        return fpb.ListDirResponse(entries=entries)
