"""Price tables: what a provider charges per unit of metered usage, and a usage priced with one.

Prices are data (`tradeswarm/prices/<name>.yaml`, or any YAML path). The sandbox service prices
its billed usage with them at `/metrics`, and the judge (`validation.cost`) prices a run's
meter; neither keeps a copy. Nothing here judges whether a figure is acceptable.

>>> round(observed_usd(price_table("e2b"), {"sandbox_seconds": 3600.0, "vcpu_seconds": 7200.0})["total_usd"], 4)
0.1008
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

__all__ = ["GIB", "PRICES_DIR", "PRICE_KEYS", "observed_usd", "price_table"]

PRICES_DIR = Path(__file__).parent / "prices"
PRICE_KEYS = ("vcpu_second_usd", "gib_second_usd", "sandbox_second_usd", "api_call_usd", "stored_gib_usd")
GIB = 1024.0 ** 3


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
    table = {k: float(raw.get(k, 0.0)) for k in PRICE_KEYS}
    table["name"] = str(raw.get("name", name))
    table["source"] = str(raw.get("source", ""))
    return table


def observed_usd(prices: dict, meter: dict) -> dict[str, float]:
    """Price a `CostMeter.snapshot()` (or `since()`); returns the total and its parts."""
    parts = {
        "vcpu_usd": float(meter.get("vcpu_seconds", 0.0)) * prices["vcpu_second_usd"],
        "memory_usd": float(meter.get("gib_seconds", 0.0)) * prices["gib_second_usd"],
        "sandbox_usd": float(meter.get("sandbox_seconds", 0.0)) * prices["sandbox_second_usd"],
        "api_calls_usd": float(meter.get("api_calls_total", 0)) * prices["api_call_usd"],
        "storage_usd": float(meter.get("stored_bytes", 0)) / GIB * prices["stored_gib_usd"],
    }
    parts["total_usd"] = sum(parts.values())
    return parts
