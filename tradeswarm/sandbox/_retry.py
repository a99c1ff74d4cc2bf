"""Retry of transient sandbox-service failures, and the client-side rate limit.

Transient: 429 (rate limit, concurrency cap), 5xx ("failed to place sandbox"), a busy
service and connection errors. Anything else (bad template, auth, not found) fails at once.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Awaitable, Callable, TypeVar

import httpx
from e2b.exceptions import RateLimitException, SandboxException, ServiceBusyException

T = TypeVar("T")


def is_transient(exc: BaseException) -> bool:
    """True for failures a later attempt of the same call can cure."""
    if isinstance(exc, (RateLimitException, ServiceBusyException, ConnectionError, httpx.TransportError)):
        return True
    if isinstance(exc, SandboxException):
        status = getattr(exc, "status_code", None)
        if isinstance(status, int):
            return status >= 500 or status == 429
        text = str(exc)
        return text[:3].isdigit() and text[0] == "5"
    return False


async def with_retries(call: Callable[[], Awaitable[T]], attempts: int = 5, base_s: float = 0.05,
                       max_s: float = 2.0, on_retry: Callable[[BaseException], None] | None = None) -> T:
    """Await `call()` until it succeeds, retrying transient failures with jittered backoff."""
    for attempt in range(attempts):
        try:
            return await call()
        except Exception as e:
            if attempt == attempts - 1 or not is_transient(e):
                raise
            if on_retry is not None:
                on_retry(e)
            delay = min(max_s, base_s * 2**attempt)
            await asyncio.sleep(delay * (0.5 + random.random() / 2))
    raise AssertionError("unreachable")


class RateLimiter:
    """Token bucket: at most `rate_per_s` acquisitions per second, bursts of `burst`."""

    def __init__(self, rate_per_s: float | None, burst: int = 1) -> None:
        self.rate = rate_per_s
        self.burst = max(1, burst)
        self._tokens = float(self.burst)
        self._at = time.monotonic()
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        if not self.rate:
            return
        async with self._lock:
            while True:
                now = time.monotonic()
                self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
                self._at = now
                if self._tokens >= 1.0:
                    self._tokens -= 1.0
                    return
                await asyncio.sleep((1.0 - self._tokens) / self.rate)
