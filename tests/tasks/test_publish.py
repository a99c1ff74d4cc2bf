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


def test_a_key_quoted_by_an_error_reaches_no_file_of_the_run(tmp_path, monkeypatch):
    """The opposite case of the flow's canary scan: here the secret *is* in the results."""
    import json
    from pathlib import Path

    from tasks.publish import render_files, write_results
    from validation.evidence import Results

    canary = "canary-e2b-key-77aa"
    monkeypatch.setenv("ALPACA_API_KEY", canary)
    monkeypatch.setenv("ALPACA_API_SECRET", "canary-secret-88bb")
    golden = Path(__file__).resolve().parents[1] / "reports" / "golden"
    results = json.loads((golden / "results.json").read_text())
    results["errors"] = {"stress": f"APIError: key {canary} was refused"}
    results["checks"][0]["details"] = {"reason": f"client said {canary!r}"}
    run = tmp_path / "runs" / "r1"
    run.mkdir(parents=True)
    written = render_files.fn(Results.parse(results), {"task": [1.0, 2.0]}, str(run))
    written += write_results(Results.parse(results), str(run))
    assert written and (run / "results.json").is_file()
    for path in [p for p in run.rglob("*") if p.is_file()]:
        assert canary.encode() not in path.read_bytes(), path.name
    assert "***" in json.loads((run / "results.json").read_text())["errors"]["stress"]


def _results(verdict: str, *checks: tuple[str, str, bool]) -> dict:
    return {"verdict": verdict, "readiness_score": 81.25,
            "checks": [{"id": i, "status": s, "critical": c} for i, s, c in checks]}


def test_the_verdict_is_the_run_state():
    from tasks.publish import run_state

    not_certified = _results("NOT_CERTIFIED", ("func.backtest.crosscheck", "fail", True),
                             ("rel.stress.accounting", "nodata", True), ("perf.x.p95", "fail", False),
                             ("func.data.SPX", "pass", True), ("func.y", "waived", True))
    failed = run_state(not_certified)
    assert failed.is_failed() and failed.data == not_certified
    # the blocking checks are the critical ones that did not pass; non-critical failures are not named
    assert failed.message == ("NOT_CERTIFIED, readiness 81.2/100; blocking checks: func.backtest.crosscheck, "
                              "rel.stress.accounting")
    low = run_state(_results("NOT_CERTIFIED", ("perf.x.p95", "fail", False)))
    assert low.is_failed() and "no critical check failed" in low.message
    conditional = run_state(_results("CONDITIONAL", ("perf.x.p95", "fail", False)))
    assert conditional.is_completed() and conditional.name == "Conditional" and conditional.message.startswith("CONDITIONAL")
    certified = run_state(_results("CERTIFIED"))
    assert certified.is_completed() and certified.name == "Completed"
