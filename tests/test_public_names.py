"""Each package says what it offers, and what crosses a package boundary is public (httpx's
`test_exported_members`, per package; docs/architecture.md).

- A package's `__all__` is exactly its public names: what its `__init__` defines or imports
  without a leading underscore (submodules aside).
- No module imports a private name (`_x`, or anything from a private module `_m`) of another
  package; inside a package and its subpackages private names are fine.
"""

from __future__ import annotations

import __future__
import ast
import importlib
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OURS = ("tradeswarm", "validation", "flows", "tasks", "reports")

def packages() -> list[str]:
    return sorted(".".join(p.parent.relative_to(ROOT).parts)
                  for top in OURS for p in (ROOT / top).rglob("__init__.py"))


def _ours(value: object) -> bool:
    """False for what a package merely uses from elsewhere (`typing.Any`, a pandas class)."""
    module = getattr(value, "__module__", None)
    defined = isinstance(value, (type, types.FunctionType, types.BuiltinFunctionType)) or module == "typing"
    return not defined or module.split(".")[0] in OURS  # an instance (a path, a click group) is the package's


def public_names(module: types.ModuleType) -> list[str]:
    return sorted(name for name, value in vars(module).items()
                  if not name.startswith("_") and _ours(value)
                  and not isinstance(value, (types.ModuleType, __future__._Feature)))


@pytest.mark.parametrize("name", packages())
def test_all_is_exactly_the_public_names(name):
    module = importlib.import_module(name)
    assert hasattr(module, "__all__"), f"{name} has no __all__"
    assert sorted(module.__all__) == public_names(module)


def private_imports(root: Path) -> list[str]:
    """`path:line name` of every import of another package's private name under `root`."""
    found = []
    for top in OURS:
        for path in sorted((root / top).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            package = parts[:-1] if parts[-1] != "__init__" else parts[:-1]
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.ImportFrom):
                    base = (package[: len(package) - node.level + 1] if node.level else ())
                    module = (*base, *(node.module.split(".") if node.module else ()))
                    targets = [(*module, a.name) for a in node.names]
                elif isinstance(node, ast.Import):
                    targets = [tuple(a.name.split(".")) for a in node.names]
                else:
                    continue
                for target in targets:
                    if target[0] not in OURS:
                        continue
                    private = next((i for i, p in enumerate(target) if p.startswith("_") and not p.startswith("__")), None)
                    if private is None:
                        continue
                    # a private module is its package's; a private name in a module, that module's package's
                    owner = target[:private] if private < len(target) - 1 else target[: private - 1]
                    if package[: len(owner)] != owner:
                        found.append(f"{path.relative_to(root).as_posix()}:{node.lineno} {'.'.join(target)}")
    return found


def test_no_package_imports_another_packages_private_names():
    assert private_imports(ROOT) == []


def test_a_private_import_across_packages_is_caught(tmp_path):
    (tmp_path / "tasks").mkdir()
    (tmp_path / "tasks" / "publish.py").write_text("from reports._format import REPORT_MODE\n")
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "render.py").write_text("from reports._format import escape\nfrom ._format import x\n")
    (tmp_path / "tradeswarm" / "swarm").mkdir(parents=True)
    (tmp_path / "tradeswarm" / "swarm" / "a.py").write_text(
        "from tradeswarm.backtest.engine import _check_data\nfrom tradeswarm._io import w\n")
    assert sorted(private_imports(tmp_path)) == ["tasks/publish.py:1 reports._format.REPORT_MODE",
                                                 "tradeswarm/swarm/a.py:1 tradeswarm.backtest.engine._check_data"]
