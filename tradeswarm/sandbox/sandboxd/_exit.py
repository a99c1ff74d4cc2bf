"""A process's exit status the moment it exits, not once its pipes close.

On Python < 3.12, `asyncio.subprocess.Process.wait()` returns only after every pipe of the
process is closed: `sleep 20 & echo ok` exits at once, but the backgrounded `sleep` keeps
stdout open, so the caller waited 20 s (or to its timeout). The transport learns the exit from
the child watcher first and tells the protocol (`process_exited`); we listen there.
"""

from __future__ import annotations

import asyncio


async def exit_code(proc: asyncio.subprocess.Process) -> int:
    """Wait for `proc` to exit (its pipes may stay open) and return its return code."""
    if proc.returncode is not None:
        return proc.returncode
    protocol = getattr(proc, "_protocol", None)  # asyncio's SubprocessStreamProtocol: the only exit hook there is
    if protocol is None:  # a command of an isolated sandbox: its init reports the exit itself
        return await proc.wait()
    exited = asyncio.get_running_loop().create_future()
    notify = protocol.process_exited

    def process_exited() -> None:
        notify()
        if not exited.done():
            exited.set_result(None)

    protocol.process_exited = process_exited  # looked up when the exit is dispatched
    waiter = asyncio.ensure_future(proc.wait())  # still the answer where wait() is prompt (3.12+)
    try:
        await asyncio.wait([exited, waiter], return_when=asyncio.FIRST_COMPLETED)
    finally:
        if not waiter.done():
            waiter.cancel()
    return proc.returncode
