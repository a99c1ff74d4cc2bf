"""Pseudo-terminals for `pty.create`: a real tty the process owns as its controlling terminal.

`open_pty(rows, cols)` gives the master and slave ends, sized; the command's stdin, stdout
and stderr are the slave (`stdio`), `controlling_tty` (run in the child after setsid) makes it
the session's terminal, so job control, `tput cols` and SIGWINCH work as in E2B's envd.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import pty
import struct
import termios
from typing import Callable


def open_pty(rows: int, cols: int) -> tuple[int, int]:
    master, slave = pty.openpty()
    resize(master, rows, cols)
    os.set_blocking(master, False)
    return master, slave


def resize(master: int, rows: int, cols: int) -> None:
    fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", rows or 24, cols or 80, 0, 0))


def controlling_tty(then: Callable[[], None] | None) -> Callable[[], None]:
    """A preexec_fn: make stdin (the slave) the controlling terminal, then run `then`."""

    def preexec() -> None:
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)
        if then is not None:
            then()

    return preexec


async def reader(master: int) -> asyncio.StreamReader:
    """A StreamReader over the master end; EOF when the last slave holder exits (EIO)."""
    loop = asyncio.get_running_loop()
    stream = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stream), os.fdopen(master, "rb", buffering=0,
                                                                                           closefd=False))
    return stream
