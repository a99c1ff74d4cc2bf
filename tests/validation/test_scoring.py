"""Scoring and verdict properties (hypothesis): failures never help, critical failures block, boundaries hold."""

from __future__ import annotations

import fnmatch
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


def flipped(checks: list[Check], data, to) -> tuple[int, float, float]:
    """The drawn check's index, the score with it passing, then with it set to `to` (drawn if a strategy)."""
    i = data.draw(st.integers(0, len(checks) - 1))
    checks[i].status = "pass"
    before = score(checks)
    checks[i].status = data.draw(to) if isinstance(to, st.SearchStrategy) else to
    return i, before, score(checks)


@settings(deadline=None)  # a shared 2-core machine: timing is not what these properties are about
@given(check_lists, st.data())
def test_score_never_rises_when_a_check_flips_from_pass_to_fail(checks, data):
    _, before, after = flipped(checks, data, st.sampled_from(["fail", "nodata", "error"]))
    assert after <= before
    assert score(checks) < before  # strictly: the failed check is in the denominator


@settings(deadline=None)  # a shared 2-core machine: timing is not what these properties are about
@given(check_lists, st.data())
def test_any_critical_failure_gives_not_certified(checks, data):
    i = data.draw(st.integers(0, len(checks) - 1))
    checks[i].critical, checks[i].status = True, data.draw(st.sampled_from(["fail", "nodata", "error"]))
    assert verdict(100.0, checks, pass_threshold=90, marginal=75) == NOT_CERTIFIED


@settings(deadline=None)  # a shared 2-core machine: timing is not what these properties are about
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


@settings(deadline=None)  # a shared 2-core machine: timing is not what these properties are about
@given(st.floats(0, 100), st.floats(0, 100), st.floats(0, 100))
def test_verdict_is_monotone_in_the_score(a, pass_t, marginal):
    assume(marginal <= pass_t)
    rank = {NOT_CERTIFIED: 0, CONDITIONAL: 1, CERTIFIED: 2}
    b = min(100.0, a + 1.0)
    v = lambda s: rank[verdict(s, [], pass_threshold=pass_t, marginal=marginal)]  # noqa: E731
    assert v(a) <= v(b)


SMOKE = load_spec("smoke")
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)


def _apply(status: str, expires: datetime, now: datetime = NOW, critical: bool = True,
           pattern: str = "perf.*") -> tuple[Check, dict]:
    waiver = Waiver(check=pattern, reason="runner is shared tonight", owner="ops", expires=expires)
    spec = SMOKE.model_copy(update={"waivers": [waiver]})
    c = Check("perf.task.p95", "performance", "", "", 9000.0, "ms", status, critical, "latency.task.p95")
    report = apply_waivers([c], spec, now)
    assert report[0]["active"] == (now <= expires)
    return c, report[0]


@settings(deadline=None)  # a shared 2-core machine: timing is not what this property is about
@given(st.integers(-1000, 1000))
def test_expired_waivers_are_ignored(offset_minutes):
    expires = NOW + timedelta(minutes=offset_minutes)
    c, report = _apply("fail", expires)
    if offset_minutes < 0:
        assert c.status == "fail" and c.waiver is None and c.blocks and report["waived"] == []
        assert verdict(100.0, [c], pass_threshold=90, marginal=75) == NOT_CERTIFIED
    else:
        # a measured failure of a critical check, accepted on the record (reason, owner, expiry)
        assert c.status == "waived" and c.waiver["was"] == "fail" and not c.blocks
        assert verdict(100.0, [c], pass_threshold=90, marginal=75) == CERTIFIED


def test_a_waiver_covers_a_measured_failure_only():
    tomorrow = NOW + timedelta(days=1)
    assert _apply("pass", tomorrow)[0].status == "pass"
    assert _apply("warn", tomorrow)[0].status == "warn"  # already passing: nothing to accept
    c, report = _apply("fail", tomorrow)
    assert c.status == "waived" and report["waived"] == [c.id] and report["not_applied"] == []
    for status in ("nodata", "error"):  # missing or broken evidence stays a failure, waiver or not
        c, report = _apply(status, tomorrow)
        assert c.status == status and c.waiver is None and c.blocks and not c.passed
        assert report["waived"] == [] and [(n["check"], n["status"]) for n in report["not_applied"]] == [(c.id, status)]
        assert verdict(100.0, [c], pass_threshold=90, marginal=75) == NOT_CERTIFIED


PATTERNS = st.sampled_from(["func.*", "perf.*", "rel.*", "cost.*", "doc.*", "perf.c", "rel.?"])


@settings(deadline=None)  # a shared 2-core machine: timing is not what these properties are about
@given(check_lists, st.lists(PATTERNS, max_size=6), st.data())
def test_waivers_never_make_missing_evidence_pass(checks, patterns, data):
    """Whatever active waivers apply, `nodata` and `error` keep their status, their place in the
    denominator and their power to block; only `fail` can become `waived`."""
    prefix = {"functionality": "func", "performance": "perf", "cost": "cost", "reliability": "rel", "documentation": "doc"}
    for c in checks:
        c.id = f"{prefix[c.category]}.{data.draw(st.sampled_from('abc'))}"
    before = [(c.status, c.blocks) for c in checks]
    spec = SMOKE.model_copy(update={"waivers": [
        Waiver(check=p, reason="accepted for the test run", owner="ops", expires=NOW + timedelta(days=1)) for p in patterns]})
    apply_waivers(checks, spec, NOW)
    for c, (status, blocked) in zip(checks, before):
        if status in ("nodata", "error"):
            assert c.status == status and c.blocks == blocked and not c.passed
        elif status == "fail" and any(fnmatch.fnmatchcase(c.id, p) for p in patterns):
            assert c.status == "waived" and not c.blocks
        else:
            assert c.status == status
    if any(s in ("nodata", "error") and c.critical for c, (s, _) in zip(checks, before)):
        assert verdict(100.0, checks, pass_threshold=90, marginal=75) == NOT_CERTIFIED


@settings(deadline=None)  # a shared 2-core machine: timing is not what these properties are about
@given(st.floats(0.001, 100), st.data())
def test_verdict_boundaries_hold_for_any_thresholds(pass_t, data):
    """At exactly `pass` a run certifies and at exactly `marginal` it is conditional; a hair below either does not."""
    marginal = data.draw(st.floats(0.001, pass_t))
    assume(marginal == pass_t or pass_t - marginal > 1e-6)  # thresholds apart by more than float dust
    v = lambda s: verdict(s, [], pass_threshold=pass_t, marginal=marginal)  # noqa: E731
    assert v(pass_t) == CERTIFIED
    assert v(pass_t - 1e-6) != CERTIFIED
    assert v(marginal) == (CERTIFIED if marginal == pass_t else CONDITIONAL)
    assert v(marginal - 1e-6) == NOT_CERTIFIED


# ----------------------------------------------------------------------------- marginal: within noise of a bound

def test_a_critical_marginal_check_allows_conditional_at_most_and_a_fail_or_pass_either_side_moves_it():
    """Pass, marginal, fail of one critical check at a score of 100: CERTIFIED, CONDITIONAL, NOT_CERTIFIED."""
    v = lambda status: verdict(100.0, [mk("performance", status, critical=True)], pass_threshold=90, marginal=75)  # noqa: E731
    assert (v("pass"), v("marginal"), v("fail")) == (CERTIFIED, CONDITIONAL, NOT_CERTIFIED)
    # below the marginal score line a marginal check does not lift the run
    assert verdict(70.0, [mk("performance", "marginal", critical=True)], pass_threshold=90, marginal=75) == NOT_CERTIFIED
    # a non-critical marginal check neither caps nor blocks: it scores as passed
    assert verdict(100.0, [mk("performance", "marginal")], pass_threshold=90, marginal=75) == CERTIFIED


@settings(deadline=None)  # a shared 2-core machine: timing is not what these properties are about
@given(check_lists, st.data())
def test_a_check_flipping_between_pass_and_marginal_never_moves_the_score(checks, data):
    """Noise around a bound flips pass ↔ marginal between identical runs; the score must not follow."""
    i, before, after = flipped(checks, data, "marginal")
    assert after == before
    # and the verdict moves at most one step (CERTIFIED ↔ CONDITIONAL), never to NOT_CERTIFIED
    order = [NOT_CERTIFIED, CONDITIONAL, CERTIFIED]
    after = verdict(score(checks), checks, pass_threshold=90, marginal=75)
    checks[i].status = "pass"
    was = verdict(before, checks, pass_threshold=90, marginal=75)
    assert 0 <= order.index(was) - order.index(after) <= 1
