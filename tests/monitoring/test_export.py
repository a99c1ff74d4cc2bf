"""A run's outcome in the Prometheus text format: the textfile, the last success, the push,
and the endpoint `tradeswarm serve` exposes."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
import time

import httpx
import pytest

from reports.prometheus import TEXTFILE, RunsCollector, export_run, serve_runs
from tests.monitoring._support import ROOT, binary, breach, free_port, golden, value


def test_textfile_says_what_results_json_says(tmp_path):
    run = tmp_path / "runs" / "r1"
    path = export_run(golden("standard", "CERTIFIED"), run, pushgateway="")
    assert path == run / TEXTFILE and stat.S_IMODE(path.stat().st_mode) == 0o644
    assert not [p for p in run.iterdir() if p.name != TEXTFILE], "a temp file was left beside it"
    text = path.read_text()
    n = "tradeswarm_certification_"
    assert value(text, n + "readiness_score", profile="standard") == pytest.approx(91.12393162393163)
    assert value(text, n + "verdict", verdict="CERTIFIED") == 1 and value(text, n + "verdict", verdict="NOT_CERTIFIED") == 0
    assert value(text, n + "latency_seconds", op="stress_task", quantile="0.95") == pytest.approx(0.028751)
    assert value(text, n + "stress_success_ratio") == 0.983 and value(text, n + "stress_error_ratio") == 0.017
    assert value(text, n + "projected_daily_usd") == 2.34 and value(text, n + "budget_daily_usd") == 5.0
    assert value(text, n + "stage_duration_seconds", stage="stress") == 5.3
    assert value(text, n + "check_status", check="func.data.GOOG", status="fail") == 1
    assert value(text, n + "checks", status="fail") == 3
    assert value(text, n + "sandboxes_leaked") == 0


def test_a_breached_run_moves_the_gauges(tmp_path):
    text = export_run(breach(golden("standard")), tmp_path / "runs" / "r1", pushgateway="").read_text()
    n = "tradeswarm_certification_"
    assert value(text, n + "verdict", verdict="CERTIFIED") == 0 and value(text, n + "verdict", verdict="NOT_CERTIFIED") == 1
    assert value(text, n + "latency_seconds", op="stress_task", quantile="0.95") == pytest.approx(6.2)
    assert value(text, n + "stress_error_ratio") == 0.15 and value(text, n + "sandboxes_leaked") == 1
    assert value(text, n + "last_success_timestamp_seconds") is None  # never certified


def test_a_figure_the_run_did_not_measure_is_absent_not_zero(tmp_path):
    results = golden("smoke")
    del results["stress"]
    results["latency"]["stress_task"]["p99"] = None
    text = export_run(results, tmp_path / "runs" / "r1", pushgateway="").read_text()
    assert value(text, "tradeswarm_certification_stress_success_ratio") is None
    assert value(text, "tradeswarm_certification_latency_seconds", op="stress_task", quantile="0.99") is None
    assert value(text, "tradeswarm_certification_latency_seconds", op="stress_task", quantile="0.95") is not None


def test_the_last_success_survives_a_failed_run_of_the_same_profile(tmp_path):
    runs = tmp_path / "runs"
    export_run(golden("nightly", "CERTIFIED", "2026-12-01T02:10:00+00:00"), runs / "a", pushgateway="")
    export_run(golden("smoke", "CERTIFIED", "2026-12-02T02:10:00+00:00"), runs / "b", pushgateway="")
    text = export_run(golden("nightly", "NOT_CERTIFIED", "2026-12-03T02:10:00+00:00"), runs / "c",
                      pushgateway="").read_text()
    name = "tradeswarm_certification_last_success_timestamp_seconds"
    assert value(text, name, profile="nightly") == 1796091000.0  # run a's end, not smoke's, not c's
    again = export_run(golden("nightly", "CERTIFIED", "2026-12-04T02:10:00+00:00"), runs / "d", pushgateway="")
    assert value(again.read_text(), name, profile="nightly") == 1796350200.0


def test_the_swarm_metrics_of_the_process_go_with_the_run(tmp_path):
    from tradeswarm.swarm import telemetry

    before = telemetry.TASKS.labels("failed")._value.get()
    telemetry.TASKS.labels("failed").inc(3)
    text = export_run(golden("smoke"), tmp_path / "runs" / "r1", pushgateway="").read_text()
    assert value(text, "tradeswarm_swarm_tasks_total", state="failed", profile="smoke") == before + 3
    assert value(text, "tradeswarm_swarm_agents_up", profile="smoke") is not None


def test_secrets_are_masked_in_the_textfile(tmp_path, monkeypatch):
    canary = "sk-canary-monitoring-4f9a"
    monkeypatch.setenv("E2B_API_KEY", canary)
    results = golden("smoke")
    results["checks"][0]["id"] = f"func.{canary}"
    text = export_run(results, tmp_path / "runs" / "r1", pushgateway="").read_text()
    assert canary not in text and "func.***" in text


def test_serve_exposes_the_newest_run_of_each_profile(tmp_path):
    runs = tmp_path / "runs"
    export_run(golden("nightly", "CERTIFIED", "2026-12-01T02:10:00+00:00"), runs / "old", pushgateway="")
    export_run(breach(golden("nightly", finished_at="2026-12-02T02:10:00+00:00")), runs / "new", pushgateway="")
    export_run(golden("smoke", "CERTIFIED"), runs / "smoke", pushgateway="")
    (runs / "broken").mkdir()
    (runs / "broken" / TEXTFILE).write_text("this is { not the text format\n")
    assert set(RunsCollector(runs).latest()) == {"nightly", "smoke"}
    port = free_port()
    server = serve_runs(runs, port)
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    finally:
        server.shutdown()
    assert value(text, "tradeswarm_certification_verdict", profile="nightly", verdict="NOT_CERTIFIED") == 1
    assert value(text, "tradeswarm_certification_verdict", profile="smoke", verdict="CERTIFIED") == 1
    # one family per name although two runs hold it (a repeated TYPE line is refused by Prometheus)
    assert text.count("# TYPE tradeswarm_certification_readiness_score gauge") == 1


def test_serve_with_a_busy_metrics_port_is_a_usage_error():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        out = subprocess.run([sys.executable, "-m", "tradeswarm", "serve", "--profile", "smoke",
                              "--metrics-port", str(port)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2, out.stderr
    assert f"--metrics-port {port}" in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_a_run_is_pushed_to_a_real_pushgateway(tmp_path):
    exe = binary("prometheus-pushgateway")
    port = free_port()
    gw = subprocess.Popen([exe, f"--web.listen-address=127.0.0.1:{port}", "--persistence.interval=0"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(f"{url}/-/ready", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline and gw.poll() is None, "pushgateway did not start"
                time.sleep(0.1)
        export_run(golden("nightly", "CERTIFIED"), tmp_path / "runs" / "a", pushgateway=url)
        export_run(breach(golden("nightly")), tmp_path / "runs" / "b", pushgateway=url)  # replaces the group
        text = httpx.get(f"{url}/metrics", timeout=10).text
    finally:
        gw.terminate()
        gw.wait(10)
    assert value(text, "tradeswarm_certification_verdict", job="tradeswarm_certification", profile="nightly",
                 verdict="NOT_CERTIFIED") == 1
    assert value(text, "tradeswarm_certification_last_success_timestamp_seconds", profile="nightly") is not None


def test_a_pushgateway_that_is_down_does_not_fail_the_run(tmp_path, caplog):
    path = export_run(golden("smoke"), tmp_path / "runs" / "a", pushgateway=f"http://127.0.0.1:{free_port()}")
    assert path.is_file() and "pushing the run's metrics" in caplog.text


def test_the_pushgateway_address_is_a_setting(monkeypatch):
    from tradeswarm.settings import Settings

    monkeypatch.setenv("TRADESWARM_PUSHGATEWAY_URL", "http://gw:9091")
    assert Settings().pushgateway_url == "http://gw:9091"
    monkeypatch.delenv("TRADESWARM_PUSHGATEWAY_URL")
    assert Settings().pushgateway_url is None and os.environ.get("TRADESWARM_PUSHGATEWAY_URL") is None
