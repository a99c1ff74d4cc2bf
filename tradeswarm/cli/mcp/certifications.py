"""The certification behind the MCP tools: a run with progress notifications, and the runs on record.

A run is the CLI's (`flows.certify.certification`) in a worker thread with its own event loop,
as `tradeswarm certify` runs it; its stage events (`tradeswarm.progress`) come back to the
MCP request as progress notifications: `progress` counts stages (a stage's start at `i - 0.5`,
its end at `i`, of `total` stages), `message` says which stage and how it ended.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from mcp.server.mcpserver import Context

REPO = Path(__file__).resolve().parents[3]
RUNS_ROOT = REPO / "reports" / "runs"  # flows.certify.RUNS_ROOT, without importing Prefect here
_one_at_a_time = threading.Lock()  # the progress sink is process-wide: one certification at a time


def _message(event: str, d: dict) -> str:
    if event == "stage_start":
        return f"[{d['index']}/{d['total']}] {d['name']} started"
    detail = f" — {d['detail']}" if d.get("detail") else ""
    return f"[{d['index']}/{d['total']}] {d['name']} {'done' if d['ok'] else 'FAILED'} in {d['seconds']:.1f} s{detail}"


def _certify_blocking(profile: str, out: str | None, sink) -> dict:
    from tradeswarm import progress
    from tradeswarm.cli.certify import quiet_prefect

    quiet_prefect()
    from flows.certify import certify

    with _one_at_a_time:
        previous = progress.set_sink(sink)
        try:
            return certify(profile=profile, out=out)
        finally:
            progress.set_sink(previous)


async def run(ctx: Context, profile: str, runs: Path) -> dict:
    """Certify under `profile`, reporting each stage to the client; the run's summary."""
    import anyio

    loop = asyncio.get_running_loop()
    events: asyncio.Queue = asyncio.Queue()

    def sink(event: str, data: dict) -> None:  # called from the flow's threads
        if event in ("stage_start", "stage_end"):
            loop.call_soon_threadsafe(events.put_nowait, (event, dict(data)))

    async def forward() -> None:
        while (item := await events.get()) is not None:
            event, d = item
            done = d["index"] - (0.5 if event == "stage_start" else 0.0)
            await ctx.report_progress(done, d["total"], _message(event, d))

    out = None
    if runs != RUNS_ROOT:  # a runs root of the caller's: the run directory is named here
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        out = str(runs / f"{stamp}-{profile}-mcp-{secrets.token_hex(3)}")
    async with anyio.create_task_group() as tg:
        tg.start_soon(forward)
        try:
            results = await anyio.to_thread.run_sync(_certify_blocking, profile, out, sink)
        finally:  # after the run's own events (queued before the thread returned): forwarder ends
            events.put_nowait(None)
    return summary(results)


def run_dir(runs: Path, run_id: str) -> Path:
    """The directory of run `run_id` under `runs` (its name, or the run id in its results.json)."""
    direct = runs / run_id
    if run_id not in (".", "..") and (direct / "results.json").is_file():
        return direct
    for entry in listed(runs):
        if entry.get("run_id") == run_id:
            return runs / entry["dir"]
    raise LookupError(f"no certification run {run_id!r} (see list_certifications)")


def load(runs: Path, run_id: str) -> dict:
    return json.loads((run_dir(runs, run_id) / "results.json").read_text(encoding="utf-8"))


def listed(runs: Path) -> list[dict]:
    from reports.index import collect_runs

    if not runs.is_dir():
        return []
    return [{k: v for k, v in r.items() if k != "spec"} for r in collect_runs(runs)]


def summary(results: dict) -> dict[str, Any]:
    """What an assistant needs of a run; the whole of it is the results.json resource."""
    rid = results.get("run_id")
    checks = results.get("checks") or []
    return {
        "run_id": rid, "profile": results.get("profile"), "provider": results.get("provider"),
        "verdict": results.get("verdict"), "readiness_score": results.get("readiness_score"),
        "duration_s": results.get("duration_s"), "categories": results.get("categories"),
        "failed_checks": [c["id"] for c in checks if c.get("status") not in ("pass", "waived", "warn")],
        "checks": [{k: c.get(k) for k in ("id", "status", "observed", "threshold", "unit")} for c in checks],
        "stages": results.get("stages"), "errors": results.get("errors"),
        "report": f"tradeswarm://runs/{rid}/report.md", "results": f"tradeswarm://runs/{rid}/results.json",
    }
