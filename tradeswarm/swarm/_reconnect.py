"""Reaching agents a previous process started: connect to their sandbox and process by id.

The sandbox layer has no public "connect" yet, so this uses its handle classes with the SDK's
`AsyncSandbox.connect` and `commands.connect(pid)` (which streams the process's output from
now on; stdin goes through `send_stdin(pid)` as for any background process).
"""

from __future__ import annotations

from typing import Any, Callable

from e2b import AsyncSandbox

from tradeswarm.sandbox import BackgroundProcess, Sandbox


async def connect_sandbox(mgr: Any, sandbox_id: str, timeout_s: int | None = None) -> Sandbox:
    """A `Sandbox` handle for a running sandbox (extending its lifetime by `timeout_s`)."""
    if hasattr(mgr, "connect"):
        return await mgr.connect(sandbox_id)
    params = await mgr._connect()
    kwargs = {"timeout": timeout_s} if timeout_s else {}
    sdk = await AsyncSandbox.connect(sandbox_id, **kwargs, **params)
    return Sandbox(mgr, sdk, "trading", None)


async def connect_process(sb: Sandbox, pid: int, on_stdout: Callable[[str], Any],
                          on_stderr: Callable[[str], Any]) -> BackgroundProcess:
    """Follow a running background process's output and write to its stdin."""
    handle = await sb._sdk.commands.connect(pid, timeout=0, on_stdout=on_stdout, on_stderr=on_stderr,
                                              retain_output=False)
    return BackgroundProcess(sb, handle)


async def disconnect_process(proc: Any) -> None:
    """Stop following a process without stopping it."""
    handle = getattr(proc, "_handle", None)
    if handle is not None:
        await handle.disconnect()
