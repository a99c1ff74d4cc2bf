"""A re-run is served from the task cache: the research tasks' second run is `Cached`.

On the session Prefect harness (its own result storage). The fingerprint input is fresh per
test, so the first run really computes (the opposite case) and only the second may be cached.
"""

from __future__ import annotations

import uuid

from prefect import flow

from tasks import research
from validation.spec import load_spec


@flow
def _validate_twice(contract: dict, fingerprint: str) -> list[str]:
    states = [research.validate("SPX", "2017-01-03", "2017-12-29", contract, fingerprint, return_state=True)
              for _ in range(2)]
    return [s.name for s in states]


def test_a_second_run_of_a_finished_validation_is_served_from_the_cache():
    contract = load_spec("smoke").data.contract.model_dump(mode="json")
    fingerprint = uuid.uuid4().hex
    assert _validate_twice(contract, fingerprint) == ["Completed", "Cached"]
    # another input (changed data) is computed again
    assert _validate_twice(contract, uuid.uuid4().hex)[0] == "Completed"
