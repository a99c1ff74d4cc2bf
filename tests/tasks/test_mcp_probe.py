"""The certification's MCP probe (tasks/mcp.py) against the real server, and against one that lacks a tool."""

from __future__ import annotations

import asyncio

from tasks.mcp import run_probe
from tradeswarm.latency import LatencyRecorder
from validation import load_spec
from validation.checks import Loaded, functionality_checks, sla_checks
from tradeswarm.stress import summarize

_WITHOUT_TERMINATE = ("from tradeswarm.cli.mcp import build_server; s = build_server(); "
                      "s.remove_tool('terminate_e2b_sandbox'); s.run('stdio')")


def _judged(ev: dict, samples: list[float]) -> dict:
    spec = load_spec("smoke")
    ev = {**ev, "latency": {"mcp_call": summarize(samples)}} if samples else ev
    loaded = Loaded.of(ev)
    checks = functionality_checks(spec, loaded) + sla_checks(spec, loaded)
    return {c.id: c.status for c in checks if "mcp" in c.id}


def test_the_probe_passes_a_whole_server_and_fails_one_missing_a_tool(sandboxd):
    good_rec, bad_rec = LatencyRecorder(), LatencyRecorder()

    async def both():
        return await asyncio.gather(
            run_probe(sandboxd.settings, good_rec),
            run_probe(sandboxd.settings, bad_rec, server_args=["-c", _WITHOUT_TERMINATE]))

    good, bad = asyncio.run(both())
    good_samples = good_rec.snapshot()["mcp_call"]
    assert good["lifecycle_ok"] is True and good["lifecycles_ok"] == 4 and good["leaked"] == 0, good
    assert good["missing_tools"] == [] and len(good_samples) == 20
    assert _judged({"mcp": good}, good_samples) == {
        "func.mcp.tools": "pass", "func.mcp.lifecycle": "pass", "perf.mcp_call.p95": "pass"}

    assert bad["missing_tools"] == ["terminate_e2b_sandbox"] and bad["lifecycles_ok"] == 0
    assert bad["leaked"] == 4  # every cycle's sandbox outlived it; the probe killed them afterwards
    assert bad["lifecycle_ok"] is False and "terminate_e2b_sandbox" in bad["errors"][0]
    assert _judged({"mcp": bad}, bad_rec.snapshot().get("mcp_call", []))["func.mcp.tools"] == "fail"
    assert _judged({"mcp": bad}, [])["func.mcp.lifecycle"] == "fail"


def test_a_server_that_does_not_start_is_a_failed_probe_not_a_crash(sandboxd):
    out = asyncio.run(run_probe(sandboxd.settings, server_args=["-c", "raise SystemExit(3)"]))
    assert out["lifecycle_ok"] is False and out["tools"] == [] and out["errors"][0].startswith("server:")
    assert _judged({"mcp": out}, []) == {"func.mcp.tools": "nodata", "func.mcp.lifecycle": "fail",
                                        "perf.mcp_call.p95": "nodata"}
