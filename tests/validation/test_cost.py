"""Cost arithmetic against figures computed by hand, and the cost checks' statuses (both ways)."""

from __future__ import annotations

import copy

import pytest

from tests.validation._judge_fixtures import optimizations, usage
from validation.checks import cost_checks
from validation.cost import cost_section, forecast_daily_usd, price_table, usd_per_sandbox_second
from validation.spec import SpecError, load_spec

METER = {"sandboxes": 2, "sandbox_seconds": 100.0, "vcpu_seconds": 200.0, "gib_seconds": 50.0,
         "api_calls": {"create": 10}, "api_calls_total": 10, "stored_bytes": 0}
# the stress test's own bill: 2 vCPU and 0.5 GiB per sandbox, 3 API calls per task
BILLED = {"sandbox_seconds": 100.0, "vcpu_seconds": 200.0, "gib_seconds": 50.0, "stored_bytes": 2 * 1024 ** 3,
          "api_calls": {"stdin": 300}, "api_calls_total": 300, "api_items": {"stdin": 500}}


def stress(service_ms: float = 20.0, **extra) -> dict:
    return {"submitted": 100, "completed": 100, "throughput_per_s": 50.0, "billed": copy.deepcopy(BILLED),
            "latency": {"stress_service": {"mean": service_ms}}, **extra}


def evidence(service_ms: float = 20.0, **extra) -> dict:
    return {"cost": {"meter": METER, "elapsed_s": 50.0}, "stress": stress(service_ms),
            "optimizations": optimizations(), **extra}


def smoke(**cost) -> object:
    return load_spec("smoke", overrides={"cost": cost})


LOAD = {"tasks_per_day": 100_000, "peak_tasks_per_s": 50, "hours_per_day": 8}


def test_e2b_prices_are_the_published_ones():
    p = price_table("e2b")
    assert p["vcpu_second_usd"] == 0.000014 and p["gib_second_usd"] == 0.0000045 and p["api_call_usd"] == 0


def test_local_is_free_unless_a_core_hour_price_is_configured():
    assert price_table("local")["vcpu_second_usd"] == 0
    assert price_table("local", core_hour_usd=0.036)["vcpu_second_usd"] == pytest.approx(0.00001)


def test_observed_projection_and_per_1000_by_hand():
    c = cost_section(smoke(production=LOAD), evidence())
    # observed (whole run): 200 vCPU-s × 0.000014 + 50 GiB-s × 0.0000045 = 0.0028 + 0.000225
    assert c["total_usd"] == pytest.approx(0.003025)
    # capacity: 1000 / 20 ms = 50 tasks/s per agent → the 50/s peak needs 1 agent; the swarm has 2
    # signal agents and a risk manager: 3 sandboxes × 8 h × (2 × 0.000014 + 0.5 × 0.0000045) $/s
    p = c["projection"]
    assert p["capacity"]["per_agent_tps"] == 50.0 and p["agents_for_peak"] == 1 and p["sandboxes"] == 3
    assert c["projected_daily_usd"] == pytest.approx(3 * 8 * 3600 * 0.00003025)  # 2.6136
    assert p["api_calls_per_task"] == 3.0 and p["assumptions"]
    # per 1,000 tasks: only the stress window's bill (0.003025 for 100 tasks), not the whole run's
    assert c["per_1000_tasks_usd"] == pytest.approx(0.03025 + 0.0)  # storage is free on E2B
    # linear forecast: 0.003025 / 50 s × 28,800 s
    assert c["projected_daily_observed_usd"] == pytest.approx(1.7424)


def test_api_calls_and_storage_are_priced_when_the_table_prices_them(tmp_path):
    table = tmp_path / "prices.yaml"
    table.write_text("name: metered\nvcpu_second_usd: 0\ngib_second_usd: 0\napi_call_usd: 0.0001\nstored_gib_usd: 0.5\n")
    c = cost_section(smoke(price_table=str(table), production=LOAD), evidence())
    parts = c["projection"]["parts"]
    assert parts["api_calls_usd"] == pytest.approx(3 * 100_000 * 0.0001)  # 3 calls per task measured
    assert parts["storage_usd"] == pytest.approx(2 / 100 * 100_000 * 0.5)  # 2 GiB per 100 tasks measured
    assert c["per_1000_tasks_usd"] == pytest.approx((300 * 0.0001 + 2 * 0.5) / 100 * 1000)


def test_injected_latency_that_halves_capacity_raises_the_projection():
    spec = smoke(production={**LOAD, "peak_tasks_per_s": 200})
    fast, slow = cost_section(spec, evidence(20.0)), cost_section(spec, evidence(40.0))
    assert slow["projection"]["capacity"]["per_agent_tps"] == fast["projection"]["capacity"]["per_agent_tps"] / 2
    assert (fast["projection"]["sandboxes"], slow["projection"]["sandboxes"]) == (4 + 1, 8 + 1)
    assert slow["projected_daily_usd"] > fast["projected_daily_usd"]


def test_projection_is_nodata_without_a_stress_stage():
    spec = smoke()
    for ev in ({"cost": {"meter": METER, "elapsed_s": 50.0}}, {"stress": stress()},  # no stress stage, no meter
               evidence(stress=stress(billed=None)), evidence(stress=stress(completed=0))):
        c = cost_section(spec, ev)
        assert c["projected_daily_usd"] is None and c["projection"]["reason"]
        assert {k.id: k.status for k in cost_checks(spec, c)}["cost.budget.projected"] == "nodata"


def test_a_spec_with_a_fixed_sandbox_count_is_refused_with_a_clear_message():
    with pytest.raises(SpecError, match=r"cost\.production: 'sandboxes' is no longer declared.*declare the load"):
        smoke(production={"sandboxes": 5, "hours_per_day": 8})
    with pytest.raises(SpecError, match="exceeds peak_tasks_per_s"):
        smoke(production={"tasks_per_day": 10 ** 9, "peak_tasks_per_s": 1, "hours_per_day": 1})


def _statuses(spec, ev) -> dict:
    return {c.id: c.status for c in cost_checks(spec, cost_section(spec, ev))}


def test_budget_alert_warns_over_budget_fails_and_within_passes():
    per_sandbox_day = 8 * 3600 * 0.00003025  # 0.8712 $
    for peak, n, status in ((50, 3, "pass"), (200, 5, "warn"), (400, 9, "fail")):  # 2.61, 4.36, 7.84 $
        spec = smoke(production={**LOAD, "peak_tasks_per_s": peak})
        c = cost_section(spec, evidence())
        assert c["projected_daily_usd"] == pytest.approx(n * per_sandbox_day)
        assert _statuses(spec, evidence())["cost.budget.projected"] == status


def test_per_1000_tasks_threshold_both_ways():
    assert _statuses(smoke(per_1000_tasks="<= $0.01"), evidence())["cost.per_1000_tasks"] == "fail"  # 0.030
    assert _statuses(smoke(per_1000_tasks="<= $0.05"), evidence())["cost.per_1000_tasks"] == "pass"


def _rows(spec, ev) -> dict:
    return {r["name"]: r for r in cost_section(spec, ev)["savings"]}


def test_savings_in_billed_seconds_and_dollars():
    rows = _rows(smoke(), evidence())
    t = rows["template_caching"]  # 1 s vs 4 s of a 1 vCPU / 2 GiB sandbox
    assert (t["with"], t["without"], t["saved_pct"]) == (1.0, 4.0, 75.0)
    assert t["saved_usd"] == pytest.approx(3 * usd_per_sandbox_second(price_table("e2b"), {"vcpu": 1, "gib": 2}))
    i = rows["idle_cleanup"]  # smoke: 30 s idle threshold + 0.3 s late vs 120 s lifetime + 0.2 s late
    assert (i["with"], i["without"]) == pytest.approx((30.3, 120.2))
    b = rows["batching"]  # 300 stdin calls for 500 task lines; API calls are not billed by E2B
    assert (b["with"], b["without"], b["saved_pct"], b["saved_usd"]) == (300.0, 500.0, 40.0, 0.0)
    assert rows["pooling"]["saved_pct"] == pytest.approx(-50.0)  # the pool's waiting is billed


def test_a_saving_without_a_target_is_reported_not_scored_and_a_negative_one_fails():
    ids = _statuses(smoke(), evidence())
    # smoke pools nothing: the pool's negative saving is reported, not judged; the others are positive
    assert not [k for k in ids if k.startswith("cost.savings.")]
    pooled = load_spec("smoke", overrides={"sandboxes": {"pool_size": 1}})
    assert _statuses(pooled, evidence())["cost.savings.pooling"] == "fail"
    # idle cleanup later than the sandboxes' own lifetime costs more than it saves
    late = smoke(idle_threshold_s=600)
    assert _statuses(late, evidence())["cost.savings.idle_cleanup"] == "fail"
    ev = evidence()
    ev["optimizations"]["template_caching"]["with"] = usage(5.0)  # the template slower to ready than an upload
    assert _statuses(smoke(), ev)["cost.savings.template_caching"] == "fail"
    ev["stress"]["billed"]["api_items"]["stdin"] = 299  # more calls than lines sent: batching made it worse
    assert _statuses(smoke(), ev)["cost.savings.batching"] == "fail"


def test_a_saving_target_is_judged_both_ways_and_unmeasured_is_nodata():
    assert _statuses(smoke(savings_targets={"template_caching": ">= 50%"}), evidence())["cost.savings.template_caching"] == "pass"
    assert _statuses(smoke(savings_targets={"template_caching": ">= 80%"}), evidence())["cost.savings.template_caching"] == "fail"
    ev = evidence()
    del ev["optimizations"]
    assert _statuses(smoke(savings_targets={"pooling": ">= 0%"}), ev)["cost.savings.pooling"] == "nodata"


def test_helpers():
    assert usd_per_sandbox_second(price_table("e2b"), {"vcpu": 1, "gib": 0}) * 3600 == pytest.approx(0.0504)
    assert forecast_daily_usd(1.0, 3600.0, 24) == 24.0
