"""A real certification (`tradeswarm certify --profile smoke`) exports its outcome: metrics.prom
in its run directory says what its results.json says, and the run pushes it to a real
Pushgateway named by `TRADESWARM_PUSHGATEWAY_URL`."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import httpx
import pytest

from tests.monitoring._support import ROOT, binary, free_port, value

pytestmark = pytest.mark.slow


def test_a_smoke_certification_writes_and_pushes_its_metrics(tmp_path, sandboxd, prefect_api):
    exe = binary("prometheus-pushgateway")
    port = free_port()
    gw = subprocess.Popen([exe, f"--web.listen-address=127.0.0.1:{port}"], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    out = tmp_path / "runs" / "smoke-run"
    try:
        env = {**os.environ, "TRADESWARM_PUSHGATEWAY_URL": url}
        run = subprocess.run([sys.executable, "-m", "tradeswarm", "certify", "--profile", "smoke", "--out", str(out),
                              "--json"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
        assert run.returncode in (0, 1, 3), run.stderr
        results = json.loads((out / "results.json").read_text())
        text = (out / "metrics.prom").read_text()
        pushed = httpx.get(f"{url}/metrics", timeout=10).text
    finally:
        gw.terminate()
        gw.wait(10)
    n = "tradeswarm_certification_"
    assert value(text, n + "verdict", verdict=results["verdict"]) == 1
    assert value(text, n + "readiness_score") == pytest.approx(results["readiness_score"])
    assert value(text, n + "stress_tasks", state="completed") == results["stress"]["completed"]
    assert value(text, n + "stage_duration_seconds", stage="report") == results["stages"]["report"]
    failing = {c["id"] for c in results["checks"] if c["status"] == "fail"}
    assert {k for k in failing if value(text, n + "check_status", check=k, status="fail") == 1} == failing
    # the run's swarm, measured in the run's process: its stress tasks are in the histogram
    assert value(text, "tradeswarm_swarm_task_latency_seconds_count", profile="smoke") >= results["stress"]["completed"]
    assert value(pushed, n + "readiness_score", job="tradeswarm_certification", profile="smoke") \
        == pytest.approx(results["readiness_score"])
    # the run reported to the session's Prefect server (PREFECT_API_URL), and says where its page is
    prefect = json.loads(run.stdout)["prefect"]
    assert prefect["api_url"] == prefect_api.api_url and prefect["server"] == "PREFECT_API_URL"
    assert prefect["flow_run_url"].startswith(prefect_api.connection.ui_url + "/")
