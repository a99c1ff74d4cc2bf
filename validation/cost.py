"""Cost judgement: price the meter's usage, project a production day, measure savings.

Prices are data (`validation/prices/*.yaml`). Three figures come out of a run:

- **observed**: the run's metered usage × the price table
  (`vcpu_seconds × vcpu_second_usd + gib_seconds × gib_second_usd + sandbox_seconds ×
  sandbox_second_usd + api_calls × api_call_usd`);
- **projected daily** (production scenario of the spec): `sandboxes × hours_per_day × 3600 ×
  (vcpu × vcpu_second_usd + GiB × gib_second_usd + sandbox_second_usd + calls × api_call_usd)`,
  where the vCPUs, GiB and API calls per sandbox-second are the run's measured averages
  (`vcpu_seconds ÷ sandbox_seconds`, …): the scenario says how much, the run says of what;
- **observed-rate forecast** (linear, as budget tools do): `observed ÷ elapsed_s ×
  hours_per_day × 3600`, i.e. the run's spending rate sustained for a production day.

Savings of each optimization are `(without − with) ÷ without` from measurements the run made
both ways; a missing measurement gives no figure at all.

>>> prices = price_table("e2b")
>>> round(projected_daily_usd(prices, sandboxes=1, hours_per_day=1, vcpu=2, gib=1), 4)
0.117
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from validation.spec import PRICES_DIR, Spec

_PRICE_KEYS = ("vcpu_second_usd", "gib_second_usd", "sandbox_second_usd", "api_call_usd")
_METER_KEYS = ("sandbox_seconds", "vcpu_seconds", "gib_seconds", "api_calls_total")


@lru_cache(maxsize=16)
def _load_table(name: str) -> dict:
    path = PRICES_DIR / f"{name}.yaml" if (PRICES_DIR / f"{name}.yaml").is_file() else Path(name)
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}


def price_table(name: str, *, core_hour_usd: float | None = None) -> dict[str, Any]:
    """Per-unit USD prices of a table; `core_hour_usd` (local) sets the vCPU-second price."""
    raw = dict(_load_table(name))
    if core_hour_usd is not None:
        raw["vcpu_second_usd"] = core_hour_usd / 3600.0
    elif "vcpu_second_usd" not in raw:
        raw["vcpu_second_usd"] = float(raw.get("core_hour_usd") or 0.0) / 3600.0
    table = {k: float(raw.get(k, 0.0)) for k in _PRICE_KEYS}
    table["name"] = str(raw.get("name", name))
    table["source"] = str(raw.get("source", ""))
    return table


def observed_usd(prices: dict, meter: dict) -> dict[str, float]:
    """Price a `CostMeter.snapshot()`; returns the total and its parts."""
    parts = {
        "vcpu_usd": float(meter.get("vcpu_seconds", 0.0)) * prices["vcpu_second_usd"],
        "memory_usd": float(meter.get("gib_seconds", 0.0)) * prices["gib_second_usd"],
        "sandbox_usd": float(meter.get("sandbox_seconds", 0.0)) * prices["sandbox_second_usd"],
        "api_calls_usd": float(meter.get("api_calls_total", 0)) * prices["api_call_usd"],
    }
    parts["total_usd"] = sum(parts.values())
    return parts


def projected_daily_usd(prices: dict, *, sandboxes: int, hours_per_day: float, vcpu: float, gib: float,
                        calls_per_second: float = 0.0) -> float:
    """USD per day for `sandboxes` running `hours_per_day`, each with `vcpu`, `gib` and a call rate."""
    per_second = (vcpu * prices["vcpu_second_usd"] + gib * prices["gib_second_usd"] + prices["sandbox_second_usd"]
                  + calls_per_second * prices["api_call_usd"])
    return sandboxes * hours_per_day * 3600.0 * per_second


def per_sandbox_rates(meter: dict) -> dict[str, float] | None:
    """The run's average vCPUs, GiB and API calls per running sandbox; None without sandbox time."""
    seconds = _num(meter.get("sandbox_seconds"))
    if not seconds or seconds <= 0:
        return None
    return {"vcpu": float(meter.get("vcpu_seconds", 0.0)) / seconds,
            "gib": float(meter.get("gib_seconds", 0.0)) / seconds,
            "calls_per_second": float(meter.get("api_calls_total", 0)) / seconds}


def forecast_daily_usd(observed_total: float, elapsed_s: float, hours_per_day: float) -> float:
    """Linear forecast: the observed spending rate sustained for `hours_per_day`."""
    return observed_total / elapsed_s * hours_per_day * 3600.0


def savings(measurements: dict, names: list[str]) -> list[dict]:
    """One row per optimization named in the spec; `saved_pct` is None when not measured."""
    rows = []
    for name in names:
        m = measurements.get(name) if isinstance(measurements, dict) else None
        row: dict[str, Any] = {"name": name, "with": None, "without": None, "unit": None, "saved": None, "saved_pct": None}
        if isinstance(m, dict) and _num(m.get("with")) is not None and _num(m.get("without")) is not None:
            w, wo = float(m["with"]), float(m["without"])
            row.update({"with": w, "without": wo, "unit": m.get("unit"), "saved": wo - w,
                        "saved_pct": (wo - w) / wo * 100.0 if wo > 0 else None})
        rows.append(row)
    return rows


def _num(x: Any) -> float | None:
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else None


def cost_section(spec: Spec, evidence: dict) -> dict:
    """The results.json `cost` section, computed from the evidence; None where not measured."""
    c = spec.cost
    prices = price_table(c.price_table, core_hour_usd=c.core_hour_usd)
    ev = evidence.get("cost") if isinstance(evidence.get("cost"), dict) else {}
    meter = ev.get("meter") if isinstance(ev.get("meter"), dict) else None
    prod = c.production
    section: dict[str, Any] = {
        "price_table": prices["name"],
        "total_usd": None,
        "projected_daily_usd": None,
        "projected_daily_observed_usd": None,
        "budget_daily_usd": c.budget_daily_usd,
        "alert_fraction": c.alert_fraction,
        "per_1000_tasks_usd": None,
        "breakdown": {"prices": {k: prices[k] for k in _PRICE_KEYS}, "production": prod.model_dump()},
        "savings": savings(ev.get("savings_measurements") or {}, c.optimizations),
    }
    bad = [k for k in _METER_KEYS if meter is not None and _num(meter.get(k)) is None]
    if bad:  # a meter that did not measure is no measurement: the cost checks see none
        section["breakdown"]["meter_error"] = f"meter fields not numbers: {', '.join(bad)}"
        meter = None
    if meter is not None:
        parts = observed_usd(prices, meter)
        section["total_usd"] = parts.pop("total_usd")
        section["breakdown"].update(parts)
        section["breakdown"]["usage"] = {k: meter.get(k) for k in ("sandboxes", "sandbox_seconds", "vcpu_seconds", "gib_seconds", "api_calls_total", "stored_bytes")}
        rates = per_sandbox_rates(meter)
        if rates is not None:
            section["projected_daily_usd"] = projected_daily_usd(prices, sandboxes=prod.sandboxes, hours_per_day=prod.hours_per_day, **rates)
            section["breakdown"]["per_sandbox"] = rates
        elapsed = _num(ev.get("elapsed_s")) or _num(evidence.get("duration_s"))
        if elapsed and elapsed > 0:
            section["projected_daily_observed_usd"] = forecast_daily_usd(section["total_usd"], elapsed, prod.hours_per_day)
            section["breakdown"]["elapsed_s"] = elapsed
        tasks = _num(ev.get("tasks"))
        if tasks and tasks > 0:
            section["per_1000_tasks_usd"] = section["total_usd"] / tasks * 1000.0
    return section
