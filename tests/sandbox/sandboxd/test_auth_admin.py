"""Auth (token on every request, loopback only), the fault endpoint and the metrics endpoint."""

from __future__ import annotations

import json
import stat
import time

import httpx
import pytest
from e2b import Sandbox
from e2b.exceptions import AuthenticationException, SandboxException

from tradeswarm.sandbox.fault_injection import fault_state, inject_faults


def test_token_file_is_private_and_server_is_loopback_only(sandboxd):
    token_file = sandboxd.state_dir / "sandboxd" / "token"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert sandboxd.url.startswith("http://127.0.0.1:")
    endpoint = json.loads((sandboxd.state_dir / "sandboxd" / "endpoint.json").read_text())
    assert sandboxd.token not in json.dumps(endpoint)


@pytest.mark.parametrize("method,path", [("GET", "/v2/sandboxes"), ("POST", "/v2/sandboxes"), ("GET", "/health"),
                                         ("POST", "/admin/faults"), ("GET", "/sandboxes/x/metrics")])
def test_rest_requests_without_the_token_are_refused(sandboxd, method, path):
    for headers in ({}, {"X-API-KEY": "wrong"}):
        r = httpx.request(method, sandboxd.url + path, headers=headers, json={})
        assert r.status_code == 401 and r.json()["code"] == 401
    ok = httpx.request("GET", sandboxd.url + "/v2/sandboxes", headers={"X-API-KEY": sandboxd.token})
    assert ok.status_code == 200


def test_sdk_with_a_wrong_key_is_refused(sandboxd):
    with pytest.raises(AuthenticationException):
        Sandbox.create("base", **{**sandboxd.sdk_params, "api_key": "not-the-token"})


def test_envd_requests_need_the_sandbox_access_token(sandboxd):
    box = Sandbox.create("base", **sandboxd.sdk_params)
    try:
        box.files.write("f.txt", "data")
        base = {"E2b-Sandbox-Id": box.sandbox_id}
        for headers in (base, {**base, "X-Access-Token": "wrong"}, {**base, "X-API-KEY": sandboxd.token}):
            assert httpx.get(f"{sandboxd.url}/files", params={"path": "f.txt"}, headers=headers).status_code == 401
        rpc = httpx.post(f"{sandboxd.url}/process.Process/List", json={}, headers={**base, "Content-Type": "application/json"})
        assert rpc.status_code == 401
        # the opposite case: the SDK sends the envd token it got at create, so it works
        assert box.files.read("f.txt") == "data"
    finally:
        box.kill()


def test_fault_endpoint_fails_next_creates_then_recovers(sandboxd):
    state = inject_faults(sandboxd.settings, fail_next=2)
    assert state["fail_next"] == 2
    for _ in range(2):
        with pytest.raises(SandboxException) as e:
            Sandbox.create("base", **sandboxd.sdk_params)
        assert "failed to place sandbox" in str(e.value)
    box = Sandbox.create("base", **sandboxd.sdk_params)
    box.kill()
    assert fault_state(sandboxd.settings)["fail_next"] == 0


def test_fault_endpoint_throttles_creates_for_a_while(sandboxd):
    inject_faults(sandboxd.settings, throttle_s=0.6)
    r = httpx.post(f"{sandboxd.url}/v2/sandboxes", json={"templateID": "base"}, headers={"X-API-KEY": sandboxd.token})
    assert r.status_code == 429 and r.json()["code"] == 429
    time.sleep(0.7)
    r = httpx.post(f"{sandboxd.url}/v2/sandboxes", json={"templateID": "base"}, headers={"X-API-KEY": sandboxd.token})
    assert r.status_code == 201
    Sandbox.kill(r.json()["sandboxID"], **sandboxd.sdk_params)
    inject_faults(sandboxd.settings)


def test_faults_injected_one_after_another_accumulate(sandboxd):
    try:
        inject_faults(sandboxd.settings, fail_next=2)
        state = inject_faults(sandboxd.settings, throttle_s=30)  # regression: this erased fail_next
        assert state["fail_next"] == 2 and state["throttle_remaining_s"] > 25
        state = inject_faults(sandboxd.settings, fail_next=1)
        assert state["fail_next"] == 1 and state["throttle_remaining_s"] > 25
    finally:
        state = inject_faults(sandboxd.settings)  # clears both
    assert state["fail_next"] == 0 and state["throttle_remaining_s"] == 0


def test_a_throttle_answers_429_on_every_control_plane_route(sandboxd):
    from e2b.exceptions import RateLimitException

    box = Sandbox.create("base", **sandboxd.sdk_params)
    sid = box.sandbox_id
    routes = [("POST", "/v2/sandboxes", {"templateID": "base"}), ("GET", "/v2/sandboxes", None),
              ("GET", f"/sandboxes/{sid}", None), ("POST", f"/sandboxes/{sid}/timeout", {"timeout": 60}),
              ("GET", f"/sandboxes/{sid}/metrics", None), ("DELETE", f"/sandboxes/{sid}", None)]
    no_retries = {**sandboxd.sdk_params, "retries": 0}  # the SDK's own retries would wait it out
    headers = {"X-API-KEY": sandboxd.token}
    try:
        inject_faults(sandboxd.settings, throttle_s=30)
        for method, path, body in routes:
            r = httpx.request(method, sandboxd.url + path, json=body, headers=headers)
            assert r.status_code == 429 and r.json()["code"] == 429, (method, path, r.status_code)
        with pytest.raises(RateLimitException):
            Sandbox.list(**no_retries).next_items()
        with pytest.raises(RateLimitException):
            Sandbox.kill(sid, **no_retries)
        assert box.commands.run("echo up").stdout == "up\n"  # the sandbox itself (envd) is not throttled
        assert fault_state(sandboxd.settings)["throttle_remaining_s"] > 0  # nor the admin routes
    finally:
        inject_faults(sandboxd.settings)
    for method, path, body in routes[1:]:  # the opposite case: unthrottled, every route answers
        r = httpx.request(method, sandboxd.url + path, json=body, headers=headers)
        assert r.status_code in (200, 204), (method, path, r.status_code)


def test_metrics_report_real_cpu_and_memory(sandboxd):
    box = Sandbox.create("trading", **sandboxd.sdk_params)
    try:
        idle = box.get_metrics()[-1]
        assert idle.mem_used == 0 and idle.cpu_used_pct == 0
        box.commands.run("python -c 'x = bytearray(50 * 1024**2)\nwhile True: pass'", background=True)
        deadline = time.monotonic() + 10
        while True:  # a loaded machine may give the busy loop little CPU: poll until it shows
            time.sleep(0.3)
            busy = box.get_metrics()[-1]
            if busy.mem_used > 50 * 1024**2 and busy.cpu_used_pct > 2:
                break
            assert time.monotonic() < deadline, busy
    finally:
        box.kill()


@pytest.mark.slow
def test_concurrent_starts_on_one_state_dir_make_one_server(tmp_path):
    import subprocess
    import sys
    from concurrent.futures import ThreadPoolExecutor

    from tradeswarm.sandbox.sandboxd import daemon

    try:
        with ThreadPoolExecutor(3) as pool:
            eps = list(pool.map(lambda _: daemon.start(tmp_path), range(3)))
        assert len({(e.url, e.pid) for e in eps}) == 1
        # a second server on the same state dir refuses to start instead of wiping the first
        second = subprocess.run([sys.executable, "-m", "tradeswarm", "sandboxd", "serve", "--state-dir", str(tmp_path)],
                                capture_output=True, text=True, timeout=60)
        assert second.returncode == 2 and "already serves" in second.stderr
        assert daemon.probe(eps[0])
    finally:
        daemon.stop(tmp_path)


@pytest.mark.slow
def test_stop_removes_pidfile_and_endpoint_and_spares_can_be_off(tmp_path):
    """Regression: uvicorn re-raises the SIGTERM it caught, so the cleanup after `serve()` never
    ran and `stop` left a stale pidfile and endpoint.json behind."""
    import os
    import signal

    from tradeswarm.sandbox.sandboxd import daemon

    paths = daemon.DaemonPaths.of(tmp_path)
    ep = daemon.start(tmp_path, extra_args=["--spares", "0"])
    try:
        params = {"api_key": ep.token, "api_url": ep.url, "sandbox_url": ep.url}
        box = Sandbox.create("trading", **params)  # with no spares, a full copy of the template
        assert box.commands.run("ls").stdout.split() == ["bin", "data", "lib"]
        assert not list((paths.root / "sandboxes").glob(".spare-*"))
        assert paths.pidfile.exists() and paths.endpoint.exists()
        os.kill(ep.pid, signal.SIGTERM)  # what `stop` sends: the server must clean up after itself
        deadline = time.monotonic() + 10
        while daemon._alive(ep.pid):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert not paths.pidfile.exists() and not paths.endpoint.exists()
    finally:
        daemon.stop(tmp_path)
    assert daemon.stop(tmp_path) is False


def test_stop_never_signals_a_process_that_is_not_sandboxd(tmp_path):
    """A stale pidfile whose pid now names another process: removed, nobody signalled."""
    import subprocess

    from tradeswarm.sandbox.sandboxd import daemon

    paths = daemon.DaemonPaths.of(tmp_path)
    other = subprocess.Popen(["sleep", "30"])
    try:
        paths.root.mkdir(parents=True)
        paths.pidfile.write_text(f"{other.pid}\n")
        paths.endpoint.write_text(json.dumps({"url": "http://127.0.0.1:9", "pid": other.pid}))
        assert daemon.stop(tmp_path) is False
        assert other.poll() is None  # still running
        assert not paths.pidfile.exists() and not paths.endpoint.exists()
    finally:
        other.kill()
        other.wait()
