"""The research result cache on the session Prefect harness: served only under the same code,
stored under the run's state directory, bypassed by `--no-cache`, and reported.

The fingerprint input is fresh per test, so the first run really computes (the opposite case)
and only a later one may be served from the cache.
"""

from __future__ import annotations

import uuid

from prefect import flow

from tasks import research
from validation.spec import load_spec

CONTRACT = load_spec("smoke").data.contract.model_dump(mode="json")


@flow
def _validate(caches: list, fingerprint: str) -> list[dict]:
    for cache in caches:
        cache.validate("SPX", "2017-01-03", "2017-12-29", CONTRACT, fingerprint)
    return [c.summary() for c in caches]


def test_a_second_run_of_a_finished_validation_is_served_from_the_cache_and_says_from_which_run(tmp_path):
    fingerprint = uuid.uuid4().hex
    first = research.ResultCache.for_state_dir(tmp_path / "state", "run-1")
    second = research.ResultCache.for_state_dir(tmp_path / "state", "run-2")
    a, b = _validate([first, second], fingerprint)
    assert a["stages"] == {"data": {"computed": 1, "cached": 0, "from_runs": []}} and a["served"] == []
    assert b["stages"] == {"data": {"computed": 0, "cached": 1, "from_runs": ["run-1"]}}
    assert b["served"] == [{"stage": "data", "task": "validate-data", "item": "SPX", "from_run": "run-1",
                            "code_sha256": first.code}]
    # the cache lives under the run's state directory, not in a machine-wide Prefect home
    assert a["directory"] == str((tmp_path / "state" / "cache").absolute())
    assert any((tmp_path / "state" / "cache").iterdir())
    # another input (changed data) is computed again
    [c] = _validate([research.ResultCache.for_state_dir(tmp_path / "state", "run-3")], uuid.uuid4().hex)
    assert c["stages"]["data"]["computed"] == 1


def test_changed_code_is_never_served_from_the_cache(tmp_path):
    fingerprint = uuid.uuid4().hex
    warm = research.ResultCache.for_state_dir(tmp_path, "run-1")
    changed = research.ResultCache.for_state_dir(tmp_path, "run-2")
    changed.code = "0" * 64  # as if a module of the closure had changed (tests/tasks/test_cache_key.py)
    changed._options["cache_policy"].code = changed.code
    a, b = _validate([warm, changed], fingerprint)
    assert b["stages"]["data"] == {"computed": 1, "cached": 0, "from_runs": []}, b
    # the opposite: the same code is served, from the run that computed it under that code
    [c] = _validate([research.ResultCache.for_state_dir(tmp_path, "run-3")], fingerprint)
    assert c["served"] == [{"stage": "data", "task": "validate-data", "item": "SPX", "from_run": "run-1",
                            "code_sha256": warm.code}]


def test_no_cache_recomputes_and_an_unusable_state_dir_runs_uncached(tmp_path):
    fingerprint = uuid.uuid4().hex
    warm = research.ResultCache.for_state_dir(tmp_path, "run-1")
    refresh = research.ResultCache.for_state_dir(tmp_path, "run-2", refresh=True)
    blocked = tmp_path / "a-file"
    blocked.write_text("not a directory")
    broken = research.ResultCache.for_state_dir(blocked, "run-3")
    _, b, c = _validate([warm, refresh, broken], fingerprint)
    assert b["refresh"] and b["stages"]["data"]["computed"] == 1
    assert not c["enabled"] and "cache directory unusable" in c["reason"] and c["stages"]["data"]["computed"] == 1
    # the refreshed result replaced the cached one: a later run is served from run-2
    [d] = _validate([research.ResultCache.for_state_dir(tmp_path, "run-4")], fingerprint)
    assert d["stages"]["data"]["from_runs"] == ["run-2"]
