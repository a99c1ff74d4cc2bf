"""Integrity scenario: the reference simulator disagrees with the engine, with a warm cache.

Issue 10's regression: a commit that tripled `validation/reference.py`'s fees was certified
95.5 with "0 disagreements", from results cached under the old code. Here, on the session
Prefect harness and the session sandboxd, three real certification runs of the small smoke
spec share one state directory (so one result cache):

1. `cold` — the shipped code; it computes (or finds) its results: CERTIFIED, flow run Completed.
2. `warm` — the same code again: its backtests are served from the cache, and the report and
   results.json say from which run and under which code hash; CERTIFIED, Completed.
3. `broken` — `validation.reference` loaded from a changed source file (fees ×3), the cache
   still warm: the code hash moves, every research result is computed again, the cross-check
   says no: NOT_CERTIFIED naming `func.backtest.crosscheck`, and the flow run ends Failed.

A Prefect automation (event trigger on `prefect.flow-run.Failed` of the certification flow,
action: call a webhook on a loopback HTTP server) fires for the broken run, not for the others.
"""

from __future__ import annotations

import asyncio
import importlib.util
import sys
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from tests.flows.test_certify import _check, _report, _spec

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
# a sweep no other flow test backtests: what `warm` is served was computed by `cold`
STRATEGIES = [{"name": "sma_crossover", "sweep": {"fast": [5, 10], "slow": [40]}}]
FEES_X3 = '''

_simulate = simulate


def simulate(*args, fees, **kwargs):  # the regression under test: fees x3
    return _simulate(*args, fees=fees * 3, **kwargs)
'''


class _Hook(BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_POST(self):  # noqa: N802 - http.server's name
        self.hits.append(self.rfile.read(int(self.headers.get("content-length", 0))).decode())
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):  # quiet
        pass


async def _automation(url: str):
    """A webhook block and an automation calling it when a certification flow run fails."""
    from prefect.blocks.webhook import Webhook
    from prefect.client.orchestration import get_client
    from prefect.events.actions import CallWebhook
    from prefect.events.schemas.automations import AutomationCore, EventTrigger, Posture

    block_id = await Webhook(url=url, method="POST").save("certification-failed-hook", overwrite=True)
    async with get_client() as client:
        return await client.create_automation(AutomationCore(
            name="certification failed", trigger=EventTrigger(
                expect={"prefect.flow-run.Failed"}, posture=Posture.Reactive, threshold=1, within=timedelta(0),
                match_related={"prefect.resource.role": "flow", "prefect.resource.name": "certification"}),
            actions=[CallWebhook(block_document_id=block_id,
                                 payload="{{ flow_run.id }}|{{ flow_run.state.name }}|{{ flow_run.state.message }}")]))


async def _server_state(flow_run_id):
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        return (await client.read_flow_run(flow_run_id)).state


def _fees_x3(monkeypatch, tmp_path: Path) -> None:
    """The running code's `validation.reference` is loaded from a changed file (fees ×3)."""
    import validation

    changed = tmp_path / "reference.py"
    changed.write_text((ROOT / "validation" / "reference.py").read_text() + FEES_X3)
    spec = importlib.util.spec_from_file_location("validation.reference", changed)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setitem(sys.modules, "validation.reference", module)
    monkeypatch.setattr(validation, "reference", module, raising=False)


@pytest.fixture(scope="module")
def runs(sandboxd, tmp_path_factory):
    from prefect.client.orchestration import get_client

    from flows.certify import certification

    server = HTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    automation_id = asyncio.run(_automation(f"http://127.0.0.1:{server.server_port}/hook"))
    tmp = tmp_path_factory.mktemp("integrity")
    spec = _spec(tmp, "cachetest", backtest={"strategies": STRATEGIES})
    out = {}

    def certify(name: str) -> None:
        # each run in a runs folder of its own: no history, so no latency noise of a loaded
        # machine between the runs (a regression check) can move the verdicts compared here
        state = asyncio.run(certification(spec_path=str(spec), out=str(tmp / name / "run"), return_state=True))
        out[name] = {"state": state, "results": state.result(raise_on_failure=False),
                     "server_state": asyncio.run(_server_state(state.state_details.flow_run_id)),
                     "flow_run_id": str(state.state_details.flow_run_id)}

    try:
        certify("cold")
        certify("warm")
        with pytest.MonkeyPatch.context() as mp:
            _fees_x3(mp, tmp)
            certify("broken")
        deadline = time.monotonic() + 90  # the automation acts asynchronously, on the server
        while not any(out["broken"]["flow_run_id"] in h for h in _Hook.hits) and time.monotonic() < deadline:
            time.sleep(0.5)
        out["hits"] = list(_Hook.hits)
        yield out
    finally:
        server.shutdown()

        async def delete():
            async with get_client() as client:
                await client.delete_automation(automation_id)

        asyncio.run(delete())


def test_a_warm_cache_after_a_code_change_is_not_served_and_the_crosscheck_says_no(runs):
    cold, warm, broken = (runs[k]["results"] for k in ("cold", "warm", "broken"))
    assert cold["errors"] == {} and broken["errors"] == {}, (cold["errors"], broken["errors"])
    # the cache was warm for this spec and code: `warm` was served its backtests
    served = warm["cache"]["stages"]["backtests"]
    assert served["computed"] == 0 and served["cached"] == 1
    assert served["from_runs"] == [cold["run_id"]]
    assert warm["cache"]["served"][0]["code_sha256"] == cold["cache"]["code_sha256"] == warm["cache"]["code_sha256"]
    # the changed source moved the code hash, so nothing was served from the warm cache
    assert broken["cache"]["code_sha256"] != cold["cache"]["code_sha256"]
    assert broken["cache"]["served"] == []
    assert broken["cache"]["stages"]["backtests"] == {"computed": 1, "cached": 0, "from_runs": []}
    # and the cross-check caught the disagreement: the check that said no is named
    assert _check(broken, "func.backtest.crosscheck")["status"] == "fail"
    assert _check(cold, "func.backtest.crosscheck")["status"] == _check(warm, "func.backtest.crosscheck")["status"] == "pass"
    assert broken["verdict"] == "NOT_CERTIFIED" and cold["verdict"] == warm["verdict"] == "CERTIFIED"


def test_the_report_says_what_was_served_from_the_cache(runs):
    warm, broken = runs["warm"]["results"], runs["broken"]["results"]
    report = _report(warm)
    assert "Result cache" in report and runs["cold"]["results"]["run_id"] in report
    assert warm["cache"]["code_sha256"][:12] in report
    assert "nothing served from the cache" in _report(broken)


def test_the_verdict_is_the_flow_run_state(runs):
    for name in ("cold", "warm"):
        assert runs[name]["results"]["verdict"] == "CERTIFIED"
        assert (runs[name]["server_state"].type.value, runs[name]["server_state"].name) == ("COMPLETED", "Completed")
    failed = runs["broken"]["server_state"]
    assert failed.type.value == "FAILED"
    assert failed.message.startswith("NOT_CERTIFIED") and "func.backtest.crosscheck" in failed.message


def test_an_automation_on_failed_runs_fires_for_the_not_certified_run_only(runs):
    hits = runs["hits"]
    mine = [h for h in hits if runs["broken"]["flow_run_id"] in h]
    assert len(mine) == 1, hits
    flow_run_id, state_name, message = mine[0].split("|", 2)
    assert state_name == "Failed" and "func.backtest.crosscheck" in message
    for name in ("cold", "warm"):  # CERTIFIED: Completed, no failure to notify
        assert not [h for h in hits if runs[name]["flow_run_id"] in h], name


def test_artifacts_link_to_the_report_results_and_junit(runs):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    keys = [f"certification-cachetest-{s}" for s in ("report", "results", "junit")]

    async def read():
        async with get_client() as client:
            return await client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=keys)))

    latest = {}
    for a in asyncio.run(read()):
        if a.key not in latest or a.created > latest[a.key].created:
            latest[a.key] = a
    run_dir = Path(runs["broken"]["results"]["report_path"]).parent
    assert set(latest) == set(keys)
    for key, name in zip(keys, ("report.md", "results.json", "junit.xml")):
        assert (run_dir / name).as_uri() in latest[key].data and (run_dir / name).is_file()
