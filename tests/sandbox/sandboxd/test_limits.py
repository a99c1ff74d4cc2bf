"""Containment and E2B-style limits: env scrub, memory, processes, concurrency, rate, lifetime."""

from __future__ import annotations

import time

import pytest
from e2b import Sandbox
from e2b.exceptions import NotFoundException, RateLimitException, TimeoutException
from e2b.sandbox.commands.command_handle import CommandExitException

from tests.sandbox._servers import host_pids, private_sandboxd

CANARY = "canary-host-secret-7f3a9"


@pytest.fixture(scope="module")
def contained(tmp_path_factory):
    """One private server for the containment tests: 1 GiB address space, 48 processes,
    and a canary secret in the host environment it starts with."""
    env = {"TRADESWARM_CANARY_SECRET": CANARY, "ALPACA_API_SECRET": CANARY + "-alpaca"}
    with private_sandboxd(tmp_path_factory.mktemp("contained"), "--memory-mb", "1024", "--max-processes", "48",
                          env=env) as params:
        yield params


def test_host_environment_never_reaches_a_sandbox(contained):
    box = Sandbox.create("trading", envs={"GIVEN": "at-create"}, **contained)
    try:
        dump = box.commands.run("env", envs={"PER_RUN": "1"}).stdout
        names = {line.split("=", 1)[0] for line in dump.splitlines()}
        assert CANARY not in dump
        assert "GIVEN=at-create" in dump and "PER_RUN=1" in dump  # the opposite case: given envs do pass
        assert names <= {"PATH", "HOME", "LANG", "USER", "PWD", "SHLVL", "_", "GIVEN", "PER_RUN", "E2B_SANDBOX",
                         "E2B_SANDBOX_ID", "PYTHONPATH", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                         "MKL_NUM_THREADS", "PYTHONUNBUFFERED"}
    finally:
        box.kill()


def test_login_shell_is_fast_and_does_not_read_host_profile(sandboxd):
    box = Sandbox.create("base", **sandboxd.sdk_params)
    try:
        box.commands.run("true")
        t0 = time.perf_counter()
        for _ in range(10):
            box.commands.run("true")
        per_cmd_ms = (time.perf_counter() - t0) * 100
        assert per_cmd_ms < 100, f"{per_cmd_ms:.0f} ms per command: is a host profile being read?"
        assert box.commands.run("shopt -q login_shell && echo login").stdout == "login\n"
    finally:
        box.kill()


def test_memory_hog_is_contained(contained):
    """The limit is the sandbox's total (its memory cgroup): the hog is OOM-killed, the sandbox lives."""
    box = Sandbox.create("trading", **contained)
    try:
        with pytest.raises(CommandExitException) as e:
            box.commands.run("python -c 'x = bytearray(3 * 1024**3); print(len(x))'", timeout=30)
        assert e.value.exit_code == -1 or "MemoryError" in e.value.stderr
        small = box.commands.run("python -c 'x = bytearray(100 * 1024**2); print(len(x))'", timeout=30)
        assert small.stdout.strip() == str(100 * 1024**2)  # the opposite case: within the limit it runs
    finally:
        box.kill()


def test_default_memory_limit_still_imports_pandas(sandboxd):
    box = Sandbox.create("trading", **sandboxd.sdk_params)
    try:
        assert box.commands.run("python -c 'import pandas, numpy; print(1)'", timeout=60).stdout == "1\n"
    finally:
        box.kill()


# the processes of the sandbox (its own pid namespace), zombies included, minus its init and this shell
_CGROUP_PIDS = "set -- /proc/[0-9]*; echo $(($# - 1))"
_FORK_UNTIL_REFUSED = """
import os, time
kids = []
try:
    for _ in range(200):
        pid = os.fork()
        if pid == 0:
            time.sleep(30)
            os._exit(0)
        kids.append(pid)
    print("allowed", len(kids))
except OSError as e:
    print("refused", len(kids), e.errno)
for k in kids:
    os.kill(k, 9)
"""


@pytest.mark.slow
def test_fork_bomb_is_contained_and_its_zombies_release_the_cap(contained):
    box = Sandbox.create("trading", **contained)
    try:
        t0 = time.monotonic()
        try:  # how the bomb's own shell ends varies (timeout, failed fork): containment is what counts
            box.commands.run("bomb() { bomb | bomb & }; bomb; sleep 5", timeout=3)
        except (TimeoutException, CommandExitException):
            pass
        assert time.monotonic() - t0 < 8
        # the sandbox is still usable and nothing of the bomb survived the timeout, not even a
        # zombie: left to a lazy host init they held most of the cap (regression: CI forked 9 of 48)
        deadline = time.monotonic() + 1
        while True:
            # minus this command (bash execs cat); zombies count: until reaped they hold their slots
            left = int(box.commands.run(_CGROUP_PIDS).stdout.strip()) - 1
            if left <= 0:
                break
            assert time.monotonic() < deadline, f"{left} bomb processes survived"
            time.sleep(0.2)
        # the cap itself, counted: fork() fails once the sandbox holds its maximum of processes
        res = box.commands.run("python -c '" + _FORK_UNTIL_REFUSED + "'", timeout=20)
        verdict, started = res.stdout.split()[:2]
        assert verdict == "refused" and 10 < int(started) < 48, res.stdout
    finally:
        box.kill()


@pytest.fixture(scope="module")
def limited(tmp_path_factory):
    """A private server with E2B-like small limits: 2 concurrent sandboxes, 5 creates/s (burst 20)."""
    # isolation off: the limits of the control plane do not depend on it, and plain creates are
    # fast enough to outrun the rate on a loaded machine
    with private_sandboxd(tmp_path_factory.mktemp("limited"), "--max-sandboxes", "2", "--create-rate", "5",
                          "--no-isolation") as params:
        yield params


def test_concurrency_cap_answers_429_and_sdk_raises_rate_limit(limited):
    import httpx

    boxes = [Sandbox.create("base", **limited) for _ in range(2)]
    try:
        r = httpx.post(f"{limited['api_url']}/v2/sandboxes", json={"templateID": "base"},
                       headers={"X-API-KEY": limited["api_key"]})
        assert r.status_code == 429 and r.json()["code"] == 429 and "maximum" in r.json()["message"]
        with pytest.raises(RateLimitException):
            Sandbox.create("base", **limited)
        boxes.pop().kill()
        boxes.append(Sandbox.create("base", **limited))  # the opposite case: under the cap it works
    finally:
        for b in boxes:
            b.kill()


def test_create_rate_limit_answers_429(limited):
    import httpx

    codes = []
    with httpx.Client(base_url=limited["api_url"], headers={"X-API-KEY": limited["api_key"]}) as c:
        for _ in range(40):
            r = c.post("/v2/sandboxes", json={"templateID": "base"})
            codes.append(r.status_code)
            if r.status_code == 201:
                c.delete(f"/sandboxes/{r.json()['sandboxID']}")
            elif "rate" in r.json()["message"]:
                break
    assert codes[0] == 201 and codes[-1] == 429, codes


def test_lifetime_expiry_kills_the_sandbox(sandboxd):
    box = Sandbox.create("base", timeout=1, **sandboxd.sdk_params)
    box.commands.run("sleep 61.5", background=True)
    assert host_pids("sleep 61.5")
    time.sleep(1.6)
    with pytest.raises(NotFoundException):
        Sandbox.get_info(box.sandbox_id, **sandboxd.sdk_params)
    assert not host_pids("sleep 61.5")
    live = Sandbox.create("base", timeout=30, **sandboxd.sdk_params)  # the opposite case
    time.sleep(1.2)
    assert live.get_info().sandbox_id == live.sandbox_id
    live.kill()


@pytest.mark.slow
def test_processes_of_a_crashed_server_are_reaped_by_the_next_one(tmp_path):
    import os
    import signal

    import psutil

    from tradeswarm.sandbox.sandboxd import daemon

    with private_sandboxd(tmp_path / "a") as params:
        box = Sandbox.create("base", **params)
        box.commands.run("sleep 300.5", background=True)
        pids = host_pids("sleep 300.5")
        assert pids, "the command should run"
        server = daemon.read_endpoint(tmp_path / "a").pid
        uplinks = [p.pid for p in psutil.Process(server).children() if p.name() == "slirp4netns"]
        assert uplinks, "each sandbox's network namespace has its slirp4netns"
        pids += uplinks  # which exit when the server's end of their exit pipe closes
        os.kill(server, signal.SIGKILL)  # a crash: no cleanup ran
        with private_sandboxd(tmp_path / "b"):  # isolated: its init died with the server; else the next one reaps
            deadline = time.monotonic() + 5
            while any(psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE for p in pids):
                assert time.monotonic() < deadline, "a crashed server's sandbox process survived"
                time.sleep(0.05)


def test_a_sandbox_runs_on_the_vcpus_it_reports(sandboxd, tmp_path):
    """Regression: sandboxd reported 2 vCPUs per sandbox while nothing bounded its CPU use, and the
    cost meter priced that claim. Now a sandbox is pinned to its reported cores, spread in turn."""
    import os

    boxes = [Sandbox.create("base", **sandboxd.sdk_params) for _ in range(2)]
    try:
        seen = []
        for box in boxes:
            assert box.get_info().cpu_count == 1
            assert box.commands.run("nproc").stdout.strip() == "1"
            seen.append(box.commands.run("taskset -pc $$ | sed 's/.*: //'").stdout.strip())
        if len(os.sched_getaffinity(0)) > 1:
            assert seen[0] != seen[1], "consecutive sandboxes should get different cores"
    finally:
        for box in boxes:
            box.kill()
    with private_sandboxd(tmp_path / "two", "--vcpus", "2") as params:  # the opposite case
        box = Sandbox.create("base", **params)
        try:
            want = str(min(2, len(os.sched_getaffinity(0))))
            assert str(box.get_info().cpu_count) == want and box.commands.run("nproc").stdout.strip() == want
        finally:
            box.kill()


def test_resources_asked_at_create_are_applied_and_capped(sandboxd):
    """The reserved metadata key: cores and address space per sandbox, refused beyond the caps."""
    import json
    import os

    from e2b.exceptions import SandboxException

    from tradeswarm.sandbox.sandboxd import RESOURCES_KEY

    box = Sandbox.create("base", metadata={RESOURCES_KEY: json.dumps({"memory_mb": 256}), "k": "v"},
                         **sandboxd.sdk_params)
    try:
        info = box.get_info()
        assert (info.cpu_count, info.memory_mb, info.metadata) == (1, 256, {"k": "v"})
        fill = "python3 -c 'b = bytearray({} * 1024**2); print(len(b))'"
        assert box.commands.run(fill.format(100)).stdout.strip() == str(100 * 1024**2)
        with pytest.raises(CommandExitException):  # the sandbox's memory, in total, is what it asked for
            box.commands.run(fill.format(300))
    finally:
        box.kill()
    cores = len(os.sched_getaffinity(0))
    for bad in ({"vcpus": cores + 1}, {"memory_mb": 10**9}, {"memory_mb": 8}, "not json"):
        raw = bad if isinstance(bad, str) else json.dumps(bad)
        with pytest.raises(SandboxException, match="400"):
            Sandbox.create("base", metadata={RESOURCES_KEY: raw}, **sandboxd.sdk_params)
