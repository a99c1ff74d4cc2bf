"""Integrity scenarios: a real `certify` run that must not be CERTIFIED, and must name the check that said no.

Each scenario is one small run of the embedded default (the smoke profile, shrunk by
`tests/flows/test_certify._spec`) with one thing made impossible to meet. Each also carries its
opposite inside the same run: a sibling check on the same measurements that passes, so the
failure is the scenario's and not a broken run's. A bad row inside a readable file is
`test_certify.test_corrupted_data_is_caught_by_name_and_never_backtested`; injected latency
and failing agents are beside it.
"""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.flows.test_certify import ROOT, _certify, _check, _report, _spec

pytestmark = pytest.mark.slow


def _said_no(results: dict, check_id: str) -> None:
    """Not CERTIFIED, with `check_id` named as blocking in results.json, report.md and junit.xml."""
    assert results["verdict"] == "NOT_CERTIFIED", results["verdict"]
    assert _check(results, check_id)["critical"]
    failing = next(ln for ln in _report(results).splitlines() if ln.startswith("> critical checks failing:"))
    assert f"`{check_id}`" in failing
    run = Path(results["report_path"]).parent
    case = next(c for c in ET.parse(run / "junit.xml").iter("testcase") if c.get("name") == check_id)
    assert case.find("failure") is not None
    assert results["sandboxes"]["leaked"] == 0 and results["stress"]["lost"] == 0


def test_an_impossible_sla_is_measured_and_fails_by_name(sandboxd, tmp_path):
    """p95 under a microsecond cannot be met; the p99 bound of the same samples can, and passes."""
    res = _certify(_spec(tmp_path, "impossible", sla={"stress_task": ["p95 < 0.001ms", "p99 < 2000ms"]}),
                   tmp_path / "runs" / "impossible")
    p95 = _check(res, "perf.stress_task.p95")
    assert p95["status"] == "fail" and p95["observed"] > 0.001 and p95["details"]["p95_ci"][0] > 0.001
    assert _check(res, "perf.stress_task.p99")["status"] == "pass"  # the opposite, on the same samples
    _said_no(res, "perf.stress_task.p95")


def test_an_sla_on_a_metric_no_stage_measures_is_nodata_not_a_pass(sandboxd, tmp_path):
    """`sandbox_read` is a latency the sandbox layer could record, but no stage of a certification
    reads a file: an SLA on it has no evidence, which is `nodata` and blocks, never a pass."""
    res = _certify(_spec(tmp_path, "unmeasured", sla={"sandbox_read": ["p95 < 100ms"]}),
                   tmp_path / "runs" / "unmeasured")
    assert "sandbox_read" not in res["latency"], "a stage measures sandbox_read now: pick another metric"
    c = _check(res, "perf.sandbox_read.p95")
    assert c["status"] == "nodata" and c["observed"] is None
    assert _check(res, "perf.sandbox_create.p95")["status"] == "pass"  # the opposite: a measured sibling
    _said_no(res, "perf.sandbox_read.p95")


def test_a_damaged_data_file_fails_its_contract_by_name(sandboxd, tmp_path, monkeypatch):
    """NDX.csv.gz cut in half, as by an interrupted download (its manifest hash unchanged): the
    contract fails it by name and it is never backtested; SPX, intact, passes in the same run."""
    data = tmp_path / "data"
    shutil.copytree(ROOT / "data", data)
    blob = (data / "NDX.csv.gz").read_bytes()
    (data / "NDX.csv.gz").write_bytes(blob[: len(blob) // 2])
    monkeypatch.setenv("TRADESWARM_DATA_DIR", str(data))
    res = _certify(_spec(tmp_path, "damaged", data={"datasets": ["SPX", "NDX"]}), tmp_path / "runs" / "damaged")
    c = _check(res, "func.data.NDX")
    assert c["status"] == "fail" and c["observed"] >= 1, c
    assert _check(res, "func.data.SPX")["status"] == "pass"  # the opposite, in the same run
    assert not [b for b in res["backtests"] if b["symbol"] == "NDX"] and [b for b in res["backtests"] if b["symbol"] == "SPX"]
    _said_no(res, "func.data.NDX")
