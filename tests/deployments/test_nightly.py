"""The nightly deployment against a real Prefect server and a real process worker.

The session's Prefect server (`prefect_api`, the local server of tradeswarm/prefect_server.py), the work pool and deployments created from
`deployments/prefect.yaml` by the real CLI, a run of the nightly deployment triggered (with a
parameter override that shrinks its load), executed by `prefect worker start --run-once`, and
the report and both artifacts (Markdown and table) found afterwards; and `tradeswarm serve`
registering the schedule and executing a run of it without any pool.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
PREFECT = [sys.executable, "-m", "prefect"]


# nightly's shape (agents, faults, history) on a smaller load, data window and backtest set
SHRINK = {"stress": {"tasks": 200, "rate": 200, "abort": {"warmup_tasks": 50}},
          "data": {"start": "2010-01-04", "end": "2012-12-31", "datasets": ["SPX", "NDX", "GOOG"]},
          "sandboxes": {"lifecycle_cycles": 20},
          "backtest": {"strategies": [{"name": "momentum", "params": {}}], "walk_forward_folds": 2,
                       "gates": {"min_trades": 10}}}


@pytest.fixture
def prefect_env(prefect_api, sandboxd):
    """The environment of Prefect's CLI and its workers: the session's Prefect server."""
    return {**os.environ, "PREFECT_API_URL": prefect_api.api_url, "PREFECT_LOGGING_LEVEL": "WARNING",
            "PYTHONPATH": str(ROOT)}


def _prefect(env: dict, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    out = subprocess.run([*PREFECT, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, f"prefect {' '.join(args)}:\n{out.stdout}\n{out.stderr}"
    return out


def test_nightly_deployment_is_scheduled_and_a_triggered_run_writes_the_report(prefect_env, tmp_path):
    env = prefect_env
    _prefect(env, "work-pool", "create", "tradeswarm-process", "--type", "process")
    _prefect(env, "--no-prompt", "deploy", "--all", "--prefect-file", "deployments/prefect.yaml")

    api = env["PREFECT_API_URL"]
    nightly = httpx.get(f"{api}/deployments/name/certification/nightly", timeout=10).json()
    assert nightly["parameters"] == {"profile": "nightly"}
    assert nightly["work_pool_name"] == "tradeswarm-process"
    [schedule] = nightly["schedules"]
    assert schedule["schedule"]["cron"] == "0 2 * * *" and schedule["schedule"]["timezone"] == "UTC"
    assert nightly["concurrency_limit"] == 1 or nightly["global_concurrency_limit"]["limit"] == 1

    # the nightly deployment itself, shrunk by a parameter override so the test stays fast
    out_dir = tmp_path / "run"
    params = {"out": str(out_dir), "overrides": SHRINK}
    run = _prefect(env, "deployment", "run", "certification/nightly", "--params", json.dumps(params))
    assert "Created flow run" in run.stdout
    worker = _prefect(env, "worker", "start", "--pool", "tradeswarm-process", "--run-once", timeout=600)

    assert (out_dir / "results.json").is_file(), f"the run wrote no results:\n{worker.stdout[-4000:]}\n{worker.stderr[-4000:]}"
    results = json.loads((out_dir / "results.json").read_text())
    assert results["profile"] == "nightly" and (out_dir / "report.md").is_file()
    assert results["stress"]["phases"]["steady"]["submitted"] == SHRINK["stress"]["tasks"]  # the override reached the flow
    assert results["stress"]["lost"] == 0 and results["sandboxes"]["leaked"] == 0

    # this deployment's one run: the server is the session's, other tests' runs are on it too
    [flow_run] = httpx.post(f"{api}/flow_runs/filter", json={"deployments": {"id": {"any_": [nightly["id"]]}},
                                                              "flow_runs": {"state": {"type": {"not_any_": ["SCHEDULED"]}}}},
                            timeout=10).json()
    # the verdict is the run's state: NOT_CERTIFIED ends Failed, the other verdicts Completed
    assert flow_run["state_type"] == ("FAILED" if results["verdict"] == "NOT_CERTIFIED" else "COMPLETED"), flow_run
    keys = ["certification-nightly", "certification-nightly-metrics"]
    arts = httpx.post(f"{api}/artifacts/filter", json={"artifacts": {"key": {"any_": keys},
                                                                     "flow_run_id": {"any_": [flow_run["id"]]}}},
                      timeout=10).json()
    by_key = {a["key"]: a for a in arts}
    assert set(by_key) == set(keys), by_key
    assert by_key["certification-nightly"]["type"] == "markdown"
    assert results["verdict"] in by_key["certification-nightly"]["description"]
    assert by_key["certification-nightly-metrics"]["type"] == "table"
    assert results["run_id"] in by_key["certification-nightly-metrics"]["description"]


def test_serve_runs_the_schedule_locally_without_a_pool(prefect_env, tmp_path):
    """`tradeswarm serve` registers the certification with its cron schedule and executes the
    runs of it itself (no work pool, no worker); Ctrl-C stops it cleanly; with --json its stdout
    is one JSON document (Prefect's banner goes to stderr)."""
    env = prefect_env
    api = env["PREFECT_API_URL"]
    serve = subprocess.Popen([sys.executable, "-m", "tradeswarm", "serve", "--profile", "smoke", "--cron", "0 2 * * *",
                              "--metrics-port", "0", "--json"],
                             env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            got = httpx.get(f"{api}/deployments/name/certification/smoke-local", timeout=10)
            if got.status_code == 200:
                break
            assert serve.poll() is None and time.monotonic() < deadline, serve.stderr.read() if serve.poll() else "no deployment"
            time.sleep(0.5)
        deployment = got.json()
        assert deployment["work_pool_name"] is None  # served by this process, not a pool
        [schedule] = deployment["schedules"]
        assert schedule["schedule"]["cron"] == "0 2 * * *" and schedule["schedule"]["timezone"] == "UTC"

        # a run of the served deployment now (not at 02:00): the serve process picks it up
        out_dir = tmp_path / "served"
        params = {"out": str(out_dir), "overrides": {"stress": {"tasks": 50, "rate": 100}}}
        _prefect(env, "deployment", "run", "certification/smoke-local", "--params", json.dumps(params))
        deadline = time.monotonic() + 300
        while not (out_dir / "results.json").is_file():
            assert serve.poll() is None and time.monotonic() < deadline, "the served run wrote no results"
            time.sleep(1)
        results = json.loads((out_dir / "results.json").read_text())
        assert results["profile"] == "smoke" and results["stress"]["phases"]["steady"]["submitted"] == 50
    finally:
        serve.send_signal(signal.SIGINT)
        try:
            serve.wait(60)
        except subprocess.TimeoutExpired:
            serve.kill()
    assert serve.returncode == 0, serve.stderr.read()[-2000:]
    assert json.loads(serve.stdout.read()) == {"serving": "certification", "cron": "0 2 * * *", "timezone": "UTC",
                                               "profile": "smoke", "metrics": None,
                                               "prefect": {"api_url": api, "ui_url": api.removesuffix("/api"),
                                                           "server": "PREFECT_API_URL"}}
