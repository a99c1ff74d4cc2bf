"""Sandbox capacity planned before a run creates anything: what it needs against what it may have.

A certification holds, at its peak, the pool, plus either the provision stage's lifecycle
probes or the swarm (its agents, the one a create fault's scale-up adds,
and on Dask every shard's sub-swarm). `plan` counts that from the spec; `ensure` compares it
with the provider's cap and either makes room or refuses in one line:

- local sandboxd: none running for the state dir → the run starts it with
  `--max-sandboxes` = the plan's peak (at least the default 10); one running → its cap
  minus the sandboxes already alive must hold the peak, else `CapacityError` saying how to
  restart it (`tradeswarm sandboxd serve --max-sandboxes N`);
- E2B: the account's concurrent-sandbox limit, 20 on Hobby and 100 on Pro
  (`TRADESWARM_E2B_PLAN=hobby|pro`, or a number in `TRADESWARM_E2B_MAX_SANDBOXES`).

>>> from validation.spec import load_spec
>>> p = plan(load_spec("nightly"), shards=2)
>>> p["peak"] == p["pool"] + max(p["probes"], p["agents"] + p["scale_up"] + p["shard_agents"])
True
"""

from __future__ import annotations

import os
from typing import Any

E2B_PLAN_CONCURRENCY = {"hobby": 20, "pro": 100}
SANDBOXD_DEFAULT_CAP = 10  # sandboxd's own default (`tradeswarm sandboxd serve --max-sandboxes`)


class CapacityError(RuntimeError):
    """The run's sandboxes cannot fit under the provider's cap (one line: what, and what to do)."""


def shard_agents(spec: Any) -> int:
    """Agents of one Dask shard's sub-swarm: the spec's strategy agents split over the shards."""
    agents = sum(a.count for a in spec.agents if a.type != "risk_manager")
    return max(1, agents // spec.stress.shards)


def plan(spec: Any, *, shards: int = 0) -> dict[str, int]:
    """Sandboxes the run needs at once, by kind; `shards` > 0 when the stress test runs on Dask."""
    faults = spec.stress.faults
    probes = min(spec.sandboxes.max_concurrent, max(spec.sandboxes.lifecycle_cycles, spec.sandboxes.count))
    out = {"pool": spec.sandboxes.pool_size, "probes": probes,
           "agents": sum(a.count for a in spec.agents),
           # the one agent a create fault's scale-up adds (a killed agent's replacement comes
           # after its sandbox is gone, so it adds none)
           "scale_up": int(faults.create_failures > 0 or faults.rate_limit_s > 0),
           "shard_agents": shards * shard_agents(spec) if shards else 0}
    out["peak"] = out["pool"] + max(out["probes"], out["agents"] + out["scale_up"] + out["shard_agents"])
    return out


def describe(p: dict[str, int]) -> str:
    """The plan in words.

    >>> describe({"pool": 0, "probes": 10, "agents": 8, "scale_up": 1, "shard_agents": 6, "peak": 15})
    '15 sandboxes at once (8 agents + 1 scale-up + 6 shard agents; probes 10, pool 0)'
    """
    return (f"{p['peak']} sandboxes at once ({p['agents']} agents + {p['scale_up']} scale-up"
            f" + {p['shard_agents']} shard agents; probes {p['probes']}, pool {p['pool']})")


def e2b_cap() -> int:
    """The E2B account's concurrent sandboxes: TRADESWARM_E2B_MAX_SANDBOXES, else the plan's."""
    raw = os.environ.get("TRADESWARM_E2B_MAX_SANDBOXES")
    if raw:
        return int(raw)
    name = os.environ.get("TRADESWARM_E2B_PLAN", "hobby").lower()
    if name not in E2B_PLAN_CONCURRENCY:
        raise CapacityError(f"TRADESWARM_E2B_PLAN={name!r}: choose from {', '.join(E2B_PLAN_CONCURRENCY)}")
    return E2B_PLAN_CONCURRENCY[name]


def _sandboxd_stats(settings: Any) -> dict | None:
    """The running sandboxd's `{max_sandboxes, sandboxes}`, or None when none runs."""
    import httpx

    from tradeswarm.sandbox.sandboxd import daemon

    ep = daemon.running(settings.state_dir)
    if ep is None:
        return None
    r = httpx.get(f"{ep.url}/admin/stats", headers={"X-API-KEY": ep.token}, timeout=5)
    r.raise_for_status()
    return r.json()


def ensure(spec: Any, settings: Any, *, shards: int = 0) -> dict:
    """Make room for `plan(spec)` or raise `CapacityError`, before any sandbox exists.

    Returns the plan with `cap` (and `started`: True when this call started the sandboxd).
    """
    p = plan(spec, shards=shards)
    if settings.provider == "e2b":
        cap = e2b_cap()
        if p["peak"] > cap:
            raise CapacityError(f"the run needs {describe(p)}; the E2B account allows {cap} "
                                f"(TRADESWARM_E2B_PLAN=pro or TRADESWARM_E2B_MAX_SANDBOXES to change it)")
        return {**p, "cap": cap, "started": False}
    stats = _sandboxd_stats(settings)
    if stats is None:  # the embedded default: this run starts it, with room for its plan
        from tradeswarm.sandbox.sandboxd import daemon

        cap = max(SANDBOXD_DEFAULT_CAP, p["peak"])
        daemon.start(settings.state_dir, extra_args=["--max-sandboxes", str(cap)])
        return {**p, "cap": cap, "started": True}
    free = stats["max_sandboxes"] - stats["sandboxes"]
    if p["peak"] > free:
        raise CapacityError(
            f"the run needs {describe(p)}; the sandboxd for {settings.state_dir} allows "
            f"{stats['max_sandboxes']} ({stats['sandboxes']} running): restart it with "
            f"`tradeswarm sandboxd serve --max-sandboxes {p['peak'] + stats['sandboxes']}`")
    return {**p, "cap": stats["max_sandboxes"], "started": False}
