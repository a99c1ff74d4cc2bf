"""Publishing retries transient API failures only (plain functions: no Prefect server needed)."""

from __future__ import annotations

import httpx
import pytest

from tasks.publish import artifact_key, transient


class _State:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc

    def result(self):
        raise self.exc


def _status(code: int) -> httpx.HTTPStatusError:
    req = httpx.Request("POST", "http://127.0.0.1/api/artifacts/")
    return httpx.HTTPStatusError("x", request=req, response=httpx.Response(code, request=req))


@pytest.mark.parametrize("exc, retry", [
    (httpx.ConnectError("refused"), True), (httpx.ReadTimeout("slow"), True),
    (_status(503), True), (_status(429), True),
    (_status(422), False), (ValueError("bad markdown"), False), (KeyError("verdict"), False),
])
def test_only_transient_errors_are_retried(exc, retry):
    assert transient(None, None, _State(exc)) is retry


def test_artifact_keys_are_what_prefect_accepts():
    assert artifact_key("standard") == "certification-standard"
    assert artifact_key("My_Spec v2!") == "certification-my-spec-v2"
    assert artifact_key("___") == "certification-custom"
