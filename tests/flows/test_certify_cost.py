"""Integrity scenario: a cost blow-up on a real `certify` run is NOT_CERTIFIED, by name.

Two real runs of the smoke profile (embedded default, local sandboxd), differing only in the
declared production load: the load the profile ships passes `cost.budget.projected`; a load a
hundred times its peak, at the capacity the run measures, needs far more sandboxes than the
budget pays for, and the run is NOT_CERTIFIED naming that check. Both projections come from
the same measured quantities (capacity per agent, billed sandbox size), each from its own run.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

BLOW_UP = {"tasks_per_day": 10_000_000, "peak_tasks_per_s": 2000, "hours_per_day": 6.5}


def _certify(out: Path, production: dict | None = None) -> dict:
    """results.json of a smoke run in a runs folder of its own (no history from the other run)."""
    from flows.certify import certify

    overrides = {"stress": {"tasks": 100, "rate": 100, "faults": {"fail_rate": 0, "latency_ms": 0}},
                 "backtest": {"strategies": [{"name": "sma_crossover", "sweep": {"fast": [5, 10], "slow": [50]}}]}}
    if production:
        overrides["cost"] = {"production": production}
    return certify(profile="smoke", out=str(out / "runs" / "run"), overrides=overrides)


def _check(results: dict, check_id: str) -> dict:
    return next(c for c in results["checks"] if c["id"] == check_id)


def test_a_cost_blow_up_is_not_certified_by_name_and_the_shipped_load_passes(sandboxd, tmp_path):
    ok = _certify(tmp_path / "shipped")
    blown = _certify(tmp_path / "blown", BLOW_UP)

    passed, failed = _check(ok, "cost.budget.projected"), _check(blown, "cost.budget.projected")
    assert passed["status"] in ("pass", "warn") and failed["status"] == "fail"
    assert blown["verdict"] == "NOT_CERTIFIED"
    report = Path(blown["report_path"]).read_text(encoding="utf-8")
    assert "cost.budget.projected" in report and "**assumption**" in report
    # each projection from its run's own measurements: capacity, billed size, calls per task
    for res in (ok, blown):
        p = res["cost"]["projection"]
        assert p["capacity"]["per_agent_tps"] > 0 and p["usd_per_sandbox_second"] > 0
        assert p["sandboxes"] >= 3  # never fewer than the certified swarm
        assert res["cost"]["per_1000_tasks_usd"] > 0 and res["stress"]["billed"]["sandbox_seconds"] > 0
    assert blown["cost"]["projection"]["sandboxes"] > ok["cost"]["projection"]["sandboxes"]
    assert blown["cost"]["projected_daily_usd"] > blown["cost"]["budget_daily_usd"] > ok["cost"]["projected_daily_usd"]
    # nothing left behind by the A/B probes' own managers
    assert ok["sandboxes"]["leaked"] == 0 and blown["sandboxes"]["leaked"] == 0
