"""The MCP layer under certification: its server started as an assistant starts it, used as one uses it.

`probe` starts `tradeswarm mcp` (stdio, a subprocess with the run's provider settings), lists
its tools, and runs `cycles` sandbox lifecycles through the SDK's real client (create, exec,
status, list, terminate), each call timed as an `mcp_call` sample. The evidence (`mcp` in
results.json, docs/contracts.md):

- `tools`, `missing_tools`: what the server lists, and which expected tool it lacks;
- `lifecycles`, `lifecycles_ok`, `lifecycle_ok`: cycles tried, cycles that answered right, all of them;
- `errors`: the first failures, one line each; `leaked`: probe sandboxes still alive afterwards
  (killed here, and a failed lifecycle), `server_start_ms`: start to initialized session.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

CYCLES = 4  # 4 x 5 calls: the 20 samples a P95 needs (tradeswarm.stress.stats.min_samples)


def _server_env(settings: Any) -> dict[str, str]:
    """The run's provider for the server: its state dir, and an E2B key only when the run uses E2B."""
    key = settings.e2b_api_key.get_secret_value() if settings.e2b_api_key is not None else ""
    return {"TRADESWARM_STATE_DIR": str(settings.state_dir), "E2B_API_KEY": key}


def _sweep(settings: Any, prefix: str) -> int:
    """Kill the probe's sandboxes still alive (by their name prefix); how many there were."""
    from tradeswarm.sandbox import tracked

    left = [r["id"] for r in tracked.listed(settings) if str(r.get("name") or "").startswith(prefix)]
    for sid in left:
        tracked.destroy(settings, sid, force=True)
    return len(left)


async def run_probe(settings: Any, recorder: Any = None, *, cycles: int = CYCLES, server_args: list[str] | None = None,
                    expected: tuple[str, ...] | None = None) -> dict:
    """The probe without Prefect (tests call it with `server_args` naming another server)."""
    from tradeswarm.cli.mcp import TOOL_NAMES
    from tradeswarm.cli.mcp.probe import lifecycle, server_params, stdio_session

    expected = expected or TOOL_NAMES
    prefix = f"mcp-probe-{secrets.token_hex(3)}"
    out: dict = {"tools": [], "missing_tools": list(expected), "lifecycles": cycles, "lifecycles_ok": 0,
                 "lifecycle_ok": False, "errors": [], "leaked": None, "server_start_ms": None}
    samples: list[float] = []
    t0 = time.perf_counter()
    try:
        async with stdio_session(server_params(server_args, _server_env(settings))) as session:
            out["server_start_ms"] = round((time.perf_counter() - t0) * 1000.0, 1)
            out["tools"] = sorted(t.name for t in (await session.list_tools()).tools)
            out["missing_tools"] = [t for t in expected if t not in out["tools"]]
            for i in range(cycles):
                try:
                    await lifecycle(session, name=f"{prefix}-{i}", samples=samples)
                    out["lifecycles_ok"] += 1
                except Exception as e:  # noqa: BLE001 - a wrong answer is the finding
                    out["errors"].append(f"cycle {i}: {type(e).__name__}: {' '.join(str(e).split())[:200]}")
    except Exception as e:  # noqa: BLE001 - the server did not start or broke the session
        out["errors"].append(f"server: {type(e).__name__}: {' '.join(str(e).split())[:200]}")
    finally:
        if recorder is not None:
            for ms in samples:
                recorder.record("mcp_call", ms)
        try:
            out["leaked"] = await asyncio.to_thread(_sweep, settings, prefix)
        except Exception as e:  # noqa: BLE001
            out["errors"].append(f"sweep: {type(e).__name__}: {e}")
    out["calls"] = len(samples)
    out["lifecycle_ok"] = out["lifecycles_ok"] == cycles and not out["missing_tools"] and out["leaked"] == 0
    return out


@task(name="mcp-probe", cache_policy=NO_CACHE)
async def probe(settings: Any, recorder: Any = None, cycles: int = CYCLES) -> dict:
    """Start the MCP server, list its tools, run sandbox lifecycles through a real MCP client."""
    return await run_probe(settings, recorder, cycles=cycles)
