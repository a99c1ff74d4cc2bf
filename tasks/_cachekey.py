"""What a cached research result depends on, hashed: code, data files, libraries, inputs.

A cached data validation or backtest may be served only while everything that computed it is
unchanged (docs/runbook.md, "Result cache"). The key therefore covers:

- **code**: the source of every project module the research tasks can execute — derived, not
  listed: the import closure of `tasks.research` (every `import`, top-level or inside a
  function, that resolves to one of this repository's packages, plus the packages' `__init__`
  files), each file as loaded (`sys.modules` first, so the running code is what is hashed);
- **data**: the SHA-256 of each dataset's file (a task input, see `data_sha256`);
- **the spec section and the other task inputs** (Prefect's input hashing);
- **libraries**: the installed versions of the libraries that compute the numbers.

>>> key = ResultKey(code="c0de", libraries={"numpy": "2.0"})
>>> key.compute_key(None, {"symbol": "SPX"}, {}) == key.compute_key(None, {"symbol": "SPX"}, {})
True
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import json
import platform
import sys
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from prefect.cache_policies import CachePolicy
from prefect.utilities.hashing import hash_objects

REPO = Path(__file__).resolve().parent.parent
LIBRARIES = ("vectorbt", "vectorbt-rust", "great-expectations", "numpy", "pandas", "scipy")
ENTRY = "tasks.research"
PROVENANCE = ("run_id",)  # task inputs that say who computed a result, never what it is


def project_packages(root: Path = REPO) -> frozenset[str]:
    """This repository's top-level packages (folders with an `__init__.py`)."""
    return frozenset(p.parent.name for p in root.glob("*/__init__.py"))


def _origin(name: str) -> str | None:
    mod = sys.modules.get(name)
    spec = getattr(mod, "__spec__", None) if mod is not None else None
    if spec is None:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            return None
    origin = getattr(spec, "origin", None)
    return origin if origin and origin.endswith(".py") else None


def _imports(name: str, path: str) -> set[str]:
    """Module names `path` may import (an imported name may be a submodule: both are tried)."""
    is_pkg = Path(path).name == "__init__.py"
    package = name if is_pkg else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(Path(path).read_bytes(), filename=path)):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                try:
                    base = importlib.util.resolve_name("." * node.level + base, package)
                except (ImportError, ValueError):
                    continue
            out.add(base)
            out.update(f"{base}.{a.name}" for a in node.names if a.name != "*")
    return {m for m in out if m}


def module_closure(entries: tuple[str, ...] = (ENTRY,), packages: frozenset[str] | None = None) -> dict[str, str]:
    """{module: file} for `entries` and every project module they import, transitively."""
    packages = project_packages() if packages is None else packages
    seen: dict[str, str] = {}
    todo = list(entries)
    while todo:
        name = todo.pop()
        if name in seen or name.partition(".")[0] not in packages:
            continue
        parts = name.split(".")
        todo.extend(".".join(parts[:i]) for i in range(1, len(parts)))  # importing a.b runs a/__init__
        path = _origin(name)
        if path is None:  # a name imported from a module, not a module
            continue
        seen[name] = path
        todo.extend(_imports(name, path))
    return dict(sorted(seen.items()))


def code_sha256(entries: tuple[str, ...] = (ENTRY,), packages: frozenset[str] | None = None) -> str:
    """One hash over the source of every module in the closure (names and bytes)."""
    h = hashlib.sha256()
    for name, path in module_closure(entries, packages).items():
        h.update(f"{name}\0{hashlib.sha256(Path(path).read_bytes()).hexdigest()}\n".encode())
    return h.hexdigest()


def library_versions() -> dict[str, str | None]:
    """The installed versions of the libraries that compute cached results, and Python's."""
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def data_sha256(symbol: str) -> str | None:
    """SHA-256 of the shipped file that holds `symbol` (None for generated or fetched data,
    whose content hash — the `fingerprint` input — and generator code cover it instead)."""
    from tradeswarm.marketdata import data_dir, manifest

    try:
        entry = manifest().get(symbol)
    except Exception:  # noqa: BLE001 - no manifest: nothing shipped to hash
        return None
    if not entry:
        return None
    path = data_dir() / entry["file"]
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


@dataclass
class ResultKey(CachePolicy):
    """A Prefect cache policy: the task's inputs (without `PROVENANCE`), the code hash and the
    library versions, in one key. Computed once per run (`code`, `libraries`), so a run never
    mixes results of two code versions."""

    code: str = ""
    libraries: dict[str, Any] = field(default_factory=dict)

    def compute_key(self, task_ctx, inputs: dict[str, Any], flow_parameters: dict[str, Any], **kwargs: Any) -> str:
        kept = {k: v for k, v in (inputs or {}).items() if k not in PROVENANCE}
        blob = json.dumps({"inputs": hash_objects(kept, raise_on_failure=True), "code": self.code,
                           "libraries": self.libraries}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()
