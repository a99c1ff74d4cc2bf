"""sandboxd's `/metrics` on a real server, driven by the real e2b SDK: the token, the counts,
the latency histograms, the 429s, the billed usage and the per-sandbox CPU and memory."""

from __future__ import annotations

import time

import httpx
import pytest
from e2b import Sandbox
from e2b.exceptions import RateLimitException

from tests.monitoring._support import value
from tests.sandbox._servers import private_sandboxd

S = "tradeswarm_sandboxd_"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with private_sandboxd(tmp_path_factory.mktemp("metrics-sandboxd"), "--max-sandboxes", "4") as params:
        yield params


def scrape(params: dict) -> str:
    r = httpx.get(f"{params['api_url']}/metrics", headers={"Authorization": f"Bearer {params['api_key']}"}, timeout=10)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    return r.text


def test_metrics_want_the_server_token(server):
    url = f"{server['api_url']}/metrics"
    assert httpx.get(url, timeout=10).status_code == 401
    assert httpx.get(url, headers={"Authorization": "Bearer wrong"}, timeout=10).status_code == 401
    assert httpx.get(url, headers={"X-API-KEY": server["api_key"]}, timeout=10).status_code == 200
    assert server["api_key"] not in scrape(server)


def test_a_lifecycle_moves_every_sandbox_metric(server):
    before = scrape(server)
    box = Sandbox.create("base", **server)
    try:
        box.commands.run("true")
        busy = box.commands.run("python3 -c 'while True: pass'", background=True)
        scrape(server)  # the busy process is seen from here on
        time.sleep(0.5)
        during = scrape(server)
        busy.kill()
        time.sleep(0.2)
        ended = scrape(server)
    finally:
        box.kill()
    after = scrape(server)

    assert value(during, S + "sandboxes_running") == value(before, S + "sandboxes_running") + 1
    assert value(after, S + "sandboxes_running") == value(before, S + "sandboxes_running")
    assert value(during, S + "sandboxes_created_total") == value(before, S + "sandboxes_created_total") + 1
    killed = (S + "sandboxes_killed_total", {"reason": "killed"})
    assert value(after, killed[0], **killed[1]) == value(before, killed[0], **killed[1]) + 1
    for op, seen in (("create", during), ("exec", during), ("kill", after)):
        name = S + "operation_latency_seconds_count"
        assert value(seen, name, op=op) == value(before, name, op=op) + 1, op
    # the sandbox's own processes, measured: the busy command's CPU time is in it
    cpu = [value(t, S + "sandbox_cpu_seconds_total", sandbox_id=box.sandbox_id) for t in (during, ended)]
    assert 0.05 < cpu[0] <= cpu[1], cpu  # its CPU time stays counted once it ended
    assert value(during, S + "sandbox_memory_bytes", sandbox_id=box.sandbox_id) > 1_000_000
    assert value(ended, S + "sandbox_memory_bytes", sandbox_id=box.sandbox_id) < \
        value(during, S + "sandbox_memory_bytes", sandbox_id=box.sandbox_id)
    assert value(after, S + "sandbox_cpu_seconds_total", sandbox_id=box.sandbox_id) is None  # gone with it
    # billed: the sandbox's life at E2B's prices (1 vCPU, 512 MiB by default), and never going back
    billed = [value(t, S + "billed_sandbox_seconds_total") for t in (before, during, after)]
    assert billed[0] < billed[1] <= billed[2]
    usd = [value(t, S + "billed_usd_total", price_table="e2b") for t in (before, after)]
    assert usd[1] > usd[0]
    vcpu_s = value(after, S + "billed_vcpu_seconds_total") - value(before, S + "billed_vcpu_seconds_total")
    gib_s = value(after, S + "billed_gib_seconds_total") - value(before, S + "billed_gib_seconds_total")
    assert usd[1] - usd[0] == pytest.approx(vcpu_s * 0.000014 + gib_s * 0.0000045, rel=1e-6)


def test_429_answers_are_counted(server):
    admin = {"X-API-KEY": server["api_key"]}
    before = value(scrape(server), S + "rate_limited_total", op="create")
    httpx.post(f"{server['api_url']}/admin/faults", json={"throttle_s": 30}, headers=admin, timeout=10)
    try:
        with pytest.raises(RateLimitException):
            Sandbox.create("base", **server)
    finally:
        httpx.delete(f"{server['api_url']}/admin/faults", headers=admin, timeout=10)
    assert value(scrape(server), S + "rate_limited_total", op="create") >= before + 1
    assert value(scrape(server), S + "operation_latency_seconds_count", op="create") is not None
