"""Scoring and verdict properties (hypothesis): failures never help, critical failures block, boundaries hold."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import assume, given, settings, strategies as st

from validation.checks import PASSING, STATUSES, Check, apply_waivers
from validation.scoring import CERTIFIED, CONDITIONAL, NOT_CERTIFIED, category_scores, readiness, verdict
from validation.spec import CATEGORIES, Waiver, load_spec

WEIGHTS = {"functionality": 30.0, "performance": 25.0, "cost": 20.0, "reliability": 15.0, "documentation": 10.0}


def mk(category: str, status: str, critical: bool = False, cid: str = "c") -> Check:
    return Check(cid, category, "", "", None, None, status, critical, "")


check_lists = st.lists(st.builds(mk, st.sampled_from(CATEGORIES), st.sampled_from(STATUSES), st.booleans()),
                       min_size=1, max_size=40)


def score(checks: list[Check]) -> float:
    return readiness(category_scores(checks, WEIGHTS))


@given(check_lists, st.data())
def test_score_never_rises_when_a_check_flips_from_pass_to_fail(checks, data):
    i = data.draw(st.integers(0, len(checks) - 1))
    checks[i].status = "pass"
    before = score(checks)
    checks[i].status = data.draw(st.sampled_from(["fail", "nodata", "error"]))
    assert score(checks) <= before
    assert score(checks) < before  # strictly: the failed check is in the denominator


@given(check_lists, st.data())
def test_any_critical_failure_gives_not_certified(checks, data):
    i = data.draw(st.integers(0, len(checks) - 1))
    checks[i].critical, checks[i].status = True, data.draw(st.sampled_from(["fail", "nodata", "error"]))
    assert verdict(100.0, checks, pass_threshold=90, marginal=75) == NOT_CERTIFIED


@given(check_lists)
def test_nodata_and_error_never_pass(checks):
    cats = category_scores(checks, WEIGHTS)
    for c in cats:
        mine = [x for x in checks if x.category == c["name"]]
        assert c["evaluated"] == len(mine)  # nothing drops out of the denominator
        assert c["passed"] == sum(x.status in PASSING for x in mine)
    assert all(not mk("cost", s).passed for s in ("nodata", "error", "fail"))


def test_a_category_without_checks_scores_zero_not_100():
    cats = category_scores([mk("cost", "pass")], WEIGHTS)
    assert {c["name"]: c["score"] for c in cats} == {"functionality": 0, "performance": 0, "cost": 100,
                                                     "reliability": 0, "documentation": 0}
    assert readiness(cats) == 20.0


def _checks_scoring(readiness_target: float) -> list[Check]:
    """Checks whose readiness is exactly `readiness_target` (a multiple of 0.25 down to 70)."""
    out = [mk(cat, "pass") for cat in CATEGORIES for _ in range(40)]
    missing = 100.0 - readiness_target
    n_cost = min(40, int(missing / 0.5))  # each cost check is worth 20/40 = 0.5 points
    n_doc = round((missing - n_cost * 0.5) / 0.25)  # each documentation check is worth 10/40 = 0.25 points
    docs = [c for c in out if c.category == "documentation"][:n_doc]
    costs = [c for c in out if c.category == "cost"][:n_cost]
    for c in docs + costs:
        c.status = "fail"
    return out


def test_boundaries_exactly_90_and_75():
    for target, expected in [(90.0, CERTIFIED), (89.75, CONDITIONAL), (75.0, CONDITIONAL), (74.75, NOT_CERTIFIED)]:
        checks = _checks_scoring(target)
        s = score(checks)
        assert abs(s - target) < 1e-9, (target, s)
        assert verdict(s, checks, pass_threshold=90, marginal=75) == expected, target


@given(st.floats(0, 100), st.floats(0, 100), st.floats(0, 100))
def test_verdict_is_monotone_in_the_score(a, pass_t, marginal):
    assume(marginal <= pass_t)
    rank = {NOT_CERTIFIED: 0, CONDITIONAL: 1, CERTIFIED: 2}
    b = min(100.0, a + 1.0)
    v = lambda s: rank[verdict(s, [], pass_threshold=pass_t, marginal=marginal)]  # noqa: E731
    assert v(a) <= v(b)


SMOKE = load_spec("smoke")


def _waived(expires: datetime, now: datetime, status: str = "fail", critical: bool = True) -> Check:
    waiver = Waiver(check="perf.*", reason="runner is shared tonight", owner="ops", expires=expires)
    spec = SMOKE.model_copy(update={"waivers": [waiver]})
    c = Check("perf.task.p95", "performance", "", "", 9000.0, "ms", status, critical, "latency.task.p95")
    report = apply_waivers([c], spec, now)
    assert report[0]["active"] == (now <= expires)
    return c


@settings(deadline=None)  # a shared 2-core machine: timing is not what this property is about
@given(st.integers(-1000, 1000))
def test_expired_waivers_are_ignored(offset_minutes):
    now = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)
    expires = now + timedelta(minutes=offset_minutes)
    c = _waived(expires, now)
    if offset_minutes < 0:
        assert c.status == "fail" and c.waiver is None and c.blocks
        assert verdict(100.0, [c], pass_threshold=90, marginal=75) == NOT_CERTIFIED
    else:
        assert c.status == "waived" and c.waiver["was"] == "fail" and not c.blocks
        assert verdict(100.0, [c], pass_threshold=90, marginal=75) == CERTIFIED


def test_a_waiver_leaves_passing_checks_alone():
    now = datetime(2026, 6, 1, tzinfo=timezone.utc)
    assert _waived(now + timedelta(days=1), now, status="pass").status == "pass"
    assert _waived(now + timedelta(days=1), now, status="nodata").status == "waived"
