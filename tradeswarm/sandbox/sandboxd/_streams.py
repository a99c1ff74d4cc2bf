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
import socket
import struct


class StreamGuard:
    """Per request: set `aborted` and the response's last message is never sent."""

    def __init__(self) -> None:
        self.aborted = False

    def wrap(self, send):
        async def guarded(message) -> None:
            if self.aborted and message.get("type", "").startswith("http.response") and not message.get("more_body"):
                _reset_on_close(send)
                raise ConnectionAbortedError("sandbox gone: the stream is dropped, as E2B's edge drops it")
            await send(message)

        return guarded


def _reset_on_close(send) -> None:
    """Make the connection's close a TCP reset: E2B's edge resets the stream, and older SDKs
    (2.45) take only a reset, not an early EOF, for "the connection dropped". Best effort: the
    socket is found through uvicorn's request cycle (`send.__self__.transport`)."""
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass


current: contextvars.ContextVar[StreamGuard | None] = contextvars.ContextVar("sandboxd_stream_guard", default=None)


def abort_current_stream() -> None:
    """Mark the stream being served by this task for dropping (no-op outside a request)."""
    guard = current.get()
    if guard is not None:
        guard.aborted = True
