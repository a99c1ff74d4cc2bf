"""The yardstick's own rules (bench/e2b_conformance.py): what counts, what is not applicable."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.append(str(Path(__file__).resolve().parents[2] / "bench"))  # last: bench/ names never shadow others

import _e2b_conformance_plugin as plugin  # noqa: E402
import e2b_conformance as conformance  # noqa: E402


def _r(outcome="passed", requests=3, message="", na=None, nodeid="tests/x.py::test_a") -> dict:
    return {"nodeid": nodeid, "file": nodeid.split("::")[0], "outcome": outcome, "message": message,
            "requests": requests, "not_applicable": na}


@pytest.mark.parametrize("result, expected", [
    (_r(), "passed"),
    (_r(requests=0), "offline"),  # never reached sandboxd: the SDK's own unit test
    (_r("failed", message="assert False"), "failed"),
    (_r("failed", requests=0, message="assert False"), "offline-failed"),
    (_r("failed", message="AssertionError: assert '/tmp/x' == '/home/user/x'"), "isolation"),
    (_r("error", message="403: path '/tmp/a' is outside the sandbox workspace"), "isolation"),
    (_r("failed", message="Command exited with code 127", nodeid="t.py::test_bash_command_scoped_env_vars"),
     "isolation"),
    (_r("failed", message="Command exited with code 127", nodeid="t.py::test_other"), "failed"),
    (_r("failed", na="template-build API"), "n/a"),
    (_r("skipped"), "skipped"),
])
def test_each_result_lands_in_one_column(result, expected):
    assert conformance.category(result) == expected


def test_not_applicable_reasons_come_from_the_path_or_the_source():
    assert "template-build" in plugin.not_applicable("tests/sync/template_sync/test_build.py", "")
    assert plugin.not_applicable("tests/sync/template_sync/test_exists.py", "") is None  # Template.exists counts
    assert "internet" in plugin.not_applicable("t.py", "sb.commands.run(\"curl -s https://1.1.1.1\")")
    assert plugin.not_applicable("t.py", "sb.commands.run(\"curl -s http://127.0.0.1:8000\")") is None
    assert "cloud-only" in plugin.not_applicable("t.py", "url = f'https://{sandbox.get_host(8000)}'")


def test_the_score_counts_isolation_failures_and_also_shows_them_left_out():
    results = [_r(), _r(), _r("failed"), _r("failed", message="outside the sandbox workspace"), _r(requests=0),
               _r("failed", requests=0)]
    score = conformance.summarise(results)["score"]
    assert (score["passed"], score["applicable_server_facing"]) == (2, 4)
    assert score["pct"] == 50.0 and score["pct_without_isolation"] == pytest.approx(66.7)
