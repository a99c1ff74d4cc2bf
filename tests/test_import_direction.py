"""Imports point one way (docs/architecture.md): the domain never reaches up into the layers that
certify it, and the judges never into the flow.

- `tradeswarm/` (except `tradeswarm/cli/`, the top of the house) imports nothing from `flows`,
  `tasks`, `validation` or `reports`;
- `validation/` imports nothing from `flows` or `tasks`.

Every import counts, the lazy ones inside functions too (they are how such a dependency hides),
and so does `importlib.import_module("...")` with a literal name.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: (folder, folders inside it that are exempt, top-level packages it must not import)
RULES = (
    ("tradeswarm", ("tradeswarm/cli",), ("flows", "tasks", "validation", "reports")),
    ("validation", (), ("flows", "tasks")),
)


def imported_modules(source: str) -> list[tuple[int, str]]:
    """`(line, module)` of every absolute import in `source`, at any depth."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.append((node.lineno, node.module))
        elif (isinstance(node, ast.Call) and isinstance(node.func, (ast.Attribute, ast.Name))
              and getattr(node.func, "attr", getattr(node.func, "id", None)) == "import_module"
              and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            out.append((node.lineno, node.args[0].value))
    return out


def violations(root: Path) -> list[str]:
    """Every import under `root` that breaks one of `RULES`, as `path:line imports module`."""
    found = []
    for folder, exempt, forbidden in RULES:
        for path in sorted((root / folder).rglob("*.py")):
            rel = path.relative_to(root).as_posix()
            if any(rel.startswith(e + "/") for e in exempt):
                continue
            for line, module in imported_modules(path.read_text(encoding="utf-8")):
                if module.split(".")[0] in forbidden:
                    found.append(f"{rel}:{line} imports {module}")
    return found


def test_the_domain_and_the_judges_import_only_downwards():
    assert violations(ROOT) == []


@pytest.mark.parametrize("where, line", [
    ("tradeswarm/backtest/engine.py", "from validation.contract import ensure_valid"),
    ("tradeswarm/swarm/sub.py", "def f():\n    import reports.render\n"),
    ("tradeswarm/stress/x.py", "import importlib\nimportlib.import_module('flows.certify')\n"),
    ("validation/judge.py", "from tasks.publish import publish"),
])
def test_a_forbidden_import_is_caught(tmp_path, where, line):
    target = tmp_path / where
    target.parent.mkdir(parents=True)
    target.write_text(line + "\n")
    (tmp_path / "tradeswarm" / "cli").mkdir(parents=True, exist_ok=True)
    (tmp_path / "tradeswarm" / "cli" / "top.py").write_text("import flows.certify\nimport validation\n")
    (tmp_path / "validation").mkdir(exist_ok=True)
    (tmp_path / "validation" / "ok.py").write_text("from tradeswarm.backtest import run_sweep\n")
    assert [v.split(":")[0] for v in violations(tmp_path)] == [where]  # the CLI and downward imports pass
