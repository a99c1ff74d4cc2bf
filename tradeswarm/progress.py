"""Progress of a long run, reported by the pipeline and drawn by whoever listens.

The flow calls `stage()` and `advance()`; the CLI installs a terminal sink. With no sink
installed (a deployment run, a test) reports go nowhere, so the flow never depends on a
terminal being present.
"""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager
from typing import Callable, Iterator, TextIO

Sink = Callable[[str, dict], None]
_sink: Sink | None = None


def set_sink(sink: Sink | None) -> Sink | None:
    """Install `sink` (or none); returns the previous one so callers can restore it."""
    global _sink
    previous, _sink = _sink, sink
    return previous


def emit(event: str, **data) -> None:
    if _sink is not None:
        _sink(event, data)


@contextmanager
def stage(name: str, index: int, total: int) -> Iterator[dict]:
    """Report a stage's start and end; the yielded dict collects a one-line detail."""
    info: dict = {"detail": ""}
    t0 = time.perf_counter()
    emit("stage_start", name=name, index=index, total=total)
    ok = False
    try:
        yield info
        ok = True
    finally:
        emit("stage_end", name=name, index=index, total=total, ok=ok,
             seconds=time.perf_counter() - t0, detail=info["detail"])


def advance(name: str, done: int, total: int) -> None:
    """Report `done` of `total` units of a stage (the stress test's bar)."""
    emit("advance", name=name, done=done, total=total)


class TerminalSink:
    """Stage lines and a redrawn bar on a TTY; plain periodic lines elsewhere."""

    def __init__(self, stream: TextIO = sys.stderr) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self._last_plain = -1

    def __call__(self, event: str, d: dict) -> None:
        w = self.stream.write
        if event == "stage_start":
            w(f"[{d['index']}/{d['total']}] {d['name']} …" + ("" if self.tty else "\n"))
        elif event == "stage_end":
            mark = "done" if d["ok"] else "FAILED"
            detail = f" — {d['detail']}" if d["detail"] else ""
            prefix = "\r\033[K" if self.tty else ""
            w(f"{prefix}[{d['index']}/{d['total']}] {d['name']} {mark} in {d['seconds']:.1f} s{detail}\n")
        elif event == "advance":
            frac = d["done"] / d["total"] if d["total"] else 1.0
            if self.tty:
                bar = "█" * int(frac * 30)
                w(f"\r\033[K    {d['name']} [{bar:<30}] {d['done']}/{d['total']}")
            elif int(frac * 10) != self._last_plain:
                self._last_plain = int(frac * 10)
                w(f"    {d['name']}: {d['done']}/{d['total']}\n")
        self.stream.flush()
