"""The certification flow end to end on the real components, and the verdict moving with its inputs.

One baseline run and three perturbed runs of the same small spec: injected latency, failing
agents, corrupted data. Each perturbation must flip the check it targets, lower the score and
make the verdict NOT_CERTIFIED, while the baseline passes that check. Every run must leave no
sandbox behind and account for every stress task.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest
import yaml

from validation.spec import PROFILES_DIR

FAULT_KEYS = ("kill_sandboxes", "fail_rate", "latency_ms", "latency_fraction", "create_failures", "rate_limit_s")

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def _spec(tmp_path: Path, name: str, **changes) -> Path:
    """The smoke profile made smaller, with `changes` merged in depth first; no `provider`
    key, so the provider follows the environment (local here: the session has no E2B key)."""
    spec = yaml.safe_load((PROFILES_DIR / "smoke.yaml").read_text())
    spec.pop("provider", None)
    spec["name"] = name
    spec["backtest"]["strategies"] = [{"name": "sma_crossover", "sweep": {"fast": [5, 10], "slow": [50]}}]
    spec["stress"].update(tasks=100, rate=100)
    spec["stress"]["faults"].update({k: 0 for k in FAULT_KEYS})  # no fault: no chaos phase

    def merge(a: dict, b: dict) -> dict:
        for k, v in b.items():
            a[k] = merge(dict(a.get(k) or {}), v) if isinstance(v, dict) else v
        return a

    merge(spec, changes)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def _certify(spec_path: Path, out: Path) -> dict:
    from flows.certify import certification

    state = asyncio.run(certification(spec_path=str(spec_path), out=str(out), return_state=True))
    return state.result(raise_on_failure=False)  # NOT_CERTIFIED ends Failed, with results.json attached


def _check(results: dict, check_id: str) -> dict:
    return next(c for c in results["checks"] if c["id"] == check_id)


def _report(results: dict) -> str:
    return Path(results["report_path"]).read_text(encoding="utf-8")


def _verdict_line(results: dict) -> str:
    """The report's verdict badge, Markdown escapes removed (`NOT\\_CERTIFIED` → `NOT_CERTIFIED`)."""
    return next(ln for ln in _report(results).splitlines() if ln.startswith("> **")).replace("\\", "")


def _metric_row(results: dict, check_id: str) -> str:
    """The check's row of the report's key-metrics table."""
    return next(ln for ln in _report(results).splitlines() if ln.startswith(f"| `{check_id}`"))


CANARIES = {"ALPACA_API_KEY": "canary-alpaca-key-5d1e", "ALPACA_API_SECRET": "canary-alpaca-secret-9b2c"}


@pytest.fixture(scope="module")
def alpaca():
    """A loopback server speaking Alpaca's wire format, holding the canary keys' paper account."""
    from tests.support.alpaca_server import AlpacaServer

    with AlpacaServer(CANARIES["ALPACA_API_KEY"], CANARIES["ALPACA_API_SECRET"], prices={"SPX": 2500.0}) as srv:
        yield srv


@pytest.fixture(scope="module")
def baseline(sandboxd, alpaca, tmp_path_factory) -> dict:
    """The baseline run, with canary Alpaca keys: its trading session's orders go to the loopback
    Alpaca (shipped data needs no Alpaca call)."""
    tmp = tmp_path_factory.mktemp("baseline")
    env = {**CANARIES, "ALPACA_TRADING_URL": alpaca.url}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        # 100 lifecycles, as standard times: a P99 of the sandbox operations (smoke times 20)
        return _certify(_spec(tmp, "flowtest", sandboxes={"lifecycle_cycles": 100}), tmp / "runs" / "baseline")
    finally:
        for k, v in saved.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)


def test_baseline_writes_every_output_and_leaves_nothing_behind(baseline, sandboxd):
    run = Path(baseline["report_path"]).parent
    for name in ("report.md", "results.json", "samples.json", "junit.xml", "ledger.sqlite"):
        assert (run / name).is_file(), name
    assert list((run / "charts").glob("*.png"))
    index = run.parent.parent / "index.md"  # next to the runs/ folder, as reports/index.md
    assert f"runs/{run.name}/report.md" in index.read_text()
    for path in (run / "report.md", run / "results.json", run / "junit.xml", index):
        assert path.stat().st_mode & 0o777 == 0o644, path  # reports are for analysts
    on_disk = json.loads((run / "results.json").read_text())
    assert on_disk["schema"] == "tradeswarm.certification/v1" and on_disk["run_id"] == baseline["run_id"]
    assert baseline["errors"] == {}, baseline["errors"]
    assert baseline["provider"] == "local"  # no E2B key in the environment, none named in the spec

    # every stage timed, the report's own stage too (results.json rewritten after publishing)
    assert set(on_disk["stages"]) == {"provision", "deploy+research", "parity", "stress", "trade", "judge", "report"}
    assert set(on_disk["stage_parts"]) == {"deploy", "data", "backtests"}
    assert all(v > 0 for v in on_disk["stage_parts"].values())
    # the machine's load during every stage and part, with this run's own share
    load = on_disk["host_load"]
    assert set(load) == set(on_disk["stages"]) | {"deploy", "research"}
    assert set(load["deploy"]["groups_pct"]) == {"certifier", "sandboxd"} and load["deploy"]["busy_pct"] > 0
    # deploy and research one after the other: no backtest competed with the deploys the SLA judges
    assert load["deploy"]["end"] <= load["research"]["start"]

    st = baseline["stress"]
    assert st["submitted"] == 100 and st["lost"] == 0 and st["duplicated"] == 0
    assert st["completed"] + st["failed"] + st["timed_out"] == st["submitted"]
    assert baseline["sandboxes"]["leaked"] == 0 and baseline["sandboxes_leaked"] == 0
    assert baseline["sandboxes"]["created"] == baseline["sandboxes"]["killed"] > 0

    from e2b import Sandbox
    assert Sandbox.list(**sandboxd.sdk_params).next_items() == [], "the provider still runs sandboxes"

    # measured, not typed in: latencies come with their sample counts, the judge scored real checks;
    # 100 lifecycles give the sandbox operations a P99
    for op in ("sandbox_create", "sandbox_exec", "sandbox_status"):
        assert baseline["latency"][op]["count"] >= 100 and baseline["latency"][op]["p99"] is not None, op
    assert _check(baseline, "perf.stress_task.p95")["status"] == "pass"
    assert _check(baseline, "rel.success_rate")["status"] == "pass"
    assert _check(baseline, "func.data.SPX")["status"] == "pass"
    assert _check(baseline, "func.mcp.lifecycle")["status"] == "pass"  # the MCP layer, through a real client
    assert baseline["latency"]["mcp_call"]["count"] == baseline["mcp"]["calls"] == 20
    assert 0 < baseline["readiness_score"] <= 100


def test_with_alpaca_keys_the_trading_session_orders_on_alpaca(baseline, alpaca):
    """The orders reach Alpaca's paper API (the loopback server, through alpaca-py); the
    perturbed runs below, without keys, book into the paper broker (the opposite case)."""
    pf = baseline["portfolio"]
    assert pf["broker"] == "alpaca"
    posted = [r for r in alpaca.requests if r[0] == "POST" and r[1] == "/v2/orders"]
    assert len(posted) == pf["orders"] > 0 and pf["fills"] > 0
    assert pf["invariant_violations"] == 0 and alpaca.count("/v2/positions") > 0  # checked after fills
    assert _check(baseline, "func.portfolio_invariants")["status"] == "pass"


def test_configured_secrets_reach_no_file_of_the_run_no_artifact_and_no_log(baseline):
    run = Path(baseline["report_path"]).parent
    files = [p for p in run.rglob("*") if p.is_file()]
    assert len(files) >= 6
    for path in files:
        blob = path.read_bytes()
        for canary in CANARIES.values():
            assert canary.encode() not in blob, f"{canary} leaked into {path.name}"
    from prefect.client.orchestration import get_client

    async def artifacts_and_logs() -> tuple[str, str]:
        async with get_client() as client:
            arts = [a.model_dump(mode="json") for a in await client.read_artifacts()]
            logs = [log.message for log in await client.read_logs()]
            return json.dumps(arts), "\n".join(logs)

    dump, logs = asyncio.run(artifacts_and_logs())
    assert "certification-flowtest" in dump and not any(c in dump for c in CANARIES.values())
    assert not any(c in logs for c in CANARIES.values())


def test_the_report_shows_every_key_it_claims_from_a_real_run(baseline):
    """`shown_keys()` against the baseline's real results.json, not only the crafted one."""
    from reports.markdown import shown_keys

    on_disk = json.loads((Path(baseline["report_path"]).parent / "results.json").read_text())

    def present(doc, parts: list[str]) -> bool:
        if not parts:
            return True
        head, rest = parts[0], parts[1:]
        if head.endswith("[]"):
            items = doc.get(head[:-2]) if isinstance(doc, dict) else None
            # an empty list shows nothing and claims nothing; optional fields need one item having them
            return isinstance(items, list) and (not items or any(present(i, rest) for i in items))
        if head.startswith("<") and isinstance(doc, dict):  # <op>: any operation
            return any(present(v, rest) for v in doc.values())
        return isinstance(doc, dict) and head in doc and present(doc[head], rest)

    missing = [k for k in shown_keys() if not present(on_disk, k.split("."))]
    assert not missing, missing


def test_baseline_publishes_prefect_artifacts(baseline):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    async def keys() -> set[str]:
        async with get_client() as client:
            arts = await client.read_artifacts(artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=["certification-flowtest", "certification-flowtest-metrics"])))
            return {a.key for a in arts}

    assert asyncio.run(keys()) == {"certification-flowtest", "certification-flowtest-metrics"}


def test_injected_latency_lands_in_the_chaos_phase_and_the_sla_judges_the_steady_state(baseline, tmp_path):
    chaos = {"latency_ms": 1500, "latency_fraction": 0.5, "tasks": 40, "recovery_tasks": 20}
    slow = _certify(_spec(tmp_path, "flowtest", stress={"faults": chaos}), tmp_path / "runs" / "slow")
    phases = slow["stress"]["phases"]
    assert list(phases) == ["steady", "chaos", "recovery"] and list(baseline["stress"]["phases"]) == ["steady"]
    # the faults bit, in their own phase: half its tasks waited 1.5 s
    assert phases["chaos"]["latency"]["stress_task"]["p95"] > 1000
    # the SLA is the steady state's, where nothing was injected; and the latency came back after
    check = _check(slow, "perf.stress_task.p95")
    assert check["status"] == "pass" and check["observed"] < 1000
    assert slow["latency"]["stress_task"]["count"] == phases["steady"]["submitted"] == 100
    assert _check(slow, "rel.chaos.recovery_latency")["status"] == "pass"
    assert "✓ pass" in _metric_row(slow, "perf.stress_task.p95")
    assert slow["portfolio"]["broker"] == "paper"  # no Alpaca keys: the paper broker


def test_failing_agents_in_the_chaos_phase_trip_the_abort_rule_not_the_steady_success_rate(baseline, tmp_path):
    chaos = {"fail_rate": 0.6, "tasks": 60, "recovery_tasks": 20}
    failing = _certify(_spec(tmp_path, "flowtest", stress={"faults": chaos, "abort": {"error_rate": 0.3}}),
                       tmp_path / "runs" / "failing")
    assert _check(failing, "rel.success_rate")["status"] == "pass"  # the steady state's
    assert _check(failing, "rel.stress.not_aborted")["status"] == "fail"
    assert failing["stress"]["abort_reason"].startswith("chaos phase: error rate")
    assert _check(failing, "rel.stress.abort_rule")["status"] == "pass"  # it fired when it should
    assert failing["stress"]["failed"] > 10 and failing["stress"]["lost"] == 0
    assert failing["readiness_score"] < baseline["readiness_score"]
    assert failing["verdict"] == "NOT_CERTIFIED"
    assert "NOT_CERTIFIED" in _verdict_line(failing) and f"{failing['readiness_score']:.1f}" in _verdict_line(failing)
    row = _metric_row(failing, "rel.stress.not_aborted")
    assert "✗ fail" in row and "✓ pass" in _metric_row(baseline, "rel.stress.not_aborted")
    assert f"{failing['stress']['failed']:,}" in _report(failing)  # the accounting table's failed count


def test_corrupted_data_is_caught_by_name_and_never_backtested(baseline, tmp_path, monkeypatch):
    data = tmp_path / "data"
    shutil.copytree(ROOT / "data", data)
    raw = gzip.decompress((data / "SPX.csv.gz").read_bytes()).decode().splitlines()
    header = raw[0].split(",")
    hi, lo = header.index("high"), header.index("low")
    row = raw[-100].split(",")  # inside the spec's window: high below low
    row[hi], row[lo] = row[lo], row[hi]
    raw[-100] = ",".join(row)
    blob = gzip.compress(("\n".join(raw) + "\n").encode(), mtime=0)
    (data / "SPX.csv.gz").write_bytes(blob)
    manifest = json.loads((data / "manifest.json").read_text())
    manifest["datasets"]["SPX"]["sha256"] = hashlib.sha256(blob).hexdigest()
    (data / "manifest.json").write_text(json.dumps(manifest))
    monkeypatch.setenv("TRADESWARM_DATA_DIR", str(data))

    bad = _certify(_spec(tmp_path, "flowtest"), tmp_path / "runs" / "bad-data")
    check = _check(bad, "func.data.SPX")
    assert check["status"] == "fail"
    failures = next(r for r in bad["data_validation"] if r["dataset"] == "SPX")["failures"]
    assert any("high" in json.dumps(f) for f in failures)
    assert not [b for b in bad["backtests"] if b["symbol"] == "SPX"], "failed data must not be backtested"
    assert bad["verdict"] == "NOT_CERTIFIED" and bad["readiness_score"] < baseline["readiness_score"]
    assert "NOT_CERTIFIED" in _verdict_line(bad)
    assert "✗ fail" in _metric_row(bad, "func.data.SPX") and "✓ pass" in _metric_row(baseline, "func.data.SPX")


def test_a_configured_dask_scheduler_runs_the_stress_test_as_shards(baseline, tmp_path, monkeypatch):
    """Scale-out: with TRADESWARM_DASK_ADDRESS the stress stage runs on a real Dask cluster,
    each shard in a worker process with its own sub-swarm, and the accounting stays exact."""
    import os

    from distributed import LocalCluster

    monkeypatch.setenv("PYTHONPATH", str(ROOT))  # the worker processes import the project
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster:
        monkeypatch.setenv("TRADESWARM_DASK_ADDRESS", cluster.scheduler_address)
        scaled = _certify(_spec(tmp_path, "flowtest"), tmp_path / "runs" / "dask")
    st = scaled["stress"]
    assert scaled["errors"] == {}, scaled["errors"]
    assert st["shards"] == 2 and len(set(st["shard_pids"])) == 2 and os.getpid() not in st["shard_pids"]
    assert st["submitted"] == 100 == st["completed"] + st["failed"] + st["timed_out"]
    assert st["lost"] == 0 and st["duplicated"] == 0
    assert _check(scaled, "rel.stress.accounting")["status"] == "pass"
    assert scaled["sandboxes"]["leaked"] == 0
    assert "shards" not in baseline["stress"], "without a scheduler the stress test runs in-process"
    # the shards' latency samples reach samples.json (the charts and the regression check read it)
    samples = json.loads((Path(scaled["report_path"]).parent / "samples.json").read_text())
    assert len(samples["stress_task"]) == 100 and "samples" not in st
    # the sandboxes were planned with the shards' sub-swarms, the baseline's without
    assert scaled["capacity"]["shard_agents"] >= 2 and baseline["capacity"]["shard_agents"] == 0


def test_a_sandbox_provider_that_cannot_start_still_gives_a_judged_report(baseline, tmp_path, monkeypatch):
    """Regression: a local sandboxd that failed to start raised out of the flow with no report;
    now the run is judged on the evidence it has (none of the swarm's): NOT_CERTIFIED, the cause
    named, every output written. The baseline, with a working provider, is the opposite case."""
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the state directory should be")
    monkeypatch.setenv("TRADESWARM_STATE_DIR", str(blocker))
    down = _certify(_spec(tmp_path, "flowtest"), tmp_path / "runs" / "down")
    assert "sandbox provider" in down["errors"]
    assert _check(down, "func.sandbox_lifecycle")["status"] == "nodata"
    assert _check(baseline, "func.sandbox_lifecycle")["status"] == "pass"
    # no stress stage, no projection (it once priced a fixed fleet whatever the run measured)
    assert _check(down, "cost.budget.projected")["status"] == "nodata"
    assert _check(baseline, "cost.budget.projected")["status"] in ("pass", "warn")
    assert down["verdict"] == "NOT_CERTIFIED" and down["readiness_score"] < baseline["readiness_score"]
    run = Path(down["report_path"]).parent
    assert all((run / n).is_file() for n in ("report.md", "results.json", "junit.xml"))


def test_an_e2b_key_alone_selects_e2b_and_an_unreachable_e2b_is_a_clear_not_certified(
        baseline, tmp_path, monkeypatch, capfd):
    """Only E2B_API_KEY set (its API on a dead loopback port, so no network is touched): the
    run uses the e2b provider, fails fast naming it, and is judged NOT_CERTIFIED with every
    output written and the key nowhere. The baseline (no key) ran on local."""
    key = "canary-e2b-key-7f3a"
    monkeypatch.setenv("E2B_API_KEY", key)
    for var in ("E2B_API_URL", "E2B_SANDBOX_URL"):
        monkeypatch.setenv(var, "http://127.0.0.1:9")
    capfd.readouterr()
    down = _certify(_spec(tmp_path, "flowtest"), tmp_path / "runs" / "e2b")
    out, err = capfd.readouterr()
    assert down["provider"] == "e2b" and baseline["provider"] == "local"
    assert down["errors"]["sandbox provider"].startswith("e2b: "), down["errors"]
    assert down["verdict"] == "NOT_CERTIFIED" and down["readiness_score"] < baseline["readiness_score"]
    assert "Traceback" not in out + err
    run = Path(down["report_path"]).parent
    assert all((run / n).is_file() for n in ("report.md", "results.json", "junit.xml"))
    assert "e2b" in _report(down)
    for path in (p for p in run.rglob("*") if p.is_file()):
        assert key.encode() not in path.read_bytes(), path.name
    assert key not in out + err
