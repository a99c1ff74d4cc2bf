"""File metadata as envd keeps it: `user.e2b.<key>` extended attributes on the file.

A write carries it as `X-Metadata-<key>: value` headers (keys lowercased); `Stat`/`ListDir`
report it; a rename keeps it (the inode moves); an overwrite replaces it (a new inode).

>>> file_metadata({"x-metadata-author": "mish", "content-type": "text/plain"})
{'author': 'mish'}
"""

from __future__ import annotations

import os
from pathlib import Path

from tradeswarm.sandbox.sandboxd.registry import ApiError

_PREFIX = "user.e2b."
_HEADER = "x-metadata-"


def file_metadata(headers: dict[str, str]) -> dict[str, str]:
    """The metadata an upload's (lower-cased) headers carry."""
    out = {k[len(_HEADER):].lower(): v for k, v in headers.items() if k.startswith(_HEADER)}
    for k, v in out.items():
        if not k or "\n" in v or "\r" in v:
            raise ApiError(400, f"invalid metadata {k!r}")
    return out


def set_metadata(path: Path | int, metadata: dict[str, str]) -> None:
    """Store `metadata` on the file at `path` (not following a link), or on an open fd."""
    try:
        for k, v in metadata.items():
            if isinstance(path, int):
                os.setxattr(path, _PREFIX + k, v.encode())
            else:
                os.setxattr(path, _PREFIX + k, v.encode(), follow_symlinks=False)
    except OSError as e:  # a filesystem without user xattrs: say so, never drop it silently
        raise ApiError(507, f"cannot store file metadata here: {e.strerror}") from None


def read_metadata(path: Path) -> dict[str, str]:
    try:
        names = [n for n in os.listxattr(path, follow_symlinks=False) if n.startswith(_PREFIX)]
        return {n[len(_PREFIX):]: os.getxattr(path, n, follow_symlinks=False).decode(errors="replace")
                for n in names}
    except OSError:
        return {}
