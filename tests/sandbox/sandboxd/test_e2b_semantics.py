"""E2B's semantics where sandboxd used to differ (issue 12, item 3), through the real e2b SDK.

Each test is named after the difference E2B's own SDK suite found (bench/e2b_conformance.py),
and checks the opposite case too (alive vs gone, in range vs out of range, ...).
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import httpx
import psutil
import pytest
from e2b import Sandbox, Template
from e2b.exceptions import SandboxException, TimeoutException
from e2b.sandbox.filesystem.filesystem import FileType
from e2b.sandbox.sandbox_api import SandboxQuery, SandboxState

from tests.sandbox._servers import host_pid, host_pids


@pytest.fixture
def sb(sandboxd):
    box = Sandbox.create("base", **sandboxd.sdk_params)
    yield box
    box.kill()


def _stopped(sandbox_id: str, pid: int, within_s: float = 2.0) -> bool:
    """True once process `pid` of the sandbox is stopped (a signal takes effect when the
    process next leaves the kernel). `pid` is the sandbox's own (its pid namespace's)."""
    host = host_pid(sandbox_id, pid)
    assert host is not None, f"process {pid} of {sandbox_id} not found on the host"
    return _host_stopped(host, within_s)


def _host_stopped(host: int, within_s: float = 2.0) -> bool:
    """Stopped by a signal, or frozen by its cgroup freezer (a frozen task sleeps in the kernel)."""
    deadline = time.monotonic() + within_s
    while not (psutil.Process(host).status() == psutil.STATUS_STOPPED or _freezer_state(host) == "FROZEN"):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def _freezer_state(host: int) -> str:
    for line in Path(f"/proc/{host}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if "freezer" in controllers.split(","):
            state = Path(f"/sys/fs/cgroup/freezer{path}/freezer.state")
            return state.read_text().strip() if state.exists() else ""
    return ""


def _gone(sandbox_id: str, pid: int) -> bool:
    host = host_pid(sandbox_id, pid)
    return host is None or psutil.Process(host).status() == psutil.STATUS_ZOMBIE


def test_is_running_is_false_after_expiry_not_an_exception(sandboxd):
    box = Sandbox.create("base", timeout=1, **sandboxd.sdk_params)
    assert box.is_running() is True
    time.sleep(1.6)
    assert box.is_running() is False


def test_wait_after_sandbox_kill_raises_timeout_saying_the_sandbox_is_gone(sandboxd):
    box = Sandbox.create("base", **sandboxd.sdk_params)
    done = box.commands.run("echo fine", background=True).wait()  # the opposite: an ordinary end
    assert done.exit_code == 0
    handle = box.commands.run("sleep 60", background=True)
    box.kill()
    with pytest.raises(TimeoutException, match="killed or reached its end of life"):
        handle.wait()


def test_files_remove_of_a_missing_path_is_a_no_op(sb):
    sb.files.remove("never-written.txt")
    sb.files.write("there.txt", "x")
    assert sb.files.exists("there.txt")
    sb.files.remove("there.txt")
    assert not sb.files.exists("there.txt")


def test_get_info_of_a_symlink_gives_its_target_and_the_targets_type(sb):
    sb.files.write("d/real.txt", "hello")
    sb.commands.run("ln -s real.txt link.txt", cwd="d")
    pwd = sb.commands.run("pwd").stdout.strip()
    link = sb.files.get_info("d/link.txt")
    assert link.symlink_target == f"{pwd}/d/real.txt" and link.type == FileType.SYMLINK  # is_symlink
    real = sb.files.get_info("d/real.txt")
    assert real.symlink_target is None and real.type == FileType.FILE


def test_end_at_is_the_same_between_calls_and_moves_with_set_timeout(sb):
    first, second = sb.get_info().end_at, sb.get_info().end_at
    assert first == second
    sb.set_timeout(900)
    assert (sb.get_info().end_at - first).total_seconds() > 500


def test_commands_kill_returns_once_the_process_is_gone(sb):
    handle = sb.commands.run("sleep 60", background=True)
    assert not _gone(sb.sandbox_id, handle.pid)
    assert sb.commands.kill(handle.pid) is True
    assert _gone(sb.sandbox_id, handle.pid)


def test_list_honours_limit_paging_order_started_after_and_template(sandboxd):
    tag = {"list-test": str(time.monotonic_ns())}
    boxes = [Sandbox.create("base", metadata=tag, **sandboxd.sdk_params) for _ in range(3)]
    try:
        pager = Sandbox.list(query=SandboxQuery(metadata=tag), limit=2, **sandboxd.sdk_params)
        first = pager.next_items()
        assert len(first) == 2 and pager.has_next
        second = pager.next_items()
        assert len(second) == 1 and not pager.has_next
        ids = [b.sandbox_id for b in boxes]
        assert [s.sandbox_id for s in first + second] == ids[::-1]  # newest first, as E2B
        asc = Sandbox.list(query=SandboxQuery(metadata=tag), order="asc", **sandboxd.sdk_params).next_items()
        assert [s.sandbox_id for s in asc] == ids
        started = boxes[1].get_info().started_at
        later = Sandbox.list(query=SandboxQuery(metadata=tag, started_after=started), **sandboxd.sdk_params)
        assert {s.sandbox_id for s in later.next_items()} == set(ids[1:])
        assert len(Sandbox.list(query=SandboxQuery(metadata=tag, template="base"), **sandboxd.sdk_params)
                   .next_items()) == 3
        assert Sandbox.list(query=SandboxQuery(metadata=tag, template="trading"), **sandboxd.sdk_params) \
            .next_items() == []
    finally:
        for b in boxes:
            b.kill()


def test_get_metrics_honours_the_time_range(sb):
    start = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=2)
    inside = sb.get_metrics(start=start, end=dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=2))
    assert len(inside) >= 1
    before = sb.get_metrics(start=start - dt.timedelta(hours=1), end=start - dt.timedelta(minutes=30))
    assert before == []


def test_template_exists_asks_the_alias_route(sandboxd):
    assert Template.exists("base", **sandboxd.sdk_params) is True
    assert Template.exists("no-such-template-xyz", **sandboxd.sdk_params) is False


def test_pause_stops_processes_and_the_clock_and_connect_resumes(sandboxd):
    box = Sandbox.create("base", timeout=2, **sandboxd.sdk_params)
    try:
        handle = box.commands.run("sleep 60", background=True)
        assert not _stopped(box.sandbox_id, handle.pid, within_s=0)
        box.pause()
        assert _stopped(box.sandbox_id, handle.pid) and box.is_running() is False
        assert box.get_info().state == SandboxState.PAUSED
        time.sleep(2.5)  # beyond its lifetime: a paused sandbox's clock does not run
        assert Sandbox.get_info(box.sandbox_id, **sandboxd.sdk_params).state == SandboxState.PAUSED
        box.connect(timeout=30)
        assert box.is_running() is True and not _stopped(box.sandbox_id, handle.pid, within_s=0)
        assert box.get_info().state == SandboxState.RUNNING
        assert box.commands.run("echo back").stdout == "back\n"
    finally:
        box.kill()


def test_pause_freezes_what_left_its_process_group_and_a_paused_sandbox_dies_whole(sandboxd):
    """The cgroup freezer stops every process of the sandbox, a `setsid` one too (signals to
    each command's process group did not); a paused sandbox still snapshots, and its kill
    leaves nothing (a frozen process takes its SIGKILL only once thawed)."""
    box = Sandbox.create("base", **sandboxd.sdk_params)
    try:
        # the shell waits a moment: ended at once, its group is killed before the child's setsid ran
        box.commands.run("setsid sleep 61.75 > /dev/null 2>&1 & sleep 0.5")
        [escaped] = host_pids("sleep 61.75")
        assert not _host_stopped(escaped, within_s=0)  # the opposite case: it runs
        box.pause()
        assert _host_stopped(escaped) and _freezer_state(escaped) == "FROZEN"
        snap = box.create_snapshot(name=f"paused-{box.sandbox_id}")
        assert _host_stopped(escaped, within_s=0) and box.get_info().state == SandboxState.PAUSED
        Sandbox.delete_snapshot(snap.snapshot_id, **sandboxd.sdk_params)
        box.connect(timeout=30)
        assert not _host_stopped(escaped, within_s=0)
        box.pause()
    finally:
        box.kill()
    deadline = time.monotonic() + 5
    while host_pids("sleep 61.75") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert host_pids("sleep 61.75") == []


def test_auto_pause_on_timeout_pauses_instead_of_killing(sandboxd):
    paused = Sandbox.create("base", timeout=1, lifecycle={"on_timeout": "pause"}, **sandboxd.sdk_params)
    killed = Sandbox.create("base", timeout=1, **sandboxd.sdk_params)  # the opposite: the default kills
    try:
        time.sleep(1.6)
        assert Sandbox.get_info(paused.sandbox_id, **sandboxd.sdk_params).state == SandboxState.PAUSED
        assert Sandbox.kill(killed.sandbox_id, **sandboxd.sdk_params) is False
    finally:
        paused.kill()


def test_an_unsupported_call_on_a_live_sandbox_names_itself_not_sandbox_not_found(sb, sandboxd):
    # (PUT .../network, the example before, is implemented since isolation: update_network)
    r = httpx.get(f"{sandboxd.url}/sandboxes/{sb.sandbox_id}/logs", headers={"X-API-KEY": sandboxd.token})
    assert r.status_code == 501 and "GET /sandboxes/{sandboxID}/logs" in r.json()["message"]
    gone = httpx.get(f"{sandboxd.url}/sandboxes/nope/logs", headers={"X-API-KEY": sandboxd.token})
    assert gone.status_code == 404


def test_snapshot_copies_the_workspace_and_new_sandboxes_start_from_it(sb, sandboxd):
    sb.files.write("state.txt", "before")
    snap = sb.create_snapshot(name=f"snap-{sb.sandbox_id}")
    sb.files.write("state.txt", "after")  # the snapshot keeps what was there when it was taken
    try:
        assert snap.names == [f"snap-{sb.sandbox_id}"]
        listed = Sandbox.list_snapshots(sandbox_id=sb.sandbox_id, **sandboxd.sdk_params).next_items()
        assert [s.snapshot_id for s in listed] == [snap.snapshot_id]
        child = Sandbox.create(snap.snapshot_id, **sandboxd.sdk_params)
        try:
            assert child.files.read("state.txt") == "before"
        finally:
            child.kill()
    finally:
        assert Sandbox.delete_snapshot(snap.snapshot_id, **sandboxd.sdk_params) is True
    assert Sandbox.delete_snapshot(snap.snapshot_id, **sandboxd.sdk_params) is False
    with pytest.raises(SandboxException):
        Sandbox.create(snap.snapshot_id, **sandboxd.sdk_params)


def test_fork_copies_the_workspace_into_independent_sandboxes(sb):
    sb.files.write("state.txt", "shared")
    forks = sb.fork(count=2)
    try:
        assert len({f.sandbox_id for f in forks} | {sb.sandbox_id}) == 3
        forks[0].files.write("state.txt", "mine")
        assert forks[1].files.read("state.txt") == "shared" and sb.files.read("state.txt") == "shared"
        assert forks[0].files.read("state.txt") == "mine"
    finally:
        for f in forks:
            f.kill()


def test_fork_of_an_isolated_sandbox_copies_a_planted_link_as_a_link_never_the_hosts_file(sb):
    """The copy is made inside the sandbox: a link to /etc/shadow stays a link (to the fork's own
    /etc/shadow, unreadable), never the host's file copied in; a file its root owns is copied."""
    sb.commands.run("ln -s /etc/shadow leak && mkdir priv && echo s > priv/r && chmod 600 priv/r", user="root")
    (child,) = sb.fork(count=1)
    try:
        out = child.commands.run("readlink leak; test -L leak && echo link; cat leak 2>/dev/null || echo denied")
        assert out.stdout == "/etc/shadow\nlink\ndenied\n"
        assert child.files.read("priv/r") == "s\n"
    finally:
        child.kill()


def test_file_metadata_is_kept_as_xattrs_and_reported(sb):
    info = sb.files.write("m.txt", "x", metadata={"author": "mish"})
    assert info.metadata == {"author": "mish"} and sb.files.get_info("m.txt").metadata == {"author": "mish"}
    sb.files.rename("m.txt", "n.txt")
    assert sb.files.get_info("n.txt").metadata == {"author": "mish"}  # a rename keeps it
    sb.files.write("n.txt", "y")  # an overwrite without metadata clears it
    assert not sb.files.get_info("n.txt").metadata
    sb.commands.run("python3 -c \"import os; os.setxattr('n.txt', 'user.e2b.tag', b'set-inside')\"")
    assert [e.metadata for e in sb.files.list(".") if e.name == "n.txt"] == [{"tag": "set-inside"}]


def test_watch_dir_reports_writes_creates_and_removes_recursively(sb):
    from e2b import FilesystemEventType as T

    sb.files.make_dir("w/old")
    sb.files.write("w/old/f.txt", "1")
    handle = sb.files.watch_dir("w", recursive=True)
    assert handle.get_new_events() == []  # nothing happened yet
    sb.files.write("w/old/f.txt", "2")  # an existing file: a write, not its temp file
    sb.files.make_dir("w/new")
    sb.files.write("w/new/g.txt", "3")  # in a directory made after the watch began
    sb.commands.run("rm w/old/f.txt")
    seen = [(e.type, e.name) for e in handle.get_new_events()]
    assert seen == [(T.WRITE, "old/f.txt"), (T.CREATE, "new"), (T.CREATE, "new/g.txt"), (T.CHMOD, "new/g.txt"),
                    (T.WRITE, "new/g.txt"), (T.REMOVE, "old/f.txt")]
    handle.stop()
    with pytest.raises(SandboxException):
        sb.files.watch_dir("w/new/g.txt")  # a file is not a directory


def test_files_list_with_depth_is_depth_first_as_envd(sb):
    for d in ("l/b", "l/a/a2", "l/a/a1"):
        sb.files.make_dir(d)
    sb.files.write("l/f.txt", "x")
    assert [e.path for e in sb.files.list("l", depth=2)] == [
        "/home/user/l/a", "/home/user/l/a/a1", "/home/user/l/a/a2", "/home/user/l/b", "/home/user/l/f.txt"]
    assert [e.name for e in sb.files.list("l")] == ["a", "b", "f.txt"]


def test_watch_dir_through_a_planted_link_watches_the_sandboxs_target_not_the_hosts(sb, tmp_path):
    """Isolated, a watch is set from the host: a link to /tmp must resolve to the sandbox's own
    /tmp (its events seen), never the host's (a file made there unseen)."""
    from e2b import FilesystemEventType as T

    sb.commands.run("ln -s /tmp esc")
    handle = sb.files.watch_dir("esc")
    host_tmp = Path("/tmp") / f"watch-escape-{sb.sandbox_id}"
    host_tmp.write_text("host")
    try:
        sb.commands.run("touch /tmp/inside.txt")
        seen = [(e.type, e.name) for e in handle.get_new_events()]
        assert (T.CREATE, "inside.txt") in seen and all(name != host_tmp.name for _, name in seen)
    finally:
        host_tmp.unlink()
        handle.stop()


def test_signed_file_urls_of_a_secure_sandbox_open_without_a_token_until_they_expire(sandboxd):
    box = Sandbox.create("base", secure=True, **sandboxd.sdk_params)
    try:
        box.files.write("s.txt", "signed")
        assert httpx.get(box.download_url("s.txt", "user")).text == "signed"
        assert httpx.post(box.upload_url("u.txt", "user"), files={"file": ("u.txt", b"up")}).status_code == 200
        assert box.files.read("u.txt") == "up"
        expired = httpx.get(box.download_url("s.txt", "user", use_signature_expiration=-60))
        assert expired.status_code == 401 and expired.json() == {"code": 401, "message": "signature is already expired"}
        forged = box.download_url("s.txt", "user").replace("v1_", "v1_x")
        assert httpx.get(forged).status_code == 401
    finally:
        box.kill()


def test_pty_is_a_real_terminal_with_input_and_resize(sb):
    from e2b.sandbox.commands.command_handle import PtySize

    term = sb.pty.create(PtySize(cols=80, rows=24), envs={"ABC": "123"})
    sb.pty.resize(term.pid, PtySize(cols=100, rows=30))
    sb.pty.send_stdin(term.pid, b"echo $ABC; tty; tput cols; exit 3\n")
    out: list[bytes] = []
    with pytest.raises(Exception) as ended:  # exit 3: CommandExitException, carrying the code
        term.wait(on_pty=out.append)
    text = b"".join(out).decode()
    assert getattr(ended.value, "exit_code", None) == 3
    assert "123" in text and "/dev/pts/" in text and "100" in text  # a tty, resized
    piped = sb.commands.run("tty || true")  # the opposite: an ordinary command has no terminal
    assert "not a tty" in piped.stdout
