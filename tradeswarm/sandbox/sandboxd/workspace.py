"""Paths inside a sandbox's workspace, and the filesystem surface envd offers over them.

A relative path is relative to the workspace (the sandbox's HOME, as on E2B); an absolute
path must already lie inside the workspace. Symlinks are resolved before the check, so
neither `../` nor a link planted by a command reaches outside.
"""

from __future__ import annotations

import hmac
import os
import shutil
import stat as stat_mod
from pathlib import Path

from connectrpc.code import Code
from connectrpc.errors import ConnectError

from e2b.envd.filesystem import filesystem_pb as fpb
from e2b.envd.filesystem.filesystem_connect import Filesystem

from tradeswarm.sandbox.sandboxd._metadata import read_metadata
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

    async def stat(self, request, ctx):
        rec = sandbox_of(self.registry, ctx)
        try:
            p = resolve_entry(rec, request.path)
        except ApiError as e:
            raise ConnectError(Code.PERMISSION_DENIED, e.message) from None
        if not p.exists() and not p.is_symlink():
            raise ConnectError(Code.NOT_FOUND, f"path {request.path!r} not found")
        return fpb.StatResponse(entry=entry_info(p, rec.workspace))

    async def make_dir(self, request, ctx):
        rec, p = self._resolve(ctx, request.path)
        if p.exists():
            raise ConnectError(Code.ALREADY_EXISTS, f"path {request.path!r} already exists")
        p.mkdir(parents=True)
        return fpb.MakeDirResponse(entry=entry_info(p, rec.workspace))

    async def remove(self, request, ctx):
        _, p = self._resolve(ctx, request.path)
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        elif p.exists() or p.is_symlink():
            p.unlink()
        # a missing path is not an error: envd's remove is idempotent
        return fpb.RemoveResponse()

    async def move(self, request, ctx):
        rec, src = self._resolve(ctx, request.source)
        _, dst = self._resolve(ctx, request.destination)
        if not src.exists():
            raise ConnectError(Code.NOT_FOUND, f"path {request.source!r} not found")
        dst.parent.mkdir(parents=True, exist_ok=True)
        src.rename(dst)
        return fpb.MoveResponse(entry=entry_info(dst, rec.workspace))

    async def list_dir(self, request, ctx):
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
