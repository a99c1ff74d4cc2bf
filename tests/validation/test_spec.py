"""The certification spec: profiles load, bad input names its key, the schema exports."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import jsonschema
import pytest
import yaml

from tradeswarm.cli._common import run_cli
from validation.spec import PROFILES_DIR, SpecError, json_schema, load_spec, profile_names


def _smoke() -> dict:
    return yaml.safe_load((PROFILES_DIR / "smoke.yaml").read_text())


@pytest.mark.parametrize("name", ["smoke", "standard", "nightly"])
def test_every_shipped_profile_is_valid(name):
    s = load_spec(name)
    assert s.name == name
    assert sum(s.scoring.weights.values()) == 100
    assert s.sandboxes.count >= 1 and s.agent_count >= s.stress.consensus_k


def test_profiles_scale_up_from_smoke_to_nightly():
    smoke, std, nightly = (load_spec(n) for n in ("smoke", "standard", "nightly"))
    assert (smoke.sandboxes.count, smoke.agent_count, smoke.stress.tasks) == (2, 3, 100)
    assert std.agent_count == 5 and std.stress.tasks == 1000 and std.data.datasets == ["SPX", "NDX", "GOOG"]
    assert nightly.stress.tasks > std.stress.tasks and nightly.history.k > std.history.k
    # more data: every standard dataset plus synthetic series, each backtested by every strategy
    extra = [d for d in nightly.data.datasets if d not in std.data.datasets]
    assert set(std.data.datasets) < set(nightly.data.datasets) and extra and all(d.startswith("SYN") for d in extra)
    assert len(nightly.backtest_symbols) > len(std.backtest_symbols)
    assert (nightly.data.start, nightly.data.end) == (std.data.start, std.data.end) == (None, None)  # the whole series


def test_nightly_synthetic_datasets_are_served_by_the_market_data_layer():
    """The pipeline loads a dataset by name (tasks.research.load → get_frames): SYN<n> comes from the seeded generator."""
    from tradeswarm.marketdata import get_frames, is_synthetic

    extra = [d for d in load_spec("nightly").data.datasets if is_synthetic(d)]
    assert extra and not is_synthetic("SPX")
    frames = get_frames(extra[:1], end="2001-01-02")
    assert frames[extra[0]].attrs["source"] == "synthetic" and len(frames[extra[0]]) > 250
    assert profile_names() == ["nightly", "smoke", "standard"]


def test_default_sla_is_the_replaced_systems_table():
    s = load_spec({k: v for k, v in _smoke().items() if k != "sla"})
    assert {k: [r.expr for r in v] for k, v in s.sla.items()} == {
        "sandbox_create": ["p95 < 5000ms"], "sandbox_exec": ["p95 < 2000ms"], "sandbox_status": ["p95 < 500ms"],
        "agent_deploy": ["p95 < 6000ms"], "consensus": ["p95 < 1000ms"], "success_rate": [">= 0.90"],
        "error_rate": ["< 5%"], "throughput_per_s": [">= 100"]}
    assert s.cost.budget_daily_usd == 5.0


def test_default_throughput_rule_is_the_shipped_default_profiles():
    """The default SLA's throughput floor is the one the default profile (standard, whose load the
    stress defaults are) and nightly ship; smoke, a lighter load, sets its own."""
    default = load_spec({k: v for k, v in _smoke().items() if k != "sla"}).sla["throughput_per_s"]
    assert [r.expr for r in default] == [r.expr for r in load_spec("standard").sla["throughput_per_s"]]
    assert [r.expr for r in default] == [r.expr for r in load_spec("nightly").sla["throughput_per_s"]]
    assert load_spec("smoke").stress.rate < load_spec("standard").stress.rate


@pytest.mark.parametrize("override, path", [
    ({"stress": {"faults": {"kil_sandboxes": 1}}}, "stress.faults.kil_sandboxes: unknown key"),
    ({"sandboxez": 3}, "sandboxez: unknown key"),
    ({"sla": {"sandbox_create": ["p95 < fast"]}}, "sla.sandbox_create[0].expr: threshold 'p95 < fast': expected a number"),
    ({"sla": {"sandbox_creat": ["p95 < 5s"]}}, "unknown SLA metric 'sandbox_creat'"),
    ({"sla": {"success_rate": ["p95 >= 0.9"]}}, "a single value takes no 'p95'"),
    ({"sla": {"sandbox_create": ["p95 < 5%"]}}, "needs a time unit"),
    ({"scoring": {"weights": {"functionality": 30, "performance": 25, "cost": 25, "reliability": 15, "documentation": 10}}},
     "scoring.weights: weights must sum to 100, they sum to 105"),
    ({"scoring": {"pass": 70, "marginal": 80}}, "marginal (80) must not exceed pass (70)"),
    ({"stress": {"mode": "sideways"}}, "stress.mode"),
    ({"stress": {"tasks": 0}}, "stress.tasks"),
    ({"cost": {"price_table": "aws"}}, "price table 'aws' not found"),
    ({"cost": {"per_1000_tasks": "< 5ms"}}, "takes a $ amount"),
    ({"backtest": {"strategies": [{"name": "sma_crossover", "sweep": {"fast": "10:5:1"}}]}}, "stop >= start"),
    ({"data": {"start": "2019-01-01", "end": "2018-01-01"}}, "must be before end"),
    ({"stress": {"consensus_k": 9}}, "consensus_k=9 exceeds"),
    ({"history": {"latency_warn_pct": 30, "latency_fail_pct": 20}}, "warn bands"),
    ({"waivers": [{"check": "*", "reason": "waive everything tonight", "owner": "ops", "expires": "2030-01-01"}]},
     "waivers[0].check: '*' is not within one category"),
    ({"waivers": [{"check": "*.p95", "reason": "waive every p95 tonight", "owner": "ops", "expires": "2030-01-01"}]},
     "waivers[0].check: '*.p95' is not within one category"),
    ({"waivers": [{"check": "perf.task.p95", "reason": "both spellings given", "owner": "ops", "expires": "2030-01-01",
                   "expiry": "2030-01-02"}]}, "waivers[0].expiry: unknown key"),
    ({"sla": {"stress_task": ["p(9.99) < 5ms"]}}, "sla.stress_task[0].expr: threshold 'p(9.99) < 5ms': percentile 9.99"),
    ({"backtest": {"strategies": [{"name": "sma_crossover", "sweep": {"fast": "0:inf:1"}}]}}, "expected a list or 'start:stop:step'"),
    ({"backtest": {"strategies": [{"name": "sma_crossover", "sweep": {"fast": "0:1e9:1"}}]}}, "more than 100,000"),
])
def test_errors_name_the_bad_key(override, path):
    with pytest.raises(SpecError) as e:
        load_spec("smoke", overrides=override)
    assert path in str(e.value)
    assert "smoke.yaml" in str(e.value)


def test_weights_must_name_every_category():
    data = _smoke()
    data["scoring"]["weights"] = {"functionality": 55, "performance": 25, "cost": 20}
    with pytest.raises(SpecError, match=r"scoring.weights: missing weights for \['documentation', 'reliability'\]"):
        load_spec(data)


def test_waiver_needs_reason_owner_and_expiry():
    with pytest.raises(SpecError) as e:
        load_spec("smoke", overrides={"waivers": [{"check": "perf.task.p95"}]})
    for key in ("waivers[0].reason", "waivers[0].owner", "waivers[0].expires"):
        assert key in str(e.value)
    s = load_spec("smoke", overrides={"waivers": [
        {"check": "perf.task.p95", "reason": "known slow CI runner", "owner": "ops", "expires": "2026-01-31"}]})
    w = s.waivers[0]
    assert w.active(datetime(2026, 1, 31, 23, 0, tzinfo=timezone.utc))
    assert not w.active(datetime(2026, 2, 1, 0, 0, tzinfo=timezone.utc))


def test_sweep_grid_strings_expand_inclusively():
    s = load_spec("smoke", overrides={"backtest": {"strategies": [
        {"name": "sma_crossover", "sweep": {"fast": "5:20:5", "slow": [50, 100]}}]}})
    st = s.backtest.strategies[0]
    assert st.sweep["fast"] == [5, 10, 15, 20] and st.trials == 8


def test_bad_files(tmp_path):
    with pytest.raises(SpecError, match="no such file or profile"):
        load_spec(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(SpecError, match="not valid YAML at line"):
        load_spec(bad)
    bad.write_text("- a list\n")
    with pytest.raises(SpecError, match="mapping"):
        load_spec(bad)


def test_resolved_spec_reloads_identically(tmp_path):
    s = load_spec("standard")
    f = tmp_path / "resolved.yaml"
    f.write_text(yaml.safe_dump(s.resolved()))
    assert load_spec(f) == s


def test_json_schema_rejects_unknown_keys():
    schema = json_schema()
    assert schema["additionalProperties"] is False
    assert schema["$defs"]["FaultsSpec"]["additionalProperties"] is False
    assert "pass" in schema["$defs"]["ScoringSpec"]["properties"]


def _as_json(data):
    """A YAML document as the JSON the schema describes (YAML dates become ISO strings)."""
    return json.loads(json.dumps(data, default=str))


def _schema_errors(data) -> list[str]:
    validator = jsonschema.Draft202012Validator(json_schema(), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(_as_json(data))]


@pytest.mark.parametrize("path", sorted(PROFILES_DIR.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_shipped_profile_validates_against_the_exported_schema(path):
    data = yaml.safe_load(path.read_text())
    assert _schema_errors(data) == []
    data["stres"] = {}
    assert any("'stres' was unexpected" in e for e in _schema_errors(data))


WAIVER = {"check": "perf.task.p95", "reason": "known slow CI runner", "owner": "ops"}
AGREEMENT = [  # (override of smoke, valid?) judged the same way by the loader and the schema
    ({"sla": {"task": ["p95 < 100ms", {"expr": "p99 < 300ms", "critical": False}]}}, True),
    ({"backtest": {"strategies": [{"name": "sma_crossover", "sweep": {"fast": "5:20:5", "slow": [50, 100]}}]}}, True),
    ({"waivers": [WAIVER | {"expiry": "2030-01-31"}]}, True),
    ({"waivers": [WAIVER | {"expires": "2030-01-31T12:00:00Z"}]}, True),
    ({"scoring": {"pass": 85, "marginal": 70}}, True),
    ({"scoring": {"pass_threshold": 85}}, False),
    ({"sla": {"task": [{"expr": "p95 < 100ms", "critcal": False}]}}, False),
    ({"sla": {"task": [95]}}, False),
    ({"backtest": {"strategies": [{"name": "sma_crossover", "sweep": {"fast": "5-20"}}]}}, False),
    ({"waivers": [WAIVER]}, False),
    ({"waivers": [WAIVER | {"expires": "2030-01-31", "expiry": "2030-01-31"}]}, False),
    ({"waivers": [WAIVER | {"check": "*", "expires": "2030-01-31"}]}, False),
    ({"stress": {"faults": {"kil_sandboxes": 1}}}, False),
]


@pytest.mark.parametrize("override, valid", AGREEMENT, ids=[json.dumps(o)[:60] for o, _ in AGREEMENT])
def test_schema_and_loader_agree(override, valid):
    data = {**_smoke(), **override}
    errors = _schema_errors(data)
    assert (errors == []) == valid, errors
    try:
        load_spec(data)
        loaded = True
    except SpecError:
        loaded = False
    assert loaded == valid


def test_cli_spec_schema_and_check(tmp_path, capsys):
    assert run_cli(["spec", "schema", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["title"] == "tradeswarm certification spec"
    assert run_cli(["spec", "check", str(PROFILES_DIR / "smoke.yaml"), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["valid"] and doc["agents"] == 3 and doc["stress_tasks"] == 100
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(_smoke() | {"stres": {}}))
    assert run_cli(["spec", "check", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "stres: unknown key" in err and "Traceback" not in err


@pytest.mark.parametrize("name", ["smoke", "standard", "nightly"])
def test_spec_sections_feed_the_engines_unchanged(name):
    """The backtest, data-contract and stress engines accept the spec's sections as they are."""
    from tradeswarm.backtest.settings import BacktestSettings
    from tradeswarm.stress.config import StressConfig
    from validation.contract import ContractSettings

    s = load_spec(name)
    b = BacktestSettings.from_any(s.backtest_settings())
    assert (b.min_trades, b.cost_multiplier, b.walk_forward_folds) == (
        s.backtest.gates.min_trades, s.backtest.gates.cost_multiplier, s.backtest.walk_forward_folds)
    assert ContractSettings.from_any(s.data.contract).max_gap_days == s.data.contract.max_gap_days
    cfg = StressConfig.of(s.stress)
    assert cfg.tasks == s.stress.tasks and len(cfg.faults) == len(s.stress.faults.enabled())


def test_the_spec_knows_the_registered_strategies_by_name():
    # one source: the spec's names are the registry's (the spec keeps a copy so loading it
    # need not import pandas; this holds the copy equal)
    from tradeswarm.agents.strategies import STRATEGIES
    from validation.spec import STRATEGY_NAMES

    assert STRATEGY_NAMES == tuple(STRATEGIES)
