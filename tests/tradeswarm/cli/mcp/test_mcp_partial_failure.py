"""The MCP sandbox tools under partial failure: the behaviours the CLI has, by the same code
(`tradeswarm.sandbox.tracked`), through the server's own tool dispatch against a private sandboxd."""

from __future__ import annotations

import time

import anyio
import httpx
import pytest
from mcp.server.mcpserver.exceptions import ToolError

from tests.sandbox._servers import private_sandboxd
from tradeswarm.cli.mcp.server import build_server
from tradeswarm.settings import Settings


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(MCP server, state dir, SDK params) over a private sandboxd with its own state directory."""
    state = tmp_path_factory.mktemp("mcp-partial")
    with private_sandboxd(state, "--max-sandboxes", "5", "--create-rate", "0") as params:
        yield build_server(Settings(TRADESWARM_STATE_DIR=str(state))), state, params


def _created(params: dict) -> int:
    stats = httpx.get(f"{params['api_url']}/admin/stats", headers={"X-API-KEY": params["api_key"]}).json()
    return stats["counters"]["created"]


async def _call(mcp, tool: str, args: dict | None = None) -> dict:
    result = await mcp.call_tool(tool, args or {})
    assert not result.is_error, result
    return result.structured_content


async def _error(mcp, tool: str, args: dict) -> str:
    """The tool error's one line (in process the server raises what a client gets as `is_error`)."""
    with pytest.raises(ToolError) as e:
        await mcp.call_tool(tool, args)
    msg = str(e.value)
    assert "\n" not in msg and "Traceback" not in msg
    return msg


def test_a_corrupt_sandboxes_json_is_one_line_tool_error_before_creating(served):
    mcp, state, params = served

    async def main():
        (state / "sandboxes.json").write_text('{"i123": {"name": "x"')  # cut short, as a crash leaves it
        try:
            before = _created(params)
            assert "sandboxes.json is corrupt" in await _error(mcp, "create_e2b_sandbox", {"template": "base"})
            assert _created(params) == before  # nothing made, so nothing leaked
            assert "sandboxes.json is corrupt" in await _error(mcp, "list_e2b_sandboxes", {})
            assert "sandboxes.json is corrupt" in await _error(
                mcp, "run_e2b_agent", {"sandbox_id": "x", "agent_type": "momentum", "symbols": ["SPX"]})
        finally:
            (state / "sandboxes.json").write_text("{}")
        made = await _call(mcp, "create_e2b_sandbox", {"template": "base"})  # readable again: it works
        assert _created(params) == before + 1
        assert (await _call(mcp, "terminate_e2b_sandbox", {"sandbox_id": made["id"]}))["killed"] is True

    anyio.run(main)


def test_two_sandboxes_with_one_name_make_the_status_tool_say_ambiguous(served):
    mcp, _, _ = served

    async def main():
        name = f"twin-{time.monotonic_ns()}"
        ids = [(await _call(mcp, "create_e2b_sandbox", {"template": "base", "name": name}))["id"] for _ in range(2)]
        try:
            msg = await _error(mcp, "get_e2b_sandbox_status", {"sandbox_id": name})
            assert "ambiguous" in msg and all(i in msg for i in ids)
            await _call(mcp, "terminate_e2b_sandbox", {"sandbox_id": ids[0]})
            assert (await _call(mcp, "get_e2b_sandbox_status", {"sandbox_id": name}))["id"] == ids[1]
        finally:
            for i in ids:
                await _call(mcp, "terminate_e2b_sandbox", {"sandbox_id": i, "force": True})

    anyio.run(main)


def test_execute_returns_when_the_command_exits_though_a_background_job_holds_the_output(served):
    mcp, _, _ = served

    async def main():
        sid = (await _call(mcp, "create_e2b_sandbox", {"template": "base"}))["id"]
        try:
            t0 = time.monotonic()
            done = await _call(mcp, "execute_e2b_process", {"sandbox_id": sid, "command": "sleep 20 & echo ok",
                                                           "timeout": 15})
            assert done["exit_code"] == 0 and done["stdout"] == "ok\n" and time.monotonic() - t0 < 10
            late = await _error(mcp, "execute_e2b_process", {"sandbox_id": sid, "command": "sleep 5; echo late",
                                                             "timeout": 1})
            assert "timed out after 1s" in late  # a real timeout still is one
        finally:
            await _call(mcp, "terminate_e2b_sandbox", {"sandbox_id": sid, "force": True})

    anyio.run(main)
