"""Turning alpaca-py failures into one clear line that never carries a key.

Shared by the market-data client and the Alpaca broker.
"""

from __future__ import annotations

from typing import Iterable

_WHAT = {
    401: "authentication failed (check ALPACA_API_KEY / ALPACA_API_SECRET)",
    403: "forbidden (the plan or keys do not permit this request)",
    404: "not found",
    422: "request refused as invalid",
    429: "rate limited (HTTP 429) after the SDK's retries",
}


def scrub(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret value replaced by `***`."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def describe_failure(exc: BaseException, context: str, secrets: Iterable[str]) -> str:
    """`context: what went wrong: detail` for an `APIError` or a transport error, scrubbed."""
    status = getattr(exc, "status_code", None)
    if status is not None:
        try:
            detail = exc.message  # the JSON body's message, when the body is Alpaca's JSON
        except (ValueError, KeyError, TypeError):
            detail = str(exc)[:200]
        text = f"{context}: {_WHAT.get(status, f'HTTP {status}')}: {detail}"
    else:
        text = f"{context}: {type(exc).__name__}: {str(exc)[:300]}"
    return scrub(text, secrets)
