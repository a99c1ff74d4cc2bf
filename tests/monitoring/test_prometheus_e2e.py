"""End to end on a real Prometheus: it scrapes a real sandboxd (with the token) and the runs
endpoint of `tradeswarm serve`; the alert rules fire for a run that breaches and for none of a
healthy run; every panel of the Grafana dashboard returns data.

Two stress tests run through a real swarm on that sandboxd: a clean one (the healthy nightly
run) and one whose agents fail 40 % of their tasks on their own in the steady state the alerts read (the breached standard run).
Their measured stress figures go into the runs' results (the rest of each results.json is the
reports' golden run; the breached one also carries the fixture's over-budget cost, slow P95 and
a leaked sandbox, see `_support.breach`), exported through `reports.prometheus`.
"""

from __future__ import annotations

import asyncio
import json
import math
import subprocess
import time
from datetime import datetime, timezone

import httpx
import pytest
import yaml
from e2b import Sandbox
from e2b.exceptions import RateLimitException

from reports.prometheus import export_run, serve_runs
from tests.monitoring._support import DASHBOARD, RULES_DIR, binary, breach, free_port, golden

pytestmark = pytest.mark.slow

EXPECTED = {"TradeswarmCostOverBudget", "TradeswarmLatencyP95High", "TradeswarmSuccessRateLow",
            "TradeswarmErrorRateHigh", "TradeswarmNotCertified", "TradeswarmSandboxLeaked"}
STRESS_KEYS = ("submitted", "completed", "failed", "timed_out", "lost", "duplicated", "success_rate",
               "error_rate", "throughput_per_s")


def _stress(settings, tmp_path, name: str, fail_rate: float) -> dict:
    from tradeswarm.stress.engine import run_stress
    from tradeswarm.stress.swarm import stress_swarm

    cfg = {"tasks": 80, "rate": 200, "symbols": ["SYN1"], "consensus_share": 0.1, "consensus_k": 2,
           "sample_interval_s": 0.25}

    async def go():
        # agents that fail on their own (not an injected fault, which only a chaos phase would see):
        # the steady state the SLA and the alerts read is breached
        async with stress_swarm(agents=2, symbols=["SYN1"], settings=settings, heartbeat_timeout_s=2.0,
                                fail_rate=fail_rate) as target:
            return await run_stress(target.coordinator, cfg, ledger_path=tmp_path / f"{name}.db", seed=5)

    ev = asyncio.run(go())
    return {k: ev[k] for k in STRESS_KEYS} | {"phases": ev.get("phases") or {}}


def _wait(what: str, probe, timeout_s: float = 60.0):
    deadline = time.monotonic() + timeout_s
    while True:
        got = probe()
        if got:
            return got
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.25)


class Prom:
    def __init__(self, url: str) -> None:
        self.url = url

    def get(self, path: str, **params) -> dict:
        r = httpx.get(f"{self.url}{path}", params=params, timeout=10)
        r.raise_for_status()
        return r.json()["data"]

    def query(self, expr: str) -> list[dict]:
        return self.get("/api/v1/query", query=expr)["result"]

    def firing(self) -> list[dict]:
        return [a for a in self.get("/api/v1/alerts")["alerts"] if a["state"] == "firing"]


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    from tradeswarm.sandbox.sandboxd import daemon
    from tradeswarm.settings import Settings

    exe = binary("prometheus")
    tmp = tmp_path_factory.mktemp("prometheus-e2e")
    state, runs = tmp / "state", tmp / "runs"
    runs.mkdir()
    ep = daemon.start(state)
    sdk = {"api_key": ep.token, "api_url": ep.url, "sandbox_url": ep.url}
    settings = Settings(TRADESWARM_STATE_DIR=str(state), E2B_API_KEY=None)
    runs_port, prom_port = free_port(), free_port()
    runs_server = serve_runs(runs, runs_port)
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(RULES_DIR / "alerts.yml")],
        "scrape_configs": [
            {"job_name": "sandboxd", "static_configs": [{"targets": [ep.url.removeprefix("http://")]}],
             "authorization": {"type": "Bearer", "credentials_file": str(state / "sandboxd" / "token")}},
            {"job_name": "tradeswarm", "static_configs": [{"targets": [f"127.0.0.1:{runs_port}"]}]},
        ],
    }
    (tmp / "prometheus.yml").write_text(yaml.safe_dump(config))
    log = open(tmp / "prometheus.log", "wb")
    proc = subprocess.Popen([exe, f"--config.file={tmp / 'prometheus.yml'}", f"--storage.tsdb.path={tmp / 'data'}",
                             f"--web.listen-address=127.0.0.1:{prom_port}"], stdout=log, stderr=log)
    prom = Prom(f"http://127.0.0.1:{prom_port}")
    box = None
    try:
        _wait("prometheus ready", lambda: proc.poll() is None and _ready(prom.url), 60)
        # the rate() panels need a scrape before the activity, not only after it
        _wait("a first scrape of sandboxd", lambda: any(r["value"][1] == "1" for r in prom.query('up{job="sandboxd"}')), 60)
        box = Sandbox.create("base", **sdk)  # alive through the module: per-sandbox series exist
        box.commands.run("sleep 600", background=True)  # a live process: memory to measure
        admin = {"X-API-KEY": ep.token}
        httpx.post(f"{ep.url}/admin/faults", json={"throttle_s": 2}, headers=admin, timeout=10)
        with pytest.raises(RateLimitException):
            Sandbox.create("base", **sdk)
        httpx.delete(f"{ep.url}/admin/faults", headers=admin, timeout=10)

        now = datetime.now(timezone.utc).isoformat()
        healthy = golden("nightly", "CERTIFIED", finished_at=now)
        healthy["stress"].update(_stress(settings, tmp, "clean", 0.0))
        export_run(healthy, runs / "nightly-run", pushgateway="")
        breached = breach(golden("standard", finished_at=now))
        breached["stress"].update(_stress(settings, tmp, "errors", 0.4))
        export_run(breached, runs / "standard-run", pushgateway="")
        yield {"prom": prom, "healthy": healthy, "breached": breached, "box": box}
    finally:
        if box is not None:
            box.kill()
        proc.terminate()
        proc.wait(30)
        log.close()
        runs_server.shutdown()
        daemon.stop(state)


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/-/ready", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_the_injected_errors_were_measured(stack):
    """The stress figures the alerts judge come from the runs, and the fault moved them."""
    clean, faulty = stack["healthy"]["stress"], stack["breached"]["stress"]
    assert clean["success_rate"] >= 0.9 and clean["error_rate"] <= 0.05, clean
    assert faulty["success_rate"] < 0.9 and faulty["error_rate"] > 0.05, faulty


def test_prometheus_scrapes_sandboxd_with_its_token_and_the_runs(stack):
    prom = stack["prom"]

    def both_up():
        targets = prom.get("/api/v1/targets")["activeTargets"]
        return {t["labels"]["job"]: t["health"] for t in targets} == {"sandboxd": "up", "tradeswarm": "up"}

    _wait("both targets up", both_up)
    created = prom.query("tradeswarm_sandboxd_sandboxes_created_total")
    assert float(created[0]["value"][1]) >= 5  # the module's sandbox and the two swarms'
    series = prom.query(f'tradeswarm_sandboxd_sandbox_memory_bytes{{sandbox_id="{stack["box"].sandbox_id}"}}')
    assert series and float(series[0]["value"][1]) > 0


def test_the_breached_run_fires_its_alerts_and_the_healthy_one_none(stack):
    prom = stack["prom"]

    def expected_firing():
        got = {a["labels"]["alertname"] for a in prom.firing() if a["labels"].get("profile") == "standard"}
        return got if got == EXPECTED else None

    _wait("the breached run's alerts", expected_firing)
    firing = prom.firing()
    assert not [a for a in firing if a["labels"].get("profile") != "standard"], json.dumps(firing, indent=1)
    assert not [a for a in prom.get("/api/v1/alerts")["alerts"]
                if a["labels"]["alertname"] == "TradeswarmNightlyCertificationMissing"]
    rate = next(a for a in firing if a["labels"]["alertname"] == "TradeswarmErrorRateHigh")
    assert float(rate["value"]) == pytest.approx(stack["breached"]["stress"]["error_rate"])


def test_every_dashboard_panel_returns_data(stack):
    prom = stack["prom"]
    dashboard = json.loads(DASHBOARD.read_text())
    targets = [(p["title"], t["expr"]) for p in dashboard["panels"] for t in p["targets"]]
    assert len(targets) >= 12

    def finite(expr: str) -> list[float]:
        return [v for v in (float(r["value"][1]) for r in prom.query(expr)) if math.isfinite(v)]

    # the rate() panels need two scrapes after the activity: wait (bounded) until every one answers
    deadline = time.monotonic() + 30
    while (empty := [f"{title!r}: {expr}" for title, expr in targets if not finite(expr)]) \
            and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not empty, "panels without data:\n" + "\n".join(empty)
