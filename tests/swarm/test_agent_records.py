"""The persisted agent registry and the CLI's duration parsing, as plain functions."""

from __future__ import annotations

import json

import pytest

from tradeswarm.cli._common import UsageError
from tradeswarm.cli.swarm import parse_duration
from tradeswarm.swarm import agent_records


def test_registry_round_trip_keeps_only_known_fields(tmp_path):
    assert agent_records.load(tmp_path) == []
    rec = {"agent_id": "a1", "sandbox_id": "s1", "pid": 42, "runner_pid": 42, "type": "momentum",
           "params": {"lookback": 20}, "symbols": ["SPX"], "fail_rate": 0.0, "fail_seed": 0,
           "heartbeat_s": 1.0, "deployed_at": 1.0, "deploy_ms": 900.0, "secret": "x"}
    agent_records.save(tmp_path, [rec])
    (back,) = agent_records.load(tmp_path)
    assert "secret" not in back and back["params"] == {"lookback": 20} and back["pid"] == 42
    assert not [p for p in agent_records.registry_path(tmp_path).parent.iterdir() if p.name.endswith(".tmp")]


def test_unreadable_registry_is_an_error_not_an_empty_swarm(tmp_path):
    path = agent_records.registry_path(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text("{half")
    with pytest.raises(agent_records.RegistryError, match="unreadable"):
        agent_records.load(tmp_path)
    path.write_text(json.dumps({"schema": "other"}))
    with pytest.raises(agent_records.RegistryError, match="not an agent registry"):
        agent_records.load(tmp_path)


@pytest.mark.parametrize("text, seconds", [("5s", 5.0), ("250ms", 0.25), ("2m", 120.0), ("1h", 3600.0), ("3", 3.0)])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["soon", "5 parsecs", "-1s", ""])
def test_bad_durations_are_usage_errors(text):
    with pytest.raises(UsageError):
        parse_duration(text)
