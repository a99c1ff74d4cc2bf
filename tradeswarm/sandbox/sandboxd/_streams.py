"""Dropping a response stream mid-way, as E2B's edge does when the sandbox behind it dies.

A process's output stream whose sandbox was killed (or expired) must not end with an ordinary
exit event: E2B's client sees the connection drop, asks envd's `/health` (502: gone) and raises
`TimeoutException("... sandbox was killed or reached its end of life ...")`. connectrpc ends
every stream it serves cleanly, so the app wraps `send` and refuses the final message of a
stream marked here: uvicorn then closes the connection with the chunked body unfinished.

>>> guard = StreamGuard()
>>> guard.aborted
False
"""

from __future__ import annotations

import contextvars


class StreamGuard:
    """Per request: set `aborted` and the response's last message is never sent."""

    def __init__(self) -> None:
        self.aborted = False

    def wrap(self, send):
        async def guarded(message) -> None:
            if self.aborted and message.get("type", "").startswith("http.response") and not message.get("more_body"):
                raise ConnectionAbortedError("sandbox gone: the stream is dropped, as E2B's edge drops it")
            await send(message)

        return guarded


current: contextvars.ContextVar[StreamGuard | None] = contextvars.ContextVar("sandboxd_stream_guard", default=None)


def abort_current_stream() -> None:
    """Mark the stream being served by this task for dropping (no-op outside a request)."""
    guard = current.get()
    if guard is not None:
        guard.aborted = True
