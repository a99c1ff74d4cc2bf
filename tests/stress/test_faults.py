"""Fault parsing: CLI strings, spec blocks, and clear errors for the unknown."""

import pytest

from tradeswarm.stress.config import StressConfig
from tradeswarm.stress.faults import FaultError, as_faults, parse_fault


@pytest.mark.parametrize("text,kind,params", [
    ("kill-sandbox=2", "kill-sandbox", {"count": 2, "at": 0.3}),
    ("kill-sandbox=1@0.5", "kill-sandbox", {"count": 1, "at": 0.5}),
    ("answer-fail=10%", "answer-fail", {"fraction": 0.1}),
    ("answer-fail=0.25", "answer-fail", {"fraction": 0.25}),
    ("latency=0.2:150", "latency", {"fraction": 0.2, "ms": 150.0}),
    ("create-fail=3", "create-fail", {"count": 3, "at": 0.3}),
    ("rate-limit=1.5", "rate-limit", {"seconds": 1.5, "at": 0.3}),
])
def test_parse_fault(text, kind, params):
    f = parse_fault(text)
    assert (f.kind, f.params) == (kind, params)


@pytest.mark.parametrize("text,msg", [
    ("explode=1", "unknown fault 'explode'"),
    ("kill-sandbox", "needs a value"),
    ("kill-sandbox=0", ">= 1"),
    ("answer-fail=1.5", "fraction"),
    ("latency=0.1:-5", "> 0"),
    ("rate-limit=abc", "bad fault"),
])
def test_bad_faults_are_refused_with_a_clear_message(text, msg):
    with pytest.raises(FaultError, match=msg):
        parse_fault(text)


def test_spec_faults_block_becomes_faults_and_zero_means_off():
    cfg = StressConfig.of({"faults": {"kill_sandboxes": 1, "fail_rate": 0.0, "latency_ms": 40,
                                      "latency_fraction": 0.1, "rate_limit_s": 0}})
    assert [f.kind for f in cfg.faults] == ["kill-sandbox", "latency"]
    assert StressConfig.of({}).faults == []


def test_dict_faults_round_trip():
    (f,) = as_faults([{"kind": "create-fail", "params": {"count": 2, "at": 0.1}}])
    assert f.params == {"count": 2, "at": 0.1}
    with pytest.raises(FaultError):
        as_faults([{"kind": "meteor", "params": {}}])


def test_spec_abort_block_maps_to_the_rule():
    cfg = StressConfig.of({"abort": {"error_rate": 0.2, "warmup_tasks": 10}})
    assert (cfg.abort.max_error_rate, cfg.abort.warmup) == (0.2, 10)
    assert StressConfig.of({"abort": None}).abort is None


def test_open_mode_needs_a_rate():
    with pytest.raises(ValueError, match="needs a rate"):
        StressConfig.of({"mode": "open", "rate": None})


def test_server_faults_at_zero_are_armed_before_deploy_and_mid_run_by_default():
    from tradeswarm.stress.faults import before_deploy

    assert before_deploy(parse_fault("create-fail=2@0"))
    assert before_deploy(parse_fault("rate-limit=0.5@0"))
    assert not before_deploy(parse_fault("create-fail=2"))  # default at 0.3: mid-run
    assert not before_deploy(parse_fault("kill-sandbox=1@0"))  # no create to hit
    (f,) = as_faults([{"kind": "create-fail", "params": {"count": 2, "at": 0}}])
    assert before_deploy(f)


class _ServerTarget:
    """A fault target whose server counter moves by `bites` per injection (None: unreadable)."""

    def __init__(self, bites):
        self.bites, self.count = bites, 0

    async def fail_next_creates(self, count):
        pass

    async def add_agent(self):
        self.count += self.bites or 0
        return {"ok": True}

    async def server_faults_injected(self):
        return None if self.bites is None else self.count


@pytest.mark.parametrize("bites,injected,delta", [(2, True, 2), (0, False, 0), (None, True, None)])
def test_a_server_fault_counts_as_injected_only_when_the_server_saw_it_bite(bites, injected, delta):
    import asyncio

    from tradeswarm.stress.faults import NOT_OBSERVABLE, FaultPlan

    plan = FaultPlan([parse_fault("create-fail=2@0.5")], _ServerTarget(bites), 10, seed=0)

    async def go():
        await plan.start()
        plan.on_submitted(5, "000005")
        await plan.finish()

    asyncio.run(go())
    (rec,) = plan.records
    counter = rec["detail"]["server_faults_injected"]
    assert rec["injected"] is injected and counter["delta"] == delta
    assert (counter.get("note") == NOT_OBSERVABLE) is (bites is None)


def _picked(seed: int, faults=("answer-fail=0.1", "latency=0.2:50"), n=500) -> dict[str, list[str]]:
    """The tasks each per-task fault picks among `n` chaos tasks, asked in a shuffled order."""
    import random

    from tradeswarm.stress.faults import FaultPlan

    plan = FaultPlan(as_faults(faults), None, n, seed)
    keys = [f"{i:06d}" for i in range(n)]
    random.Random().shuffle(keys)  # the order tasks reach the dice must not matter
    for key in keys:
        plan.fails(key)
        plan.delay_ms(key)
    return {r["kind"]: sorted(r["tasks"]) for r in plan.records}


def test_the_same_seed_picks_the_same_faulted_tasks_in_any_order_and_another_seed_others():
    a, b, other = _picked(42), _picked(42), _picked(43)
    assert a == b
    assert 25 <= len(a["answer-fail"]) <= 80 and 60 <= len(a["latency"]) <= 140
    assert a["answer-fail"] != other["answer-fail"] and a["latency"] != other["latency"]
    # each fault has its own dice: latency does not pick the tasks answer-fail picked
    assert set(a["answer-fail"]) != set(a["latency"]) & set(a["answer-fail"])
