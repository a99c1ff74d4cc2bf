"""A smoke certification driven through MCP: progress per stage, then the run as tools and resources."""

from __future__ import annotations

import json

import anyio
import pytest

from tradeswarm.cli.mcp.probe import call, server_params, stdio_session

pytestmark = pytest.mark.slow


def test_a_smoke_certification_over_mcp_reports_each_stage_and_is_readable_afterwards(sandboxd, prefect_api, tmp_path):
    runs = tmp_path / "runs"
    params = server_params(["-m", "tradeswarm", "mcp", "--runs-dir", str(runs)])
    notes: list[tuple[float, float | None, str | None]] = []

    async def progress(done: float, total: float | None, message: str | None) -> None:
        notes.append((done, total, message))

    async def main():
        async with stdio_session(params) as s:
            assert (await call(s, "list_certifications"))["runs"] == []
            out = await call(s, "run_certification", {"profile": "smoke"}, progress_callback=progress)
            rid = out["run_id"]
            assert out["verdict"] in ("CERTIFIED", "CONDITIONAL", "NOT_CERTIFIED")
            ids = {c["id"]: c["status"] for c in out["checks"]}
            # the run certified the MCP layer too, with a server of its own
            assert ids["func.mcp.tools"] == "pass" and ids["func.mcp.lifecycle"] == "pass"
            assert ids["perf.mcp_call.p95"] in ("pass", "fail")
            assert [r["run_id"] for r in (await call(s, "list_certifications"))["runs"]] == [rid]
            got = await call(s, "get_certification", {"run_id": rid})
            assert got["verdict"] == out["verdict"] and got["readiness_score"] == out["readiness_score"]
            report = (await s.read_resource(out["report"])).contents[0].text
            results = json.loads((await s.read_resource(out["results"])).contents[0].text)
            assert results["run_id"] == rid and out["verdict"] in report
            assert results["mcp"]["lifecycles_ok"] == results["mcp"]["lifecycles"]
            return results

    results = anyio.run(main)
    stages = list(results["stages"])
    ends = [(d, t, m) for d, t, m in notes if float(d).is_integer()]
    assert [d for d, _, _ in notes] == sorted(d for d, _, _ in notes)  # progress only grows
    assert len(ends) == len(results["stages"]) and {t for _, t, _ in notes} == {7.0}
    for (d, _, m), name in zip(ends, stages):
        assert m.startswith(f"[{int(d)}/7] {name} ")
