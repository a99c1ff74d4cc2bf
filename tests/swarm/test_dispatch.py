"""Dispatch policies as plain functions over stand-in agent records (pure logic, no processes)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from tradeswarm.swarm.dispatch import Dispatcher, NoAgentError, check_policy, choose


@dataclass
class A:
    id: str
    type: str = "momentum"
    symbols: list = field(default_factory=lambda: ["SPX"])
    inflight: int = 0
    served: int = 0
    alive: bool = True


def test_round_robin_cycles_through_capable_agents():
    agents = [A("a"), A("b"), A("c", symbols=["GOOG"]), A("d")]
    d = Dispatcher("round_robin")
    picks = [d.choose(agents, symbol="SPX").id for _ in range(6)]
    assert picks == ["a", "b", "d", "a", "b", "d"]


def test_least_loaded_prefers_fewest_in_flight_then_fewest_served():
    agents = [A("a", inflight=3), A("b", inflight=1, served=9), A("c", inflight=1, served=2)]
    assert choose("least_loaded", agents, symbol="SPX").id == "c"
    agents[2].inflight = 5
    assert choose("least_loaded", agents, symbol="SPX").id == "b"


def test_capability_filters_by_type_and_symbol_others_ignore_type():
    agents = [A("m", "momentum", inflight=0), A("b", "breakout", inflight=4), A("g", "breakout", ["GOOG"])]
    assert choose("capability", agents, symbol="SPX", agent_type="breakout").id == "b"
    assert choose("least_loaded", agents, symbol="SPX", agent_type="breakout").id == "m"
    with pytest.raises(NoAgentError):
        choose("capability", agents, symbol="NDX", agent_type="breakout")


def test_dead_and_excluded_agents_are_never_chosen():
    agents = [A("a", alive=False), A("b"), A("c")]
    for policy in ("round_robin", "least_loaded", "capability"):
        for _ in range(4):
            assert choose(policy, agents, symbol="SPX", exclude={"b"}).id == "c"
    with pytest.raises(NoAgentError):
        choose("least_loaded", agents, symbol="SPX", exclude={"b", "c"})


def test_an_agent_without_symbol_list_serves_any_symbol():
    assert choose("least_loaded", [A("x", symbols=[])], symbol="SYN7").id == "x"


def test_pick_returns_k_distinct_agents_or_fewer():
    agents = [A(str(i), inflight=i) for i in range(5)]
    d = Dispatcher("least_loaded")
    assert [a.id for a in d.pick(agents, 3, symbol="SPX")] == ["0", "1", "2"]
    assert len(d.pick(agents, 9, symbol="SPX")) == 5
    rr = Dispatcher("round_robin")
    first, second = rr.pick(agents, 3, symbol="SPX"), rr.pick(agents, 3, symbol="SPX")
    assert len({a.id for a in first}) == 3 and first != second


def test_unknown_policy_is_refused():
    with pytest.raises(ValueError, match="known: round_robin"):
        check_policy("random")
