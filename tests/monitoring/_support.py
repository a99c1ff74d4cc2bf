"""Shared by the monitoring tests: where the rules live and the Prometheus binaries.

`promtool` and `prometheus` come from Debian's `prometheus` package, `prometheus-pushgateway`
from its own (.ci/run installs both). A test needing one is skipped only outside CI: with
`CI` or `TRADESWARM_REQUIRE_PROMETHEUS` set (.ci/run sets the latter) a missing binary fails it.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RULES_DIR = ROOT / "deployments" / "prometheus"
DASHBOARD = ROOT / "deployments" / "grafana" / "tradeswarm.json"


def binary(name: str) -> str:
    """The path of `name`; skips the test when missing outside CI, fails it in CI."""
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI") or os.environ.get("TRADESWARM_REQUIRE_PROMETHEUS"):
            pytest.fail(f"{name} is missing in CI: .ci/run installs Debian's prometheus and prometheus-pushgateway")
        pytest.skip(f"{name} is not installed (apt-get install prometheus prometheus-pushgateway)")
    return path


GOLDEN = ROOT / "tests" / "reports" / "golden" / "results.json"


def golden(profile: str, verdict: str = "CERTIFIED", finished_at: str | None = None) -> dict:
    """A fresh copy of the reports' golden results.json, as a run of `profile` with `verdict`."""
    results = json.loads(GOLDEN.read_text(encoding="utf-8"))
    results.update(profile=profile, verdict=verdict, run_id=f"{profile}-{verdict.lower()}")
    if finished_at is not None:
        results["finished_at"] = finished_at
    return results


def breach(results: dict) -> dict:
    """`results` past every line of the alert rules: cost, P95, success and error rate, a leak."""
    results["verdict"] = "NOT_CERTIFIED"
    results["cost"]["projected_daily_usd"] = 4.5  # over $4 = 0.8 x the $5 budget
    results["latency"]["stress_task"]["p95"] = 6200.0  # ms: over 5 s
    results["stress"].update(success_rate=0.85, error_rate=0.15)
    results["stress"].get("phases", {}).get("steady", {}).update(success_rate=0.85, error_rate=0.15)
    results["sandboxes_leaked"] = 1
    return results


def value(text: str, name: str, **labels: str) -> float | None:
    """The value of the one series of exposition `text` named `name` with (at least) `labels`."""
    from prometheus_client.parser import text_string_to_metric_families

    want = set(labels.items())
    found = [s.value for fam in text_string_to_metric_families(text) for s in fam.samples
             if s.name == name and want <= set(s.labels.items())]
    assert len(found) <= 1, f"{name}{labels} matches {len(found)} series"
    return found[0] if found else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
