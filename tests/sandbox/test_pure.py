"""Pure pieces of the sandbox layer, as plain functions: retry classification, rate limiter,
path containment, CLI state, list filters, the limits prefix."""

from __future__ import annotations

import asyncio
import time
from multiprocessing import Process
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from e2b.exceptions import AuthenticationException, NotFoundException, RateLimitException, SandboxException

from tradeswarm.sandbox._retry import RateLimiter, is_transient, with_retries
from tradeswarm.sandbox.cli_state import AmbiguousName, CliState
from tradeswarm.sandbox.sandboxd._limits import ResourceLimits, bash_prefix
from tradeswarm.sandbox.sandboxd.registry import ApiError


def _status_error(code: int) -> SandboxException:
    e = SandboxException("boom")
    e.status_code = code
    return e


@pytest.mark.parametrize("exc,transient", [
    (RateLimitException("429"), True), (_status_error(500), True), (_status_error(503), True),
    (_status_error(429), True), (httpx.ConnectError("refused"), True), (ConnectionResetError(), True),
    (SandboxException("502: bad gateway"), True),
    (_status_error(404), False), (_status_error(400), False), (NotFoundException("gone"), False),
    (AuthenticationException("bad key"), False), (ValueError("bad input"), False),
    (SandboxException("template 'x' not found"), False),
])
def test_is_transient(exc, transient):
    assert is_transient(exc) is transient


def test_with_retries_retries_transient_only():
    calls = []

    async def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise RateLimitException("slow down")
        return "ok"

    assert asyncio.run(with_retries(flaky, base_s=0.001)) == "ok" and len(calls) == 3

    async def bad():
        calls.append(1)
        raise ValueError("no")

    calls.clear()
    with pytest.raises(ValueError):
        asyncio.run(with_retries(bad, base_s=0.001))
    assert len(calls) == 1


def test_rate_limiter_spaces_acquisitions():
    async def main(rate):
        lim = RateLimiter(rate)
        t0 = time.monotonic()
        for _ in range(5):
            await lim.acquire()
        return time.monotonic() - t0

    assert asyncio.run(main(50.0)) >= 4 / 50 * 0.9
    assert asyncio.run(main(None)) < 0.01  # no rate: no waiting


def _rec(tmp_path: Path) -> SimpleNamespace:
    ws = tmp_path / "ws"
    (ws / "sub").mkdir(parents=True)
    return SimpleNamespace(workspace=ws)


@pytest.mark.parametrize("path", ["a.txt", "sub/b", "~/c", "", "sub/../a.txt"])
def test_resolve_path_inside(tmp_path, path):
    from tradeswarm.sandbox.sandboxd.workspace import resolve_path

    rec = _rec(tmp_path)
    root = rec.workspace.resolve()
    got = resolve_path(rec, path)
    assert got == root or root in got.parents
    assert resolve_path(rec, str(root / "sub")) == root / "sub"  # an absolute path inside is fine


@pytest.mark.parametrize("path", ["../x", "/etc/passwd", "sub/../../x", "~/../x"])
def test_resolve_path_outside_is_refused(tmp_path, path):
    from tradeswarm.sandbox.sandboxd.workspace import resolve_path

    with pytest.raises(ApiError) as e:
        resolve_path(_rec(tmp_path), path)
    assert e.value.status == 403


def test_resolve_path_follows_symlinks_before_checking(tmp_path):
    from tradeswarm.sandbox.sandboxd.workspace import resolve_path

    rec = _rec(tmp_path)
    (rec.workspace / "out").symlink_to(tmp_path)
    with pytest.raises(ApiError):
        resolve_path(rec, "out/anything")


def _add(state_dir: str, i: int) -> None:
    for j in range(20):
        with CliState(Path(state_dir)).update() as entries:
            entries[f"p{i}-{j}"] = {"name": f"n{i}-{j}"}


def test_cli_state_survives_concurrent_writers(tmp_path):
    procs = [Process(target=_add, args=(str(tmp_path), i)) for i in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
    entries = CliState(tmp_path).read()
    assert len(entries) == 60


def test_cli_state_resolves_names(tmp_path):
    state = CliState(tmp_path)
    with state.update() as entries:
        entries["id1"] = {"name": "alpha"}
        entries["id2"] = {"name": "dup"}
        entries["id3"] = {"name": "dup"}
    assert state.resolve("alpha") == "id1" and state.resolve("id2") == "id2"
    with pytest.raises(AmbiguousName, match=r"'dup' is ambiguous.*id2, id3"):  # never guessed, both named
        state.resolve("dup")
    assert state.resolve("unknown") == "unknown"


def test_bash_prefix_sets_every_limit_and_joins_the_cgroup(tmp_path):
    text = bash_prefix(ResourceLimits(cpu_seconds=7, memory_mb=100, max_processes=9, max_file_mb=3), tmp_path / "cg x")
    assert "-t 7" in text and f"-v {100 * 1024}" in text and f"-f {3 * 1024}" in text and "-u 9" in text
    assert "echo $$ > '" in text and "cg x/cgroup.procs'" in text
    assert "cgroup.procs" not in bash_prefix(ResourceLimits(), None)
