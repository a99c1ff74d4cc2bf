"""Filesystem snapshots of sandboxes: copies of a workspace that new sandboxes start from.

E2B's `create_snapshot` captures a sandbox (memory too, in its microVM); sandboxd captures the
workspace, which is everything a sandbox here owns. A snapshot is addressed by its id or by
its name wherever E2B takes a template (`Sandbox.create(snapshot_id)`), listed by
`GET /snapshots` and deleted by `DELETE /templates/{id}`, as on E2B.

>>> from pathlib import Path
>>> snaps = Snapshots(Path("/nonexistent"))
>>> snaps.find("nope") is None
True
"""

from __future__ import annotations

import shutil
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path


@dataclass
class Snapshot:
    id: str
    path: Path
    sandbox_id: str
    template: str  # the template the snapshotted sandbox came from (its environment)
    names: list[str] = field(default_factory=list)
    created_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))

    def view(self) -> dict:
        return {"snapshotID": self.id, "names": self.names}


class Snapshots:
    """The snapshots of one sandboxd, each a directory under `root`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.by_id: dict[str, Snapshot] = {}

    def new(self, sandbox_id: str, template: str, name: str | None) -> Snapshot:
        sid = "snap" + uuid.uuid4().hex[:16]
        snap = Snapshot(id=sid, path=self.root / sid, sandbox_id=sandbox_id, template=template,
                        names=[name] if name else [])
        return snap

    def add(self, snap: Snapshot) -> None:
        self.by_id[snap.id] = snap

    def find(self, ref: str) -> Snapshot | None:
        """The snapshot with id or name `ref`."""
        return self.by_id.get(ref) or next((s for s in self.by_id.values() if ref in s.names), None)

    def listed(self, sandbox_id: str | None = None, name: str | None = None) -> list[Snapshot]:
        return sorted((s for s in self.by_id.values()
                       if (sandbox_id is None or s.sandbox_id == sandbox_id) and (name is None or name in s.names)),
                      key=lambda s: s.created_at, reverse=True)

    def delete(self, snapshot_id: str) -> bool:
        snap = self.by_id.pop(snapshot_id, None)
        if snap is None:
            return False
        shutil.rmtree(snap.path, ignore_errors=True)
        return True

    def close(self) -> None:
        for sid in list(self.by_id):
            self.delete(sid)
