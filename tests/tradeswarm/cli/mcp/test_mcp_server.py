"""The MCP server through the SDK's real client (`ClientSession`) over stdio and streamable HTTP,
against the session's sandboxd: the same sandboxes the CLI sees."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time

import anyio
import httpx
import jsonschema
import pytest

from tradeswarm.agents.strategies import STRATEGIES
from tradeswarm.cli.mcp import TOOL_NAMES
from tradeswarm.cli.mcp.probe import call, http_session, lifecycle, stdio_session


def _cli_json(*args: str) -> dict:
    p = subprocess.run([sys.executable, "-m", "tradeswarm", *args, "--json"], capture_output=True, text=True,
                       timeout=120, env=dict(os.environ))
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


async def _error(session, tool: str, args: dict) -> str:
    result = await session.call_tool(tool, args)
    assert result.is_error, f"{tool}({args}) should have failed: {result.structured_content}"
    return " ".join(c.text for c in result.content)


def test_over_stdio_every_tool_answers_with_honest_schemas_and_clear_errors(sandboxd):
    async def main():
        async with stdio_session() as s:
            tools = {t.name: t for t in (await s.list_tools()).tools}
            assert set(tools) == set(TOOL_NAMES)
            for t in tools.values():  # every schema is a valid JSON Schema, and says what it takes
                jsonschema.Draft202012Validator.check_schema(t.input_schema)
                jsonschema.Draft202012Validator.check_schema(t.output_schema)
                assert t.description
            props = {n: tools[n].input_schema["properties"] for n in tools}
            assert props["create_e2b_sandbox"]["template"]["enum"] == ["trading", "base"]
            assert props["run_e2b_agent"]["agent_type"]["enum"] == list(STRATEGIES)
            assert props["run_certification"]["profile"]["enum"] == ["smoke", "standard", "nightly"]
            assert props["execute_e2b_process"]["timeout"]["maximum"] == 600
            assert tools["execute_e2b_process"].input_schema["required"] == ["sandbox_id", "command"]

            # a whole lifecycle, then the CLI sees what the MCP session made (same state)
            await lifecycle(s, name="mcp-life")
            made = await call(s, "create_e2b_sandbox", {"name": "mcp-kept", "template": "trading"})
            listed = _cli_json("list")["sandboxes"]
            assert {r["id"]: r["name"] for r in listed}.get(made["id"]) == "mcp-kept"
            st = await call(s, "get_e2b_sandbox_status", {"sandbox_id": "mcp-kept"})  # by name, as the CLI
            assert st["id"] == made["id"] and st["metadata"]["tradeswarm_origin"] == "mcp"
            jsonschema.validate(st, tools["get_e2b_sandbox_status"].output_schema)  # results match their schema
            jsonschema.validate(await call(s, "list_e2b_sandboxes"), tools["list_e2b_sandboxes"].output_schema)
            only_paused = await call(s, "list_e2b_sandboxes", {"status": "paused"})
            assert made["id"] not in {r["id"] for r in only_paused["sandboxes"]}
            failed = await call(s, "execute_e2b_process", {"sandbox_id": made["id"], "command": "exit 3"})
            assert failed["exit_code"] == 3  # a command's failure is a result, not a tool error

            # an agent in that sandbox, by the swarm's deploy: the CLI's registry lists it
            agent = (await call(s, "run_e2b_agent", {"sandbox_id": made["id"], "agent_type": "momentum",
                                                     "symbols": ["SPX"], "strategy_params": {}}))["agent"]
            assert agent["state"] == "ready" and agent["sandbox_id"] == made["id"]
            assert agent["agent_id"] in {a["agent_id"] for a in _cli_json("agents")["agents"]}
            bad_params = await _error(s, "run_e2b_agent", {"sandbox_id": made["id"], "agent_type": "momentum",
                                                          "symbols": ["SPX"], "strategy_params": {"lookback": -5}})
            assert "invalid params for momentum" in bad_params

            # a backtest, as `tradeswarm backtest --json`
            bt = await call(s, "run_backtest", {"strategy": "momentum", "symbols": ["SPX"],
                                                "start": "2016-01-04", "end": "2017-12-29"})
            assert bt["failed"] is False and bt["backtests"][0]["symbol"] == "SPX"
            assert bt["backtests"][0]["crosscheck"]["agree"] is True
            assert "no data source for NOPE" in await _error(s, "run_backtest", {
                "strategy": "momentum", "symbols": ["NOPE"], "start": "2016-01-04"})

            # certifications on record: none in this state, and an unknown run is a clear error
            assert "no certification run 'nope'" in await _error(s, "get_certification", {"run_id": "nope"})

            # bad arguments are refused by the schema, before the tool runs
            assert "Input should be 'trading' or 'base'" in await _error(
                s, "create_e2b_sandbox", {"template": "windows"})
            assert "less than or equal to 600" in await _error(
                s, "execute_e2b_process", {"sandbox_id": made["id"], "command": "true", "timeout": 3600})
            assert "agent_type" in await _error(s, "run_e2b_agent", {"sandbox_id": made["id"], "agent_type": "gpt",
                                                                   "symbols": ["SPX"]})
            # a missing sandbox: one line naming it
            for tool in ("get_e2b_sandbox_status", "terminate_e2b_sandbox"):
                msg = await _error(s, tool, {"sandbox_id": "sbx-missing"})
                assert msg.endswith("not found: sandbox 'sbx-missing'") and "\n" not in msg
            assert (await call(s, "terminate_e2b_sandbox", {"sandbox_id": made["id"]}))["killed"] is True
            assert "not found" in await _error(s, "execute_e2b_process", {"sandbox_id": made["id"], "command": "true"})
        assert made["id"] not in {r["id"] for r in _cli_json("list", "--all")["sandboxes"]}

    anyio.run(main)


@pytest.fixture
def http_server(sandboxd, tmp_path):
    """`tradeswarm mcp --http --port 0` in a subprocess; yields (url, token file)."""
    proc = subprocess.Popen([sys.executable, "-m", "tradeswarm", "mcp", "--http", "--port", "0"],
                            stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    try:
        line = ""
        deadline = time.monotonic() + 120
        while "serving" not in line and time.monotonic() < deadline and proc.poll() is None:
            line = proc.stderr.readline()
        m = re.search(r"serving (http://\S+) \(bearer token in (\S+)\)", line)
        assert m, f"no serving line: {line!r}"
        yield m.group(1), m.group(2), line
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_over_http_the_bearer_token_is_required_and_a_lifecycle_runs(http_server):
    url, token_file, line = http_server
    token = open(token_file).read().strip()
    assert url.startswith("http://127.0.0.1:") and token not in line  # loopback; the log names the file only
    assert oct(os.stat(token_file).st_mode & 0o777) == "0o600"
    for headers, why in (({}, "missing bearer token"), ({"Authorization": "Bearer wrong"}, "invalid bearer token"),
                         ({"Authorization": token}, "invalid bearer token")):
        r = httpx.post(url, headers={**headers, "Accept": "application/json, text/event-stream"},
                       json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, timeout=30)
        assert r.status_code == 401 and why in r.json()["error"]

    async def main():
        with pytest.raises(BaseException):  # the SDK's client, with a wrong token, gets nowhere
            with anyio.fail_after(60):
                async with http_session(url, "wrong"):
                    pass
        async with http_session(url, token) as s:
            assert {t.name for t in (await s.list_tools()).tools} == set(TOOL_NAMES)
            samples: list[float] = []
            await lifecycle(s, name="mcp-http", samples=samples)
            assert len(samples) == 5 and all(x > 0 for x in samples)
            assert "not found" in await _error(s, "get_e2b_sandbox_status", {"sandbox_id": "sbx-missing"})

    anyio.run(main)
