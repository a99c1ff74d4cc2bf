"""Consensus rules as properties over random vote sets (hypothesis), plus pinned examples."""

from __future__ import annotations

from collections import Counter
from fractions import Fraction

import pytest
from hypothesis import given, settings, strategies as st

from tradeswarm.swarm.consensus import ACTIONS, Rule, Vote, decide

TYPES = ("sma_crossover", "momentum", "mean_reversion", "breakout")


@st.composite
def rounds(draw, weighted: bool = False):
    """A round: `asked` agents, a subset of them voting, actions and confidences at random."""
    asked = draw(st.integers(min_value=1, max_value=9))
    n = draw(st.integers(min_value=0, max_value=asked))
    votes = [Vote(f"a{i}", draw(st.sampled_from(TYPES)), draw(st.sampled_from(ACTIONS)),
                  draw(st.floats(min_value=0.0, max_value=1.0)))
             for i in range(n)]
    return votes, asked


def veto(i: int = 99) -> Vote:
    return Vote(f"r{i}", "risk_manager", "SELL", 1.0, veto=True)


@given(rounds())
def test_missing_quorum_always_holds(r):
    votes, asked = r
    d = decide(votes, asked)
    if 3 * len(votes) < 2 * asked:
        assert (d.action, d.reason) == ("HOLD", "no_quorum" if votes else "no_votes")


@given(rounds())
def test_a_decided_action_has_two_thirds_of_votes_and_quorum(r):
    votes, asked = r
    d = decide(votes, asked)
    counts = Counter(v.action for v in votes)
    if d.reason == "decided":
        assert 3 * counts[d.action] >= 2 * len(votes)
        assert 3 * len(votes) >= 2 * asked
        assert all(counts[d.action] > c for a, c in counts.items() if a != d.action)
    else:
        assert d.action == "HOLD"


@given(rounds())
def test_the_converse_a_clear_two_thirds_majority_with_quorum_is_decided(r):
    votes, asked = r
    counts = Counter(v.action for v in votes)
    if votes and 3 * len(votes) >= 2 * asked:
        top, n = counts.most_common(1)[0]
        if 3 * n >= 2 * len(votes):
            assert decide(votes, asked).action == top


@given(rounds())
def test_ties_hold(r):
    votes, asked = r
    counts = Counter(v.action for v in votes).most_common()
    if len(counts) >= 2 and counts[0][1] == counts[1][1]:
        d = decide(votes, asked, Rule(threshold=Fraction(0), quorum=Fraction(0)))
        assert (d.action, d.reason) == ("HOLD", "tie")


@given(rounds())
def test_veto_blocks_buy_but_never_sell(r):
    votes, asked = r
    plain = decide(votes, asked + 1)
    vetoed = decide([*votes, veto()], asked + 1)
    if plain.action == "SELL":
        assert vetoed.action == "SELL"
    if vetoed.action == "SELL":
        return  # the veto's own SELL vote may have tipped it: allowed
    if plain.action == "BUY" or vetoed.reason == "vetoed":
        assert vetoed.action == "HOLD"
    # a veto never turns a decision into BUY
    assert vetoed.action != "BUY"


def test_veto_blocks_a_unanimous_buy():
    votes = [Vote(f"a{i}", "momentum", "BUY") for i in range(5)]
    assert decide(votes, 6).action == "BUY"
    d = decide([*votes, Vote("r", "risk_manager", "HOLD", veto=True)], 6)
    assert (d.action, d.reason, d.vetoed) == ("HOLD", "vetoed", True)


def test_veto_does_not_block_a_sell():
    votes = [Vote(f"a{i}", "momentum", "SELL") for i in range(3)]
    assert decide([*votes, veto()], 4).action == "SELL"


@given(rounds())
@settings(max_examples=200)
def test_weighted_rule_uses_confidence_shares(r):
    votes, asked = r
    d = decide(votes, asked, Rule(weighted=True))
    weight = Counter()
    for v in votes:
        weight[v.action] += Fraction(v.confidence).limit_denominator(10**6)
    total = sum(weight.values())
    if d.reason == "decided":
        assert 3 * weight[d.action] >= 2 * total
    elif votes and 3 * len(votes) >= 2 * asked and total > 0:
        top = max(ACTIONS, key=lambda a: weight[a])
        if 3 * weight[top] >= 2 * total and sorted(weight.values())[-2] < weight[top]:
            pytest.fail(f"weighted majority {top} not decided: {d}")


def test_weighted_and_count_rules_disagree_where_they_should():
    # two lukewarm BUYs against one confident SELL: counts say BUY, weights say SELL (0.9 of 1.1)
    votes = [Vote("a", "momentum", "BUY", 0.1), Vote("b", "breakout", "BUY", 0.1),
             Vote("c", "sma_crossover", "SELL", 0.9)]
    assert decide(votes, 3).action == "BUY"
    assert decide(votes, 3, Rule(weighted=True)).action == "SELL"


def test_exactly_two_thirds_is_enough_and_just_below_is_not():
    two_of_three = [Vote("a", "m", "BUY"), Vote("b", "m", "BUY"), Vote("c", "m", "SELL")]
    assert decide(two_of_three, 3).action == "BUY"
    five_of_eight = [Vote(f"a{i}", "m", "BUY") for i in range(5)] + [Vote(f"b{i}", "m", "SELL") for i in range(3)]
    assert decide(five_of_eight, 8).reason == "below_threshold"
    # quorum: 2 of 3 asked is enough, 1 of 3 is not
    assert decide(two_of_three[:2], 3).action == "BUY"
    assert decide(two_of_three[:1], 3).reason == "no_quorum"


def test_rule_refuses_shares_outside_unit_interval_and_votes_beyond_asked():
    with pytest.raises(ValueError):
        Rule(threshold=1.5)
    with pytest.raises(ValueError):
        decide([Vote("a", "m", "BUY"), Vote("b", "m", "BUY")], 1)
    with pytest.raises(ValueError):
        decide([Vote("a", "m", "LONG")], 1)


def test_a_risk_managers_hold_does_not_outvote_a_lone_strategy_agent():
    """Regression: execute rounds of one strategy agent + one risk manager could never BUY,
    because the risk manager's routine HOLD tied the strategy's BUY."""
    buy, calm = Vote("a", "momentum", "BUY"), Vote("r", "risk_manager", "HOLD")
    assert decide([buy, calm], 2).action == "BUY"
    assert decide([buy, Vote("r", "risk_manager", "SELL", veto=True)], 2).action == "HOLD"
    assert decide([calm], 2).reason == "no_quorum"
    assert (decide([calm, Vote("r2", "risk_manager", "HOLD")], 2).action) == "HOLD"


@given(rounds())
def test_a_calm_risk_manager_changes_nothing_but_the_quorum(r):
    votes, asked = r
    with_calm = decide([*votes, Vote("r", "risk_manager", "HOLD")], asked + 1)
    if 3 * (len(votes) + 1) >= 2 * (asked + 1) and votes:
        assert with_calm.action == decide(votes, len(votes)).action
