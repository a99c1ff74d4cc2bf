"""The alert rules under `promtool`: valid, every alert tested firing and not firing, and the
unit tests able to fail (a rule with a moved threshold breaks them)."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml

from tests.monitoring._support import RULES_DIR, binary

SEED_ALERTS = {"TradeswarmCostOverBudget", "TradeswarmLatencyP95High", "TradeswarmSuccessRateLow",
               "TradeswarmErrorRateHigh"}
OUR_ALERTS = {"TradeswarmNotCertified", "TradeswarmNightlyCertificationMissing", "TradeswarmSandboxLeaked"}


def _alerts() -> dict[str, dict]:
    doc = yaml.safe_load((RULES_DIR / "alerts.yml").read_text())
    return {r["alert"]: r for g in doc["groups"] for r in g["rules"] if "alert" in r}


def _promtool(*args: str, cwd=RULES_DIR) -> subprocess.CompletedProcess:
    return subprocess.run([binary("promtool"), *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_the_rules_hold_the_seeds_four_alerts_and_ours():
    assert set(_alerts()) == SEED_ALERTS | OUR_ALERTS


def test_promtool_checks_the_rules():
    out = _promtool("check", "rules", "alerts.yml")
    assert out.returncode == 0, out.stdout + out.stderr


def test_promtool_unit_tests_pass():
    out = _promtool("test", "rules", "alerts_test.yml")
    assert out.returncode == 0, out.stdout + out.stderr


def test_every_alert_is_tested_firing_and_not_firing():
    doc = yaml.safe_load((RULES_DIR / "alerts_test.yml").read_text())
    firing, quiet = set(), set()
    for case in doc["tests"]:
        for t in case.get("alert_rule_test", []):
            (firing if t.get("exp_alerts") else quiet).add(t["alertname"])
    assert firing == set(_alerts()), f"never tested firing: {set(_alerts()) - firing}"
    assert quiet == set(_alerts()), f"never tested quiet: {set(_alerts()) - quiet}"


def test_unit_tests_fail_when_a_threshold_moves(tmp_path):
    """The opposite case: the success-rate alert at 80 % instead of 90 % must break the tests."""
    shutil.copy(RULES_DIR / "alerts_test.yml", tmp_path)
    rules = (RULES_DIR / "alerts.yml").read_text()
    assert "tradeswarm_certification_stress_success_ratio < 0.90" in rules
    (tmp_path / "alerts.yml").write_text(rules.replace("stress_success_ratio < 0.90", "stress_success_ratio < 0.80"))
    out = _promtool("test", "rules", "alerts_test.yml", cwd=tmp_path)
    assert out.returncode != 0 and "TradeswarmSuccessRateLow" in out.stdout + out.stderr


def test_a_missing_binary_fails_in_ci_and_skips_elsewhere(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setenv("TRADESWARM_REQUIRE_PROMETHEUS", "1")
    with pytest.raises(pytest.fail.Exception, match="missing in CI"):
        binary("promtool")
    monkeypatch.delenv("TRADESWARM_REQUIRE_PROMETHEUS")
    with pytest.raises(pytest.skip.Exception):
        binary("promtool")
