"""The research cache key moves with every ingredient of a result and with nothing else.

Regression for issue 10: a commit that tripled `validation/reference.py`'s fees was certified
from results cached under the old code, because the key held the task inputs and the task
wrapper's source only.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from tasks import _cachekey
from tasks._cachekey import ResultKey, code_sha256, data_sha256, module_closure

ROOT = Path(__file__).resolve().parents[2]
INPUTS = {"symbol": "SPX", "start": "2017-01-03", "end": None, "strategy": "sma_crossover",
          "params_or_grid": {"fast": [5, 10], "slow": [50]}, "settings": {"fees": 0.001, "slippage": 0.0005},
          "fingerprint": "1234:abcd", "data_sha256": "d" * 64, "run_id": "run-a", "code": "c0de"}
LIBS = {"python": "3.11.7", "vectorbt": "1.2.0", "great-expectations": "1.24.1", "numpy": "2.4.6", "pandas": "3.1.1"}


def _key(inputs=INPUTS, code="c0de", libraries=LIBS) -> str:
    return ResultKey(code=code, libraries=libraries).compute_key(None, inputs, {})


def test_the_key_changes_with_each_ingredient_and_with_nothing_else():
    base = _key()
    assert _key() == base  # the same ingredients: the same key
    assert _key({**INPUTS, "run_id": "run-b"}) == base  # who computed it is provenance, not an ingredient
    changed = {
        "source": _key(code="c0de2"),
        "data file": _key({**INPUTS, "data_sha256": "e" * 64}),
        "data content": _key({**INPUTS, "fingerprint": "1234:abce"}),
        "spec section": _key({**INPUTS, "settings": {"fees": 0.003, "slippage": 0.0005}}),
        "strategy grid": _key({**INPUTS, "params_or_grid": {"fast": [5], "slow": [50]}}),
        "library version": _key(libraries={**LIBS, "vectorbt": "1.2.1"}),
        "a library added": _key(libraries={**LIBS, "scipy": "1.17.1"}),
    }
    assert all(k != base for k in changed.values()), changed
    assert len(set(changed.values())) == len(changed)


def _package(tmp_path: Path, monkeypatch) -> Path:
    """pkgx: `a` imports `b` inside a function and `.c` relatively; `d` is imported by nobody."""
    pkg = tmp_path / "pkgx"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from .c import helper\n\ndef f():\n    from pkgx import b\n    return b.g()\n")
    (pkg / "b.py").write_text("import json\n\ndef g():\n    return 1\n")
    (pkg / "c.py").write_text("def helper():\n    return 2\n")
    (pkg / "d.py").write_text("X = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in [m for m in sys.modules if m == "pkgx" or m.startswith("pkgx.")]:
        monkeypatch.delitem(sys.modules, name)
    return pkg


def test_the_code_hash_covers_every_module_the_entry_imports_even_lazily(tmp_path, monkeypatch):
    pkg = _package(tmp_path, monkeypatch)
    pkgs = frozenset({"pkgx"})
    assert list(module_closure(("pkgx.a",), pkgs)) == ["pkgx", "pkgx.a", "pkgx.b", "pkgx.c"]
    before = code_sha256(("pkgx.a",), pkgs)
    (pkg / "d.py").write_text("X = 2\n")  # a module no entry imports: the key must not move
    assert code_sha256(("pkgx.a",), pkgs) == before
    (pkg / "b.py").write_text("import json\n\ndef g():\n    return 3  # a changed result\n")
    assert code_sha256(("pkgx.a",), pkgs) != before


def test_the_real_closure_holds_every_module_that_computes_a_cached_result():
    files = {Path(p).relative_to(ROOT).as_posix() for p in module_closure().values()}
    for must in ("tasks/research.py", "tradeswarm/backtest/engine.py", "validation/backtest_validity.py",
                 "tradeswarm/backtest/_vbt.py", "tradeswarm/agents/strategies/sma_crossover.py",
                 "tradeswarm/agents/strategies/momentum.py", "validation/reference.py", "validation/gates.py",
                 "validation/contract.py", "tradeswarm/marketdata/shipped.py", "tradeswarm/marketdata/sources.py"):
        assert must in files, must
    assert not any(f.startswith(("tests/", "flows/")) for f in files)  # what the tasks never import


def test_the_data_hash_is_the_shipped_file_and_moves_when_it_changes(tmp_path, monkeypatch):
    data = tmp_path / "data"
    shutil.copytree(ROOT / "data", data)
    monkeypatch.setenv("TRADESWARM_DATA_DIR", str(data))
    spx, ndx = data_sha256("SPX"), data_sha256("NDX")
    assert spx and ndx and spx != ndx
    assert data_sha256("SYN1") is None  # generated: the generator's code is in the closure
    blob = (data / "SPX.csv.gz").read_bytes()
    (data / "SPX.csv.gz").write_bytes(blob + b"\0")
    assert data_sha256("SPX") != spx and data_sha256("NDX") == ndx


def test_library_versions_name_the_numeric_libraries():
    libs = _cachekey.library_versions()
    assert {"python", "vectorbt", "great-expectations", "numpy", "pandas"} <= set(libs)
    assert all(libs[k] for k in ("vectorbt", "great-expectations", "numpy", "pandas"))


@pytest.mark.parametrize("module", ["validation.reference", "tradeswarm.backtest.engine"])
def test_a_module_loaded_from_changed_source_changes_the_running_code_hash(tmp_path, monkeypatch, module):
    """The hash reads the files the running modules were loaded from (`sys.modules` first)."""
    import importlib
    import importlib.util

    before = code_sha256()
    real = importlib.import_module(module)
    changed = tmp_path / Path(real.__file__).name
    changed.write_text(Path(real.__file__).read_text() + "\n# changed\n")
    spec = importlib.util.spec_from_file_location(module, changed)
    monkeypatch.setitem(sys.modules, module, importlib.util.module_from_spec(spec))
    assert code_sha256() != before
    monkeypatch.setitem(sys.modules, module, real)
    assert code_sha256() == before
