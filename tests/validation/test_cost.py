"""Cost arithmetic against figures computed by hand, and the cost checks' statuses."""

from __future__ import annotations

import pytest

from validation.checks import cost_checks
from validation.cost import cost_section, forecast_daily_usd, price_table, projected_daily_usd, savings
from validation.spec import load_spec

METER = {"sandboxes": 2, "sandbox_seconds": 100.0, "vcpu_seconds": 200.0, "gib_seconds": 50.0,
         "api_calls": {"create": 10}, "api_calls_total": 10, "stored_bytes": 0}


def test_e2b_prices_are_the_published_ones():
    p = price_table("e2b")
    assert p["vcpu_second_usd"] == 0.000014 and p["gib_second_usd"] == 0.0000045 and p["api_call_usd"] == 0


def test_local_is_free_unless_a_core_hour_price_is_configured():
    assert price_table("local")["vcpu_second_usd"] == 0
    assert price_table("local", core_hour_usd=0.036)["vcpu_second_usd"] == pytest.approx(0.00001)


def test_observed_projected_and_per_1000_by_hand():
    spec = load_spec("smoke", overrides={"cost": {"production": {"sandboxes": 5, "hours_per_day": 8}}})
    c = cost_section(spec, {"cost": {"meter": METER, "tasks": 400, "elapsed_s": 50.0}})
    # observed: 200 vCPU-s × 0.000014 + 50 GiB-s × 0.0000045 = 0.0028 + 0.000225
    assert c["total_usd"] == pytest.approx(0.003025)
    assert c["breakdown"]["vcpu_usd"] == pytest.approx(0.0028)
    assert c["breakdown"]["memory_usd"] == pytest.approx(0.000225)
    # per sandbox (measured): 2 vCPU, 0.5 GiB; 5 sandboxes × 8 h = 144,000 sandbox-s
    # 144,000 × (2 × 0.000014 + 0.5 × 0.0000045) = 144,000 × 0.00003025 = 4.356
    assert c["projected_daily_usd"] == pytest.approx(4.356)
    # linear forecast: 0.003025 / 50 s × 28,800 s = 1.7424
    assert c["projected_daily_observed_usd"] == pytest.approx(1.7424)
    assert c["per_1000_tasks_usd"] == pytest.approx(0.0075625)


def test_local_core_hour_price_flows_into_the_projection():
    spec = load_spec("smoke", overrides={"cost": {"price_table": "local", "core_hour_usd": 0.036,
                                                  "production": {"sandboxes": 1, "hours_per_day": 10}}})
    c = cost_section(spec, {"cost": {"meter": METER, "tasks": 1}})
    assert c["total_usd"] == pytest.approx(200 * 0.00001)
    assert c["projected_daily_usd"] == pytest.approx(10 * 3600 * 2 * 0.00001)  # 2 vCPU × 10 h × $0.036
    assert c["projected_daily_observed_usd"] is None  # no elapsed time measured


def test_helpers():
    p = price_table("e2b")
    assert projected_daily_usd(p, sandboxes=1, hours_per_day=1, vcpu=1, gib=0) == pytest.approx(0.0504)
    assert forecast_daily_usd(1.0, 3600.0, 24) == 24.0


def test_savings_are_computed_from_measurements_and_missing_ones_are_not_invented():
    rows = savings({"pooling": {"with": 30.0, "without": 120.0, "unit": "s"}, "batching": {"with": 5}},
                   ["pooling", "batching", "idle_cleanup"])
    assert rows[0]["saved_pct"] == pytest.approx(75.0) and rows[0]["saved"] == 90.0
    assert rows[1]["saved_pct"] is None and rows[2]["saved_pct"] is None


def _statuses(spec, evidence) -> dict:
    return {c.id: c.status for c in cost_checks(spec, cost_section(spec, evidence))}


def test_budget_alert_at_80_percent_warns_and_over_budget_fails():
    # measured 2 vCPU, 0.5 GiB per sandbox: 4.356 $/day for 5 × 8 h (budget 5, alert at 4)
    spec = load_spec("smoke", overrides={"cost": {"production": {"sandboxes": 5, "hours_per_day": 8}}})
    ev = {"cost": {"meter": METER, "tasks": 400, "elapsed_s": 50.0}}
    assert _statuses(spec, ev)["cost.budget.projected"] == "warn"
    spec3 = load_spec("smoke", overrides={"cost": {"production": {"sandboxes": 3, "hours_per_day": 8}}})
    assert _statuses(spec3, ev)["cost.budget.projected"] == "pass"  # 2.61
    spec6 = load_spec("smoke", overrides={"cost": {"production": {"sandboxes": 6, "hours_per_day": 8}}})
    assert _statuses(spec6, ev)["cost.budget.projected"] == "fail"  # 5.23
    assert _statuses(spec, {})["cost.budget.projected"] == "nodata"  # no meter: no projection, no pass


def test_per_1000_tasks_threshold_and_savings_statuses():
    spec = load_spec("smoke", overrides={"cost": {"per_1000_tasks": "<= $0.005"}})
    ev = {"cost": {"meter": METER, "tasks": 400, "elapsed_s": 50.0,
                   "savings_measurements": {"pooling": {"with": 1, "without": 2, "unit": "s"},
                                            "batching": {"with": 3, "without": 2, "unit": "s"}}}}
    s = _statuses(spec, ev)
    assert s["cost.per_1000_tasks"] == "fail"  # 0.0076 > 0.005
    assert s["cost.savings.pooling"] == "pass" and s["cost.savings.batching"] == "fail"
    assert s["cost.savings.idle_cleanup"] == "nodata" and s["cost.savings.template_caching"] == "nodata"
    ev["cost"]["tasks"] = 4000
    assert _statuses(spec, ev)["cost.per_1000_tasks"] == "pass"
