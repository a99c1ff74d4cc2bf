"""Signed file URLs (`download_url` / `upload_url` of a `secure` sandbox), checked as envd does.

The SDK signs `path:operation:user:envd_token[:expiration]` with SHA-256 (base64, no padding,
`v1_` prefix). A signed URL carries no sandbox header (a browser can open it), so the
sandbox is the one whose token makes the signature match.

>>> sign("a.txt", "read", "user", "tok", None)[:3]
'v1_'
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Iterable

from tradeswarm.sandbox.sandboxd.registry import ApiError, SandboxRecord


def sign(path: str, operation: str, user: str, token: str, expiration: int | None) -> str:
    raw = f"{path}:{operation}:{user}:{token}" + (f":{expiration}" if expiration is not None else "")
    return "v1_" + base64.b64encode(hashlib.sha256(raw.encode()).digest()).rstrip(b"=").decode("ascii")


def signed_sandbox(candidates: Iterable[SandboxRecord], query: dict[str, list[str]], operation: str) -> SandboxRecord:
    """The sandbox a signed request is for; ApiError(401) when none signed it, or it expired."""
    one = {k: v[-1] for k, v in query.items() if v}
    given = one.get("signature", "")
    try:
        expiration = int(one["signature_expiration"]) if "signature_expiration" in one else None
    except ValueError:
        raise ApiError(401, "invalid signature expiration") from None
    for rec in candidates:
        want = sign(one.get("path", ""), operation, one.get("username", ""), rec.envd_token, expiration)
        if hmac.compare_digest(want.encode(), given.encode()):
            if expiration is not None and expiration < time.time():
                raise ApiError(401, "signature is already expired")
            return rec
    raise ApiError(401, "invalid signature")
