"""The sandbox commands end to end: a real CLI process against the session's sandboxd."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

E2B_CANARY = "e2b_canary_4b1d9e0c7a"


def cli_process(*args: str, env: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    """The CLI as a user runs it: a separate process (slow to start: e2b's import)."""
    return subprocess.run([sys.executable, "-m", "tradeswarm", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})


@pytest.fixture
def cli(capsys, monkeypatch):
    """The CLI in this process (same entry point and exit-code mapping, no interpreter start)."""
    from tradeswarm.cli import run_cli

    def run(*args: str, env: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
        capsys.readouterr()
        with monkeypatch.context() as m:
            for k, v in (env or {}).items():
                m.setenv(k, v)
            m.setattr(sys, "argv", ["tradeswarm", *args])  # `--json` errors are detected from argv
            code = run_cli(list(args))
        out = capsys.readouterr()
        return subprocess.CompletedProcess(args, code, out.out, out.err)

    return run


def _one_error_line(p: subprocess.CompletedProcess) -> str:
    assert "Traceback" not in p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tradeswarm: error:"), p.stderr
    return lines[0]


def test_create_sizes_a_sandbox_and_status_shows_it(sandboxd, cli):
    made = cli("create", "--template", "base", "--vcpus", "1", "--memory-mb", "512", "--json")
    assert made.returncode == 0, made.stderr
    [box] = json.loads(made.stdout)["created"]
    shown = json.loads(cli("status", box["id"], "--json").stdout)
    assert (shown["cpu_count"], shown["memory_mb"]) == (1, 512)
    # the limit is real: 600 MB do not fit in the sandbox's 512
    hog = json.loads(cli("exec", box["id"], "--json", "--", "python3 -c 'x = bytearray(600 * 1024**2)'").stdout)
    assert hog["exit_code"] != 0  # OOM-killed by the sandbox's memory cgroup (isolated), or MemoryError
    fits = json.loads(cli("exec", box["id"], "--json", "--", "python3 -c 'x = bytearray(100 * 1024**2)'").stdout)
    assert fits["exit_code"] == 0
    plain = json.loads(cli("create", "--template", "base", "--json").stdout)["created"][0]  # the opposite case
    assert json.loads(cli("status", plain["id"], "--json").stdout)["memory_mb"] != 512
    for sid in (box["id"], plain["id"]):
        cli("destroy", sid)
    too_big = cli("create", "--template", "base", "--vcpus", "256")  # more cores than the host has
    assert too_big.returncode == 2 and "vcpus" in _one_error_line(too_big)


def test_create_list_status_exec_destroy(sandboxd, cli):
    made = cli("create", "--template", "base", "--count", "2", "--name", "web", "--json")
    assert made.returncode == 0, made.stderr
    created = json.loads(made.stdout)["created"]
    ids = [c["id"] for c in created]
    assert [c["name"] for c in created] == ["web-1", "web-2"]

    listed = json.loads(cli("list", "--json").stdout)["sandboxes"]
    assert set(ids) <= {s["id"] for s in listed}
    human = cli("list")
    assert human.returncode == 0 and "web-1" in human.stdout and human.stdout.startswith("ID")

    st = cli("status", "web-2", "--json")
    assert st.returncode == 0 and json.loads(st.stdout)["id"] == ids[1]
    human = cli("status", "web-2")
    head, row = human.stdout.splitlines()
    assert head.split()[:3] == ["ID", "NAME", "TEMPLATE"] and row.split()[:3] == [ids[1], "web-2", "base"]

    ok = cli("exec", ids[0], "--", "echo", "hello world")
    assert (ok.returncode, ok.stdout) == (0, "hello world\n")
    bad = cli_process("exec", ids[0], "--json", "--", "echo out; echo err >&2; exit 7")
    assert bad.returncode == 7
    assert json.loads(bad.stdout) == {"id": ids[0], "exit_code": 7, "stdout": "out\n", "stderr": "err\n"}

    for sid in ids:
        gone = cli("destroy", sid, "--json")
        assert gone.returncode == 0 and json.loads(gone.stdout)["killed"] is True
    assert not set(ids) & {s["id"] for s in json.loads(cli("list", "--json").stdout)["sandboxes"]}


def test_bad_input_gives_one_line_and_exit_2(sandboxd, cli):
    for args in (["status", "i-does-not-exist"], ["destroy", "i-does-not-exist"],
                 ["exec", "i-does-not-exist", "--", "true"], ["create", "--template", "no-such-template"],
                 ["create", "--count", "0"]):
        p = cli(*args)
        assert p.returncode == 2, (args, p.stdout, p.stderr)
        _one_error_line(p)
    p = cli_process("status", "i-does-not-exist", "--json")
    _one_error_line(p)
    assert p.returncode == 2 and json.loads(p.stdout)["exit_code"] == 2
    forced = cli("destroy", "i-does-not-exist", "--force", "--json")
    assert forced.returncode == 0 and json.loads(forced.stdout)["killed"] is False


def test_dead_server_gives_one_line_and_exit_1(tmp_path):
    p = cli_process("list", env={"TRADESWARM_STATE_DIR": str(tmp_path / "nothing-here")})
    assert p.returncode == 1
    assert "sandboxd" in _one_error_line(p)


def test_concurrent_cli_creates_are_all_recorded(sandboxd, cli):
    with ThreadPoolExecutor(2) as pool:
        runs = list(pool.map(lambda i: cli_process("create", "-t", "base", "--name", f"par{i}", "--json"), range(2)))
    assert all(r.returncode == 0 for r in runs), [r.stderr for r in runs]
    ids = [json.loads(r.stdout)["created"][0]["id"] for r in runs]
    state = json.loads((sandboxd.state_dir / "sandboxes.json").read_text())
    assert set(ids) <= set(state) and {state[i]["name"] for i in ids} == {f"par{i}" for i in range(2)}
    for sid in ids:
        assert cli("destroy", sid).returncode == 0


@pytest.mark.slow
def test_e2b_key_never_appears_in_cli_output(sandboxd, cli):
    env = {"E2B_API_KEY": E2B_CANARY, "E2B_API_URL": "http://127.0.0.1:9"}  # a dead port: no network needed
    p = cli_process("list", "--json", env=env, timeout=90)
    assert p.returncode == 1 and E2B_CANARY not in p.stdout + p.stderr
    for args in (["create", "-t", "base"], ["status", "x", "--json"], ["sandboxd", "status", "--json"]):
        p = cli(*args, env=env, timeout=90)
        assert E2B_CANARY not in p.stdout + p.stderr, args
        assert "Traceback" not in p.stderr


def test_e2b_key_of_the_client_is_not_in_the_sandbox(sandboxd, cli):
    made = json.loads(cli("create", "-t", "base", "--json", env={"E2B_SECRET_LIKE": E2B_CANARY}).stdout)["created"][0]
    try:
        dump = cli("exec", made["id"], "--", "env", env={"E2B_SECRET_LIKE": E2B_CANARY})
        assert dump.returncode == 0 and E2B_CANARY not in dump.stdout and "PATH=" in dump.stdout
    finally:
        cli("destroy", made["id"])


def test_sandboxd_status_and_help(sandboxd, cli):
    st = cli("sandboxd", "status", "--json")
    assert st.returncode == 0 and json.loads(st.stdout)["running"] is True
    assert sandboxd.token not in st.stdout
    for args in (["create", "--help"], ["exec", "--help"], ["sandboxd", "serve", "--help"]):
        assert cli(*args).returncode == 0


@pytest.mark.slow
def test_sandboxd_start_stop_daemon(tmp_path, cli):
    env = {"TRADESWARM_STATE_DIR": str(tmp_path)}
    started = cli("sandboxd", "start", "--json", env=env)
    assert started.returncode == 0 and json.loads(started.stdout)["running"] is True
    assert (tmp_path / "sandboxd" / "sandboxd.pid").exists()
    assert cli("sandboxd", "stop", env=env).returncode == 0
    after = cli("sandboxd", "status", "--json", env=env)
    assert after.returncode == 1 and json.loads(after.stdout)["running"] is False
