"""The unmodified e2b SDK (sync and async) against sandboxd: lifecycle, commands, files."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from e2b import AsyncSandbox, Sandbox
from e2b.connection_config import ConnectionConfig
from e2b.exceptions import NotFoundException, SandboxException, TimeoutException
from e2b.sandbox.commands.command_handle import CommandExitException


@pytest.fixture
def sb(sandboxd):
    box = Sandbox.create("base", **sandboxd.sdk_params)
    yield box
    box.kill()


def test_api_url_and_sandbox_url_hooks_still_route_to_sandboxd(sandboxd):
    """Fails loudly if the SDK's deprecated api_url/sandbox_url overrides stop working."""
    cfg = ConnectionConfig(**sandboxd.sdk_params)
    assert cfg.api_url == sandboxd.url, "e2b ignores api_url: sandboxd cannot be reached by the SDK"
    assert cfg.get_sandbox_url("x", "e2b.app") == sandboxd.url, "e2b ignores sandbox_url"
    box = Sandbox.create("base", **sandboxd.sdk_params)
    try:
        listed = httpx.get(f"{sandboxd.url}/v2/sandboxes", headers={"X-API-KEY": sandboxd.token}).json()
        assert box.sandbox_id in {s["sandboxID"] for s in listed}
        assert box.commands.run("echo routed").stdout == "routed\n"
    finally:
        box.kill()


def test_lifecycle_create_list_info_timeout_kill(sandboxd):
    box = Sandbox.create("trading", metadata={"k": "v"}, timeout=120, **sandboxd.sdk_params)
    info = box.get_info()
    assert info.sandbox_id == box.sandbox_id and info.template_id == "trading" and info.metadata["k"] == "v"
    box.set_timeout(600)
    assert (box.get_info().end_at - info.started_at).total_seconds() > 500
    from e2b.sandbox.sandbox_api import SandboxQuery

    ids = [s.sandbox_id for s in Sandbox.list(query=SandboxQuery(metadata={"k": "v"}), **sandboxd.sdk_params).next_items()]
    assert ids == [box.sandbox_id]
    assert box.kill() is True
    assert Sandbox.kill(box.sandbox_id, **sandboxd.sdk_params) is False
    with pytest.raises(NotFoundException):
        Sandbox.get_info(box.sandbox_id, **sandboxd.sdk_params)


def test_exit_codes_stderr_and_command_exit_exception(sb):
    ok = sb.commands.run("echo out; echo err >&2")
    assert (ok.exit_code, ok.stdout, ok.stderr) == (0, "out\n", "err\n")
    with pytest.raises(CommandExitException) as e:
        sb.commands.run("echo bad >&2; exit 42")
    assert e.value.exit_code == 42 and e.value.stderr == "bad\n"


def test_envs_and_cwd(sb):
    sb.files.make_dir("sub")
    res = sb.commands.run("echo $FOO; pwd", envs={"FOO": "bar"}, cwd="sub")
    lines = res.stdout.split()
    assert lines[0] == "bar" and lines[1].endswith("/sub")


def test_timeout_kills_the_whole_process_tree(sb):
    # `setsid` leaves the command's process group: regression, it outlived the timeout
    with pytest.raises(TimeoutException):
        sb.commands.run("sleep 30 & echo $! > child.pid; setsid sleep 77 & echo $! > escaped.pid; sleep 30",
                        timeout=1)
    pids = {name: int(sb.files.read(f"{name}.pid").strip()) for name in ("child", "escaped")}
    deadline = time.monotonic() + 3
    for name, pid in pids.items():  # pids of the sandbox's own namespace: asked inside it
        while _running(sb, pid):
            assert time.monotonic() < deadline, f"the command's {name} process outlived the timeout"
            time.sleep(0.05)
    # the opposite case: without a timeout, a command's setsid process runs on after it — once it
    # has left the group (field 6 of its stat, the session, is its own pid): until then the
    # group kill at the command's end takes it too (regression: the test raced that, 1 run in 3)
    kept = int(sb.commands.run("setsid sleep 60 >/dev/null 2>&1 < /dev/null & p=$!; "
                               "until [ \"$(cut -d' ' -f6 /proc/$p/stat)\" = $p ]; do sleep 0.01; done; echo $p").stdout)
    time.sleep(0.3)
    try:
        assert _running(sb, kept)
    finally:
        sb.commands.run(f"kill -9 {kept}")


def _running(sb, pid: int) -> bool:
    """Whether `pid` of the sandbox runs (a zombie does not), as the sandbox sees it."""
    probe = f"test -e /proc/{pid} && ! grep -q '^State:.Z' /proc/{pid}/status && echo yes || echo no"
    return sb.commands.run(probe).stdout.strip() == "yes"


def test_background_command_with_stdin_and_kill(sandboxd):
    async def main():
        box = await AsyncSandbox.create("base", **sandboxd.sdk_params)
        try:
            chunks: list[str] = []
            h = await box.commands.run("cat", background=True, stdin=True, on_stdout=chunks.append)
            await box.commands.send_stdin(h.pid, "hello\n")
            await box.commands.send_stdin(h.pid, "world\n")
            for _ in range(100):
                if "".join(chunks) == "hello\nworld\n":
                    break
                await asyncio.sleep(0.02)
            assert "".join(chunks) == "hello\nworld\n"
            assert [p.pid for p in await box.commands.list()] == [h.pid]
            assert await h.kill() is True
            with pytest.raises(CommandExitException) as e:
                await h.wait()
            assert e.value.exit_code != 0
            assert await box.commands.list() == []
            # close_stdin ends `cat` normally: the opposite case of the kill
            h2 = await box.commands.run("cat", background=True, stdin=True)
            await box.commands.send_stdin(h2.pid, "x")
            await h2.close_stdin()
            res = await h2.wait()
            assert (res.exit_code, res.stdout) == (0, "x")
        finally:
            await box.kill()

    asyncio.run(main())


def test_file_round_trip_text_and_binary(sb):
    blob = bytes(range(256)) * 100
    sb.files.write("dir/blob.bin", blob)
    assert bytes(sb.files.read("dir/blob.bin", format="bytes")) == blob
    sb.files.write("note.txt", "héllo")
    assert sb.files.read("note.txt") == "héllo"
    assert sb.commands.run("cat note.txt").stdout == "héllo"
    assert sb.files.exists("dir/blob.bin") and not sb.files.exists("missing")
    assert {e.name for e in sb.files.list("dir")} == {"blob.bin"}
    sb.files.rename("note.txt", "moved.txt")
    sb.files.remove("moved.txt")
    assert not sb.files.exists("moved.txt")


def test_e2b_home_paths_name_the_workspace(sb):
    """Code written for E2B uses /home/user/...: the files API maps it onto the workspace."""
    sb.files.write("/home/user/e2b.txt", b"home")
    assert sb.commands.run("cat e2b.txt").stdout == "home"
    assert sb.files.read("/home/user/e2b.txt") == "home" == sb.files.read("~/e2b.txt")
    with pytest.raises(SandboxException):  # the opposite case: a look-alike prefix is not the home
        sb.files.write("/home/username/x.txt", b"x")


@pytest.mark.parametrize("path", ["../../../../etc/passwd", "/etc/passwd", "/home/user/../../etc/passwd"])
def test_paths_outside_home_name_the_sandboxs_own_root(sb, path):
    """As on E2B, absolute paths are the sandbox's: its /etc/passwd (not the host's), read-only."""
    assert "user:x:1000:1000" in sb.files.read(path)
    with pytest.raises(SandboxException):
        sb.files.write(path, b"x")
    with pytest.raises(SandboxException):
        sb.files.write("dir/../../outside", b"x")  # /home is not the user's
    sb.files.write("/tmp/scratch.txt", b"t")  # the opposite case: its own /tmp is writable
    assert sb.commands.run("cat /tmp/scratch.txt").stdout == "t"


def test_symlink_planted_by_a_command_does_not_escape(sb):
    sb.commands.run("ln -sf /etc/hostname link; ln -sf /etc/shadow shadow; ln -sf /proc/1/environ env")
    assert sb.files.read("link") == "e2b\n"  # the sandbox's own hostname, resolved in its root
    for planted in ("shadow", "env"):
        with pytest.raises(SandboxException):
            sb.files.read(planted)


def test_workspaces_are_isolated_from_each_other(sandboxd):
    a = Sandbox.create("base", **sandboxd.sdk_params)
    b = Sandbox.create("base", **sandboxd.sdk_params)
    try:
        a.files.write("secret.txt", "a-only")
        assert not b.files.exists("secret.txt")
        assert a.commands.run("pwd").stdout == b.commands.run("pwd").stdout == "/home/user\n"
        assert b.commands.run("cat /home/user/secret.txt || echo absent").stdout.strip() == "absent"
        assert a.commands.run("cat secret.txt").stdout == "a-only"
    finally:
        a.kill()
        b.kill()


def test_trading_template_runs_the_package_with_pandas(sandboxd):
    box = Sandbox.create("trading", **sandboxd.sdk_params)
    try:
        res = box.commands.run("ls; python -c 'import pandas, tradeswarm.settings; print(pandas.__name__)'", timeout=60)
        assert res.stdout.split() == ["bin", "data", "lib", "pandas"]
        assert box.commands.run("ls data").stdout.count(".csv.gz") >= 1
    finally:
        box.kill()


def test_unknown_sandbox_header_answers_502_as_e2bs_edge(sandboxd, sb):
    r = httpx.get(f"{sandboxd.url}/files", params={"path": "x"},
                  headers={"E2b-Sandbox-Id": "nope", "X-Access-Token": "t"})
    assert r.status_code == 502 and r.json()["code"] == 502  # the SDK reads 502 as "not running"


def test_a_retried_create_with_the_same_idempotency_key_makes_one_sandbox(sandboxd):
    headers = {"X-API-KEY": sandboxd.token, "Idempotency-Key": "key-1"}
    first = httpx.post(f"{sandboxd.url}/v2/sandboxes", json={"templateID": "base"}, headers=headers).json()
    again = httpx.post(f"{sandboxd.url}/v2/sandboxes", json={"templateID": "base"}, headers=headers).json()
    other = httpx.post(f"{sandboxd.url}/v2/sandboxes", json={"templateID": "base"},
                       headers={**headers, "Idempotency-Key": "key-2"}).json()
    try:
        assert first["sandboxID"] == again["sandboxID"] != other["sandboxID"]
    finally:
        for sid in {first["sandboxID"], other["sandboxID"]}:
            Sandbox.kill(sid, **sandboxd.sdk_params)
