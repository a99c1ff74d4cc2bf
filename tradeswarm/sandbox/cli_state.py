"""Which sandboxes the CLI (or the MCP server) created, and their names, kept across invocations.

`<state_dir>/sandboxes.json` maps sandbox id → `{name, template, origin, created_at}` (origin:
cli or mcp; see tradeswarm.sandbox.tracked). Every update is a read-modify-write under an
exclusive `flock` on `sandboxes.lock`, and the file is replaced atomically, so two processes
running at once never lose an entry.
"""

from __future__ import annotations

import fcntl
import json
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from tradeswarm.atomic import atomic_write_json


class CliState:
    def __init__(self, state_dir: Path) -> None:
        self.dir = Path(state_dir)
        self.path = self.dir / "sandboxes.json"
        self.lock_path = self.dir / "sandboxes.lock"

    def read(self) -> dict[str, dict]:
        """The entries; CorruptState when the file exists but is not a JSON object of entries."""
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (ValueError, UnicodeDecodeError) as e:
            raise CorruptState(f"{self.path} is corrupt ({e}); fix or remove it "
                               "(it only names the sandboxes the CLI and the MCP server created)") from None
        if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
            raise CorruptState(f"{self.path} is corrupt (not an object of sandbox entries); fix or remove it")
        return data

    @contextmanager
    def update(self) -> Iterator[dict[str, dict]]:
        """Yield the entries for changing in place; written back atomically under the lock."""
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.lock_path, "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                entries = self.read()
                yield entries
                atomic_write_json(self.path, entries)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def resolve(self, ref: str) -> str:
        """A sandbox id from an id or a name the CLI gave it (names resolve to their id).

        AmbiguousName when two sandboxes carry the name (both are listed)."""
        entries = self.read()
        if ref in entries:
            return ref
        by_name = sorted(sid for sid, e in entries.items() if e.get("name") == ref)
        if len(by_name) > 1:
            raise AmbiguousName(f"name {ref!r} is ambiguous: {len(by_name)} sandboxes carry it "
                                f"({', '.join(by_name)}); use an id")
        return by_name[0] if by_name else ref


class CorruptState(ValueError):
    """sandboxes.json cannot be read: acting on it could leak an untracked sandbox."""


class AmbiguousName(LookupError):
    """A name given to several sandboxes."""
