"""Regression against history: flagged when samples shift, not when they don't."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from validation.history import compare, latency_regressions, load_history
from validation.spec import HistorySpec

H = HistorySpec()


def _samples(seed: int, scale: float = 1.0, n: int = 300) -> dict[str, list[float]]:
    rng = random.Random(seed)
    return {"task": [rng.lognormvariate(0, 0.3) * 20 * scale for _ in range(n)]}


def _run(i: int, scale: float = 1.0, per_1000: float = 0.01, profile: str = "smoke") -> dict:
    return {"run_id": f"r{i}", "profile": profile, "started_at": f"2026-11-2{i}T02:00:00Z", "readiness_score": 90 + i,
            "verdict": "CERTIFIED", "cost": {"total_usd": 0.1 * i, "per_1000_tasks_usd": per_1000},
            "samples": _samples(100 + i, scale)}


def test_no_regression_when_samples_come_from_the_same_distribution():
    runs = [_run(i) for i in range(1, 6)]
    for seed in range(10):
        regs = latency_regressions(_samples(seed), runs, H)
        assert regs[0]["status"] == "pass", regs


def test_regression_flagged_when_latency_shifts_with_warn_and_fail_bands():
    runs = [_run(i) for i in range(1, 6)]
    assert latency_regressions(_samples(1, scale=1.15), runs, H)[0]["status"] == "warn"
    fail = latency_regressions(_samples(1, scale=1.5), runs, H)[0]
    assert fail["status"] == "fail" and fail["p_value"] < H.alpha and fail["change_pct"] > 25


def test_both_gates_must_trip():
    runs = [_run(i) for i in range(1, 6)]
    # significant but small (+6 %, many samples): no flag
    small = latency_regressions(_samples(1, scale=1.06, n=5000), runs, H)[0]
    assert small["p_value"] < H.alpha and small["status"] == "pass"
    # large but not significant (too noisy with few samples): 8 current samples drawn wide
    tiny = HistorySpec(min_samples=3)
    regs = latency_regressions({"task": [10, 40, 15, 35, 20, 30, 18, 60]}, runs, tiny)
    assert regs[0]["p_value"] >= tiny.alpha and regs[0]["status"] == "pass"


def test_too_few_samples_are_nodata_not_silently_absent():
    """An operation with past runs but too few samples on either side gets a `nodata` regression check."""
    runs = [_run(i) for i in range(1, 4)]
    few = latency_regressions({"task": [20.0] * 4}, runs, H)
    assert [(r["metric"], r["status"], r["current_n"], r["baseline_n"]) for r in few] == [("task", "nodata", 4, 900)]
    # samples missing from this run altogether (the stage that times `task` never ran)
    section, checks = compare(H, "smoke", {}, {}, runs)
    c = next(c for c in checks if c.id == "perf.regression.task")
    assert (c.status, c.critical, c.passed, c.observed) == ("nodata", False, False, None)
    assert "too few samples" in c.details["reason"] and section["regressions"][0]["status"] == "nodata"
    # the past runs kept no samples (samples.json lost)
    bare = [{k: v for k, v in r.items() if k != "samples"} for r in runs]
    _, checks = compare(H, "smoke", _samples(1), {}, bare)
    assert {c.id: c.status for c in checks} == {"perf.regression.task": "nodata"}
    # the opposite: enough samples on both sides are compared
    _, checks = compare(H, "smoke", _samples(1), {}, runs)
    assert {c.id: c.status for c in checks} == {"perf.regression.task": "pass"}
    # and with no past run there is nothing to compare, so no check at all
    assert compare(H, "smoke", {"task": [1.0] * 5}, {}, [])[1] == []


def test_an_operation_no_past_run_timed_is_new_not_nodata():
    runs = [_run(i) for i in range(1, 4)]
    regs = latency_regressions({**_samples(1), "brand_new": [5.0] * 50}, runs, H)
    assert [r["metric"] for r in regs] == ["task"]


def test_only_the_given_latency_metrics_are_compared():
    runs = [{**_run(i), "samples": {**_samples(100 + i), "sandbox_list": [1.0, 2.0]}} for i in range(1, 4)]
    current = {**_samples(1), "sandbox_list": [1.0]}
    assert {r["metric"] for r in latency_regressions(current, runs, H)} == {"task", "sandbox_list"}
    assert [r["metric"] for r in latency_regressions(current, runs, H, metrics={"task"})] == ["task"]


def test_a_comparison_the_u_test_cannot_decide_is_nodata():
    """4 samples against 4 can never give p < 0.02 (the smallest two-sided p is 2/70): a
    regression there could not be flagged however large, so the check must not pass."""
    h = HistorySpec(min_samples=3)
    base = [{"run_id": "r1", "profile": "smoke", "started_at": "2026-11-21", "samples": {"op": [10.0, 11, 12, 13]}}]
    assert latency_regressions({"op": [100.0, 110, 120, 130]}, base, h)[0]["status"] == "nodata"
    # the opposite: 5 against 5 can (2/252 < 0.02), and a tenfold rise is flagged
    base[0]["samples"]["op"] = [10.0, 11, 12, 13, 14]
    reg = latency_regressions({"op": [100.0, 110, 120, 130, 140]}, base, h)[0]
    assert reg["status"] == "fail" and reg["p_value"] < h.alpha


def test_compare_section_and_checks():
    runs = [_run(i) for i in range(1, 4)] + [_run(9, profile="nightly")]
    section, checks = compare(H, "smoke", _samples(1, scale=1.5), {"total_usd": 0.45, "per_1000_tasks_usd": 0.02}, runs)
    assert section["previous_run_id"] == "r3" and section["compared_runs"] == ["r3", "r2", "r1"]
    assert section["cost_delta_usd"] == pytest.approx(0.15) and section["cost_delta_pct"] == pytest.approx(50.0)
    ids = {c.id: c.status for c in checks}
    assert ids == {"perf.regression.task": "fail", "cost.regression.per_1000_tasks": "fail"}
    same, checks = compare(H, "smoke", _samples(7), {"total_usd": 0.3, "per_1000_tasks_usd": 0.0101}, runs)
    assert {c.id: c.status for c in checks} == {"perf.regression.task": "pass", "cost.regression.per_1000_tasks": "pass"}


def test_first_run_has_no_comparison():
    section, checks = compare(H, "smoke", _samples(1), {}, [])
    assert checks == [] and section["previous_run_id"] is None and section["regressions"] == []


def test_load_history_reads_run_directories(tmp_path):
    for i in range(1, 5):
        r = _run(i, profile="smoke" if i != 2 else "standard")
        d = tmp_path / r["run_id"]
        d.mkdir()
        (d / "samples.json").write_text(json.dumps(r.pop("samples")))
        (d / "results.json").write_text(json.dumps(r))
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "results.json").write_text("{not json")
    runs = load_history(tmp_path, "smoke", 5, exclude_run_id="r4")
    assert [r["run_id"] for r in runs] == ["r3", "r1"]
    assert len(runs[0]["samples"]["task"]) == 300


def _write_run(runs: Path, run_id: str, profile: str, spec_hash: str | None, started: str) -> None:
    d = runs / run_id
    d.mkdir(parents=True)
    res = {"run_id": run_id, "profile": profile, "started_at": started, "readiness_score": 90.0, "verdict": "CERTIFIED",
           "cost": {}, **({"spec_sha256": spec_hash} if spec_hash else {})}
    (d / "results.json").write_text(json.dumps(res))
    (d / "samples.json").write_text(json.dumps(_samples(1)))


def test_the_history_key_is_the_profile_and_the_effective_spec():
    from validation import load_spec
    from validation.history import spec_sha256

    nightly = spec_sha256(load_spec("nightly"))
    assert spec_sha256(load_spec("nightly")) == nightly  # the same configuration: the same key
    assert spec_sha256(load_spec("nightly", overrides={"stress": {"tasks": 200}})) != nightly
    assert spec_sha256(load_spec("nightly", overrides={"backtest": {"fees": 0.002}})) != nightly
    assert spec_sha256(load_spec("smoke")) != nightly


def test_runs_with_overrides_are_never_compared_with_the_nightly_history(tmp_path):
    """Regression (issue 10): a 200-task run of the nightly profile was judged against 5,000-task
    nightlies. Through the judge task as the flow calls it, in both directions."""
    from datetime import datetime, timezone

    from prefect.logging import disable_run_logger

    from tasks.judging import judge
    from validation import load_spec
    from validation.history import spec_sha256

    nightly, shrunk = load_spec("nightly"), load_spec("nightly", overrides={"stress": {"tasks": 200}})
    runs = tmp_path / "runs"
    _write_run(runs, "n1", "nightly", spec_sha256(nightly), "2026-12-01T02:00:00Z")
    _write_run(runs, "n2", "nightly", spec_sha256(nightly), "2026-12-02T02:00:00Z")
    _write_run(runs, "o1", "nightly", spec_sha256(shrunk), "2026-12-03T02:00:00Z")
    _write_run(runs, "old", "nightly", None, "2026-11-30T02:00:00Z")  # no key recorded: no comparison
    now = datetime(2026, 12, 4, tzinfo=timezone.utc)
    with disable_run_logger():
        as_nightly = judge.fn(nightly, {"samples": _samples(2)}, str(runs), "new", now, str(tmp_path))
        as_override = judge.fn(shrunk, {"samples": _samples(2)}, str(runs), "new", now, str(tmp_path))
    assert as_nightly["history"]["compared_runs"] == ["n2", "n1"]
    assert as_override["history"]["compared_runs"] == ["o1"]
    assert load_history(runs, "nightly", 5, spec_hash="0" * 64) == []
    assert [r["run_id"] for r in load_history(runs, "nightly", 5)] == ["o1", "n2", "n1", "old"]  # unkeyed: all
