"""Agent spec validation (before anything starts) and the runner's config, as plain functions."""

from __future__ import annotations

import json

import pytest

from tradeswarm.agents import runner
from tradeswarm.agents.deploy import AgentSpec, agent_config, runner_source, validate_spec


def test_valid_spec_fills_defaults_and_normalises_symbols():
    spec = validate_spec("sma_crossover", " spx, syn3 ", {"fast": 5, "slow": 20})
    assert spec == AgentSpec("sma_crossover", {"fast": 5, "slow": 20}, ("SPX", "SYN3"))
    assert validate_spec("momentum", ["NDX"]).params  # defaults filled in


@pytest.mark.parametrize("args, kw, message", [
    (("astrology", ["SPX"]), {}, "unknown strategy"),
    (("sma_crossover", ["SPX"], {"fast": 50, "slow": 10}), {}, "invalid params for sma_crossover"),
    (("momentum", ["SPX"], {"nope": 1}), {}, "nope"),
    (("momentum", ["AAPL"]), {}, "unknown symbol(s) AAPL"),
    (("momentum", []), {}, "at least one symbol"),
    (("momentum", ["SPX"]), {"fail_rate": 1.5}, "fail_rate"),
])
def test_invalid_specs_are_refused_with_one_line(args, kw, message):
    with pytest.raises(ValueError) as info:
        validate_spec(*args, **kw)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_config_round_trips_into_the_runner_agent():
    spec = validate_spec("breakout", ["SPX"], fail_rate=0.25, fail_seed=3)
    cfg = json.loads(json.dumps(agent_config("a9", spec, heartbeat_s=0.5, synthetic={"bars": 300, "seed": 1})))
    agent = runner.Agent(cfg, send=lambda _: None)
    try:
        assert (agent.id, agent.type, agent.symbols, agent.fail_rate) == ("a9", "breakout", ["SPX"], 0.25)
        assert agent.params.model_dump() == spec.params
    finally:
        agent.close()


def test_uploaded_runner_is_this_package_runner():
    assert runner_source() == open(runner.__file__, "rb").read()
