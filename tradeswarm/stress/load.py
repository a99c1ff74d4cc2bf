"""Load schedulers: open loop (arrival rate) and closed loop (fixed concurrency).

Both call `submit(index, intended)` where `intended` is the event-loop time the task *should*
start. In the open loop that is `t0 + index / rate` whatever happens, so when the dispatcher
stalls (a blocked event loop, a full in-flight window) the late tasks carry the stall in their
latency — there is no coordinated omission (wrk2's rule). In the closed loop the next task is
only due when a worker frees up, so `intended` is the actual start: that model measures service
time under a fixed concurrency, and a stall shows as lost throughput instead.

Both stop submitting as soon as `stop` is set (the abort rule) and wait for what is in flight.
They return the number of tasks handed to `submit`.
"""

from __future__ import annotations

import asyncio
from typing import Awaitable, Callable

Submit = Callable[[int, float], Awaitable[None]]


async def open_loop(n: int, rate: float, submit: Submit, *, stop: asyncio.Event,
                    max_in_flight: int = 1000) -> int:
    """Start task i at `t0 + i / rate` (seconds of loop time); at most `max_in_flight` at once."""
    if rate <= 0:
        raise ValueError("rate must be > 0 tasks/s")
    loop = asyncio.get_running_loop()
    window = asyncio.Semaphore(max_in_flight)
    running: set[asyncio.Task] = set()

    def done(task: asyncio.Task) -> None:
        running.discard(task)
        window.release()

    t0 = loop.time()
    started = 0
    for i in range(n):
        intended = t0 + i / rate
        delay = intended - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        await window.acquire()
        if stop.is_set():
            window.release()
            break
        task = asyncio.create_task(submit(i, intended))
        running.add(task)
        task.add_done_callback(done)
        started += 1
    if running:
        await asyncio.gather(*running)
    return started


async def closed_loop(n: int, concurrency: int, submit: Submit, *, stop: asyncio.Event) -> int:
    """`concurrency` workers each take the next index as soon as their previous task ends."""
    if concurrency < 1:
        raise ValueError("concurrency must be >= 1")
    loop = asyncio.get_running_loop()
    indices = iter(range(n))  # shared: single-threaded asyncio hands each index out once
    started = 0

    async def worker() -> None:
        nonlocal started
        for i in indices:
            if stop.is_set():
                return
            started += 1
            await submit(i, loop.time())

    await asyncio.gather(*(worker() for _ in range(min(concurrency, max(n, 1)))))
    return started
