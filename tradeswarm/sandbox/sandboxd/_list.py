"""`GET /v2/sandboxes` as E2B answers it: filters, order, and pages behind a cursor.

Query (as the SDK sends it): `state=running,paused` (default: both), `metadata` (url-encoded
`k=v` pairs), `template`, `startedAfter` (ISO 8601, inclusive), `order=asc|desc` (by start
time; default desc, newest first), `limit` (1..100, default 100), `nextToken` (the cursor the
previous page returned in its `x-next-token` header: the last item's start time and id, so a
page never repeats or skips a sandbox that was listed, whatever was created meanwhile).

>>> list_page([], {"limit": ["0"]})
Traceback (most recent call last):
...
tradeswarm.sandbox.sandboxd.registry.ApiError: limit must be between 1 and 100
"""

from __future__ import annotations

import base64
from datetime import datetime
from urllib.parse import parse_qs

from tradeswarm.sandbox.sandboxd.registry import ApiError, SandboxRecord

MAX_LIMIT = 100


def list_page(records: list[SandboxRecord], query: dict[str, list[str]]) -> tuple[list[SandboxRecord], str | None]:
    """The page of `records` the query asks for, and the cursor of the next page (None: last)."""
    one = {k: v[-1] for k, v in query.items() if v}
    states = {s for s in ",".join(query.get("state", [])).split(",") if s} or {"running", "paused"}
    try:
        limit = int(one.get("limit", MAX_LIMIT))
        after = datetime.fromisoformat(one["startedAfter"]) if "startedAfter" in one else None
    except ValueError:
        raise ApiError(400, "limit must be an integer and startedAfter an ISO 8601 time") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise ApiError(400, f"limit must be between 1 and {MAX_LIMIT}")
    order = one.get("order", "desc")
    if order not in ("asc", "desc"):
        raise ApiError(400, "order must be asc or desc")
    wanted = _metadata(query)
    template = one.get("template")
    rows = [r for r in records
            if r.state in states and (template is None or r.template == template)
            and (after is None or r.started_at >= after)
            and all(r.metadata.get(k) == v for k, v in wanted.items())]
    rows.sort(key=_key, reverse=order == "desc")
    if "nextToken" in one:
        cursor = _decode(one["nextToken"])
        rows = [r for r in rows if (_key(r) > cursor if order == "asc" else _key(r) < cursor)]
    page = rows[:limit]
    return page, (_encode(_key(page[-1])) if len(rows) > limit else None)


def _key(rec: SandboxRecord) -> tuple[str, str]:
    return rec.started_at.isoformat(), rec.id


def _metadata(query: dict[str, list[str]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for raw in query.get("metadata", []):
        out.update({k: v[0] for k, v in parse_qs(raw).items()})
    return out


def _encode(key: tuple[str, str]) -> str:
    return base64.urlsafe_b64encode("|".join(key).encode()).decode()


def _decode(token: str) -> tuple[str, str]:
    try:
        started, sid = base64.urlsafe_b64decode(token.encode()).decode().split("|")
    except ValueError:
        raise ApiError(400, "nextToken is not a token this server gave") from None
    return started, sid
