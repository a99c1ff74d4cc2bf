"""The MCP server seen from outside: the SDK's real client over stdio or HTTP, and a timed lifecycle.

The certification (`tasks/mcp.py`), the benchmark (`bench/mcp.py`) and the tests use these:

```python
async with stdio_session() as session:       # `python -m tradeswarm mcp`, a subprocess
    sb = await call(session, "create_e2b_sandbox", {"template": "base"})
    out = await lifecycle(session, name="probe-1")   # create, exec, status, list, terminate
```
"""

from __future__ import annotations

import os
import sys
import time
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator

from mcp import ClientSession, StdioServerParameters, stdio_client

#: The lifecycle's calls, in order: each is timed as one `mcp_call` sample.
LIFECYCLE = ("create_e2b_sandbox", "execute_e2b_process", "get_e2b_sandbox_status", "list_e2b_sandboxes",
             "terminate_e2b_sandbox")


class ToolCallError(RuntimeError):
    """A tool answered with `is_error`; the message is the tool's."""


def server_params(args: list[str] | None = None, env: dict[str, str] | None = None) -> StdioServerParameters:
    """`python -m tradeswarm mcp` (or `args` after the interpreter) with this environment: the
    SDK passes a subprocess only a few variables of its own, and the server needs the state dir
    and the provider's settings."""
    return StdioServerParameters(command=sys.executable, args=args or ["-m", "tradeswarm", "mcp"],
                                 env={**os.environ, **(env or {})})


@asynccontextmanager
async def stdio_session(params: StdioServerParameters | None = None, errlog: Any = None) -> AsyncIterator[ClientSession]:
    """An initialized client session with a server subprocess (ended with the block)."""
    async with stdio_client(params or server_params(), errlog=errlog or sys.stderr) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            yield session


@asynccontextmanager
async def http_session(url: str, token: str | None) -> AsyncIterator[ClientSession]:
    """An initialized client session over streamable HTTP, sending `token` as the bearer."""
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared._httpx_utils import create_mcp_http_client

    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    async with create_mcp_http_client(headers=headers) as http:
        async with streamable_http_client(url, http_client=http) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                yield session


def _text(result: Any) -> str:
    return " ".join(getattr(c, "text", "") for c in result.content).strip()


async def call(session: ClientSession, tool: str, arguments: dict | None = None, **kwargs: Any) -> dict:
    """Call `tool`; its structured result, or `ToolCallError` with the tool's message."""
    result = await session.call_tool(tool, arguments or {}, **kwargs)
    if result.is_error:
        raise ToolCallError(_text(result) or f"{tool} failed")
    return result.structured_content


async def lifecycle(session: ClientSession, *, name: str, template: str = "base",
                    samples: list[float] | None = None) -> dict:
    """Create a sandbox, run a command, read its status, find it in the list, terminate it;
    each call timed into `samples` (ms). Raises `ToolCallError`/`AssertionError` on a wrong answer."""
    async def timed(tool: str, args: dict) -> dict:
        t0 = time.perf_counter()
        try:
            return await call(session, tool, args)
        finally:
            if samples is not None:
                samples.append((time.perf_counter() - t0) * 1000.0)

    made = await timed("create_e2b_sandbox", {"name": name, "template": template})
    sid = made["id"]
    try:
        ran = await timed("execute_e2b_process", {"sandbox_id": sid, "command": f"echo {name}", "timeout": 30})
        assert ran["exit_code"] == 0 and ran["stdout"].strip() == name, f"exec answered {ran!r}"
        st = await timed("get_e2b_sandbox_status", {"sandbox_id": sid})
        assert st["id"] == sid and st["state"] == "running", f"status answered {st!r}"
        listed = await timed("list_e2b_sandboxes", {})
        assert sid in {s["id"] for s in listed["sandboxes"]}, "the new sandbox is not listed"
    except BaseException:
        await call(session, "terminate_e2b_sandbox", {"sandbox_id": sid, "force": True})
        raise
    gone = await timed("terminate_e2b_sandbox", {"sandbox_id": sid})
    assert gone["killed"] is True, f"terminate answered {gone!r}"
    return {"id": sid}
