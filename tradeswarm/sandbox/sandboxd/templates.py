"""Sandbox templates: directories prepared once at server start and copied on every create.

- `base`: an empty workspace.
- `trading`: `bin/python` (execs the interpreter sandboxd runs with, so the project's
  dependencies import), `bin/agent` (the agent runner's entry point, which sandboxd starts
  warm from its zygote: `_warm.py`; run as a script it starts the runner cold), `lib/tradeswarm/` (the package source, byte-compiled so a new sandbox
  does not pay for compilation) and `data/` (the shipped market data).
"""

from __future__ import annotations

import compileall
import shutil
import sys
from pathlib import Path

import tradeswarm

TEMPLATES = ("base", "trading")

#: Environment every command in a sandbox of that template sees (on top of PATH/HOME/LANG).
#: One BLAS/OpenMP thread: a sandbox is a small machine, and per-thread arenas would count
#: against its memory limit.
TEMPLATE_ENVS: dict[str, dict[str, str]] = {
    "base": {},
    "trading": {"PYTHONPATH": "lib", "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
                "MKL_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"},
}

_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache")


def _repo_root() -> Path:
    return Path(tradeswarm.__file__).resolve().parent.parent


def prepare_templates(root: Path) -> dict[str, Path]:
    """(Re)build every template under `root` and return name → directory."""
    root.mkdir(parents=True, exist_ok=True)
    out: dict[str, Path] = {}
    for name in TEMPLATES:
        target = root / name
        staging = root / f".{name}.staging"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        if name == "trading":
            _fill_trading(staging)
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
        out[name] = target
    return out


def _fill_trading(dest: Path) -> None:
    (dest / "bin").mkdir()
    py = dest / "bin" / "python"
    # exec keeps the pid: a signal to the sandbox process reaches the interpreter itself.
    py.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    py.chmod(0o755)
    agent = dest / "bin" / "agent"
    agent.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m tradeswarm.agents.runner "$@"\n')
    agent.chmod(0o755)
    shutil.copytree(Path(tradeswarm.__file__).resolve().parent, dest / "lib" / "tradeswarm", ignore=_IGNORE)
    compileall.compile_dir(str(dest / "lib"), quiet=1, workers=1)
    data = _repo_root() / "data"
    if data.is_dir():
        shutil.copytree(data, dest / "data", ignore=_IGNORE)
    else:
        (dest / "data").mkdir()
