"""What the market-data client and the Alpaca broker share: building an alpaca-py client
(the one place the keys are unwrapped) and turning its failures into one clear line that
never carries a key.
"""

from __future__ import annotations

from typing import Iterable

from tradeswarm.settings import mask_secrets

_WHAT = {
    401: "authentication failed (check ALPACA_API_KEY / ALPACA_API_SECRET)",
    403: "forbidden (the plan or keys do not permit this request)",
    404: "not found",
    422: "request refused as invalid",
    429: "rate limited (HTTP 429) after the SDK's retries",
}


def build_client(factory, settings, url_override: str | None, retry_wait_s: float | None, **kwargs):
    """`factory(key, secret, url_override=..., **kwargs)` with the SecretStr keys unwrapped here only.

    `retry_wait_s` replaces the SDK's fixed 3 s sleep after a 429/504 (tests set 0).
    """
    client = factory(settings.alpaca_api_key.get_secret_value(), settings.alpaca_api_secret.get_secret_value(),
                     url_override=url_override, **kwargs)
    if retry_wait_s is not None:
        client._retry_wait = retry_wait_s
    return client


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
    return mask_secrets(text, secrets)
