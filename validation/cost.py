"""Cost judgement: price the meter's usage, project a production day from measured capacity,
price each optimization's A/B.

Prices are data (`tradeswarm/prices/*.yaml`, read by `tradeswarm.pricing`): they and the spec's declared production load are
the only assumptions; everything else is measured in the run. Figures (docs/contracts.md §6):

- **observed** (`total_usd`): the run's metered usage × the price table
  (`vcpu_seconds × vcpu_second_usd + gib_seconds × gib_second_usd + sandbox_seconds ×
  sandbox_second_usd + api_calls × api_call_usd + stored GiB × stored_gib_usd`);
- **per 1,000 tasks**: what was billed while the stress test ran (its meter window: the agents'
  sandbox time, their API calls and stored bytes; not the probes) ÷ stress tasks × 1,000;
- **projected daily** (`cost.budget.projected`): agents needed = max(the spec's signal agents,
  ⌈declared peak tasks/s ÷ measured tasks/s per agent⌉) + the other agents, one sandbox each,
  billed `hours_per_day`, at the measured price of one of the stress stage's sandbox-seconds;
  plus the measured API calls and stored bytes per task × declared tasks per day. Capacity
  per agent = 1,000 ÷ the stress tasks' mean service time in ms (dispatch to answer: one agent
  serving one task at a time). No stress stage, no projection (`nodata`);
- **observed-rate forecast** (`cost.budget.forecast`, linear as budget tools do): `observed ÷
  elapsed_s × hours_per_day × 3600`.

Savings are A/B measurements in billed units and USD (see `savings`); a missing measurement
gives no figure at all.

>>> prices = price_table("e2b")
>>> round(usd_per_sandbox_second(prices, {"vcpu": 2, "gib": 1}) * 3600, 4)
0.117
"""

from __future__ import annotations

import math
from typing import Any

from tradeswarm.pricing import GIB as _GIB, PRICE_KEYS as _PRICE_KEYS, observed_usd, price_table
from validation.spec import Spec

_METER_KEYS = ("sandbox_seconds", "vcpu_seconds", "gib_seconds", "api_calls_total", "stored_bytes")
ASSUMPTIONS = ("the declared production load (cost.production)", "the price table")


def per_sandbox_rates(meter: dict) -> dict[str, float] | None:
    """The average vCPUs and GiB of a running sandbox in this usage; None without sandbox time."""
    seconds = _num(meter.get("sandbox_seconds"))
    if not seconds or seconds <= 0:
        return None
    return {"vcpu": float(meter.get("vcpu_seconds", 0.0)) / seconds, "gib": float(meter.get("gib_seconds", 0.0)) / seconds}


def usd_per_sandbox_second(prices: dict, rates: dict) -> float:
    """The price of one second of a sandbox of `rates`' size (vCPUs, GiB)."""
    return rates["vcpu"] * prices["vcpu_second_usd"] + rates["gib"] * prices["gib_second_usd"] + prices["sandbox_second_usd"]


def forecast_daily_usd(observed_total: float, elapsed_s: float, hours_per_day: float) -> float:
    """Linear forecast: the observed spending rate sustained for `hours_per_day`."""
    return observed_total / elapsed_s * hours_per_day * 3600.0


def capacity(stress: dict, latency: dict | None = None) -> dict | None:
    """Tasks/s one agent sustains, from the stress test's mean service time (in its section, or
    the run's `latency`); None when the stress stage did not run or completed nothing.

    >>> capacity({"completed": 90, "latency": {"stress_service": {"mean": 20.0}}})["per_agent_tps"]
    50.0
    """
    service = _d(stress.get("latency")).get("stress_service") or _d(latency).get("stress_service")
    mean_ms = _num(_d(service).get("mean"))
    if not _num(stress.get("completed")) or not mean_ms or mean_ms <= 0:
        return None
    out = {"per_agent_tps": 1000.0 / mean_ms, "service_ms_mean": mean_ms,
           "observed_tps": _num(stress.get("throughput_per_s"))}
    used = [s for s in _d(_d(stress.get("resources")).get("sandboxes")).values() if isinstance(s, dict)]
    cpu = [_num(s.get("cpu_pct_mean")) for s in used if _num(s.get("cpu_pct_mean")) is not None]
    mem = [_num(s.get("mem_mb_mean")) for s in used if _num(s.get("mem_mb_mean")) is not None]
    out["used_per_sandbox"] = {"cpu_pct_mean": sum(cpu) / len(cpu) if cpu else None,
                               "mem_mb_mean": sum(mem) / len(mem) if mem else None}
    return out


def projection(spec: Spec, prices: dict, stress: dict, latency: dict | None = None) -> dict:
    """The projected production day (`usd` None with a `reason` when it cannot be computed)."""
    load = spec.cost.production
    out: dict[str, Any] = {"usd": None, "reason": None, "load": load.model_dump(), "assumptions": list(ASSUMPTIONS)}
    cap = capacity(stress, latency)
    billed = _usage(stress.get("billed"))
    tasks = _num(stress.get("submitted"))
    rates = per_sandbox_rates(billed) if billed else None
    if cap is None or rates is None or not tasks:
        out["reason"] = "no stress stage measured capacity and billing" if not stress else \
            "the stress stage measured no service time or no billed sandbox time"
        return out
    signal = sum(a.count for a in spec.agents if a.type != "risk_manager")
    for_peak = math.ceil(load.peak_tasks_per_s / cap["per_agent_tps"])
    agents = max(signal, for_peak) + spec.agent_count - signal
    per_s = usd_per_sandbox_second(prices, rates)
    seconds = agents * load.hours_per_day * 3600.0
    calls_per_task = float(billed.get("api_calls_total", 0)) / tasks
    bytes_per_task = float(billed.get("stored_bytes", 0)) / tasks
    parts = {"sandboxes_usd": seconds * per_s,
             "api_calls_usd": calls_per_task * load.tasks_per_day * prices["api_call_usd"],
             "storage_usd": bytes_per_task * load.tasks_per_day / _GIB * prices["stored_gib_usd"]}
    out.update(usd=sum(parts.values()), parts=parts, capacity=cap, agents_for_peak=for_peak, sandboxes=agents,
               sandbox_seconds=seconds, usd_per_sandbox_second=per_s, per_sandbox=rates,
               api_calls_per_task=calls_per_task, stored_bytes_per_task=bytes_per_task)
    return out


def _ab(prices: dict, with_: dict, without: dict, unit: str) -> dict:
    """A row's figures from two metered usages (billed sandbox-seconds and USD)."""
    w, wo = observed_usd(prices, with_)["total_usd"], observed_usd(prices, without)["total_usd"]
    return {"with": with_["sandbox_seconds"], "without": without["sandbox_seconds"], "unit": unit,
            "with_usd": w, "without_usd": wo}


def _measured(spec: Spec, prices: dict, name: str, opt: dict, stress: dict) -> dict | None:
    """One optimization's with/without figures and whether the certified configuration uses it."""
    m = opt.get(name)
    if name in ("pooling", "template_caching") and isinstance(m, dict):
        if _usage(m.get("with")) is None or _usage(m.get("without")) is None:
            return None
        row = _ab(prices, m["with"], m["without"], "billed sandbox-s")
        if name == "pooling":
            return {**row, "in_use": spec.sandboxes.pool_size > 0,
                    "basis": f"{m.get('unit')}: from a pool of {m.get('pool_size')} (its waiting billed) vs created on demand"}
        return {**row, "in_use": spec.sandboxes.template != "base",
                "basis": f"{m.get('unit')}: the prepared template vs base + upload"}
    if name == "idle_cleanup" and isinstance(m, dict):
        late, rates = _d(m.get("late_s")), per_sandbox_rates(_usage(m.get("usage")) or {})
        if _num(late.get("with")) is None or _num(late.get("without")) is None or rates is None:
            return None
        per_s = usd_per_sandbox_second(prices, rates)
        w = spec.cost.idle_threshold_s + late["with"]
        wo = spec.sandboxes.timeout_s + late["without"]
        return {"with": w, "without": wo, "unit": "billed sandbox-s per idle sandbox", "with_usd": w * per_s,
                "without_usd": wo * per_s, "in_use": True,
                "basis": f"killed {spec.cost.idle_threshold_s:g} s after going idle (cost.idle_threshold_s) vs left to its "
                         f"{spec.sandboxes.timeout_s} s lifetime (sandboxes.timeout_s), each plus the lateness measured"}
    if name == "batching":
        billed = _d(stress.get("billed"))
        w, wo = _num(_d(billed.get("api_calls")).get("stdin")), _num(_d(billed.get("api_items")).get("stdin"))
        if w is None or wo is None:
            return None
        return {"with": w, "without": wo, "unit": "stdin API calls",
                "with_usd": w * prices["api_call_usd"], "without_usd": wo * prices["api_call_usd"], "in_use": True,
                "basis": "the stress test's task lines coalesced per call vs one call per line"}
    return None


def savings(spec: Spec, prices: dict, evidence: dict) -> list[dict]:
    """One row per optimization the spec names: with, without, saved (unit and USD), the spec's
    target if any; `saved_pct` None when not measured both ways or the baseline is zero."""
    opt, stress = _d(evidence.get("optimizations")), _d(evidence.get("stress"))
    rows = []
    for name in spec.cost.optimizations:
        row: dict[str, Any] = {"name": name, "with": None, "without": None, "unit": None, "saved": None,
                               "saved_pct": None, "with_usd": None, "without_usd": None, "saved_usd": None,
                               "in_use": None, "basis": None, "target": spec.cost.savings_targets.get(name)}
        m = _measured(spec, prices, name, opt, stress)
        if m is not None:
            row.update(m, saved=m["without"] - m["with"], saved_usd=m["without_usd"] - m["with_usd"],
                       saved_pct=(m["without"] - m["with"]) / m["without"] * 100.0 if m["without"] > 0 else None)
        rows.append(row)
    return rows


def _num(x: Any) -> float | None:
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) else None


def _d(x: Any) -> dict:
    return x if isinstance(x, dict) else {}


def _usage(x: Any) -> dict | None:
    """A metered usage (`CostMeter.snapshot()` or `since()`) whose figures are numbers, else None."""
    if not isinstance(x, dict) or any(_num(x.get(k)) is None for k in ("sandbox_seconds", "vcpu_seconds", "gib_seconds")):
        return None
    if any(k in x and _num(x[k]) is None for k in ("api_calls_total", "stored_bytes")):
        return None
    return x


def cost_section(spec: Spec, evidence: dict) -> dict:
    """The results.json `cost` section, computed from the evidence; None where not measured."""
    c = spec.cost
    prices = price_table(c.price_table, core_hour_usd=c.core_hour_usd)
    ev, stress = _d(evidence.get("cost")), _d(evidence.get("stress"))
    meter = ev.get("meter") if isinstance(ev.get("meter"), dict) else None
    section: dict[str, Any] = {
        "price_table": prices["name"],
        "total_usd": None,
        "projected_daily_usd": None,
        "projected_daily_observed_usd": None,
        "budget_daily_usd": c.budget_daily_usd,
        "alert_fraction": c.alert_fraction,
        "per_1000_tasks_usd": None,
        "projection": {"usd": None, "reason": "the run's cost meter recorded nothing"},
        "breakdown": {"prices": {k: prices[k] for k in _PRICE_KEYS}},
        "savings": savings(spec, prices, evidence),
    }
    bad = [k for k in _METER_KEYS if meter is not None and _num(meter.get(k)) is None]
    if bad:  # a meter that did not measure is no measurement: the cost checks see none
        section["breakdown"]["meter_error"] = f"meter fields not numbers: {', '.join(bad)}"
        meter = None
    if meter is not None:  # no figure from a meter that did not run: the stress window is its too
        section["projection"] = projection(spec, prices, stress, _d(evidence.get("latency")))
        section["projected_daily_usd"] = section["projection"]["usd"]
        billed, tasks = _usage(stress.get("billed")), _num(stress.get("submitted"))
        if billed is not None and tasks:
            section["per_1000_tasks_usd"] = observed_usd(prices, billed)["total_usd"] / tasks * 1000.0
            section["breakdown"]["stress_billed"] = billed
        parts = observed_usd(prices, meter)
        section["total_usd"] = parts.pop("total_usd")
        section["breakdown"].update(parts)
        section["breakdown"]["usage"] = {k: meter.get(k) for k in ("sandboxes", "sandbox_seconds", "vcpu_seconds", "gib_seconds", "api_calls_total", "stored_bytes")}
        elapsed = _num(ev.get("elapsed_s")) or _num(evidence.get("duration_s"))
        if elapsed and elapsed > 0:
            section["projected_daily_observed_usd"] = forecast_daily_usd(section["total_usd"], elapsed, c.production.hours_per_day)
            section["breakdown"]["elapsed_s"] = elapsed
    return section
