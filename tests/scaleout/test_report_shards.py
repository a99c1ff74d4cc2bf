"""The report says what a run on Dask shards went through (pure rendering: no cluster)."""

from __future__ import annotations

from reports.sections import stress
from validation.evidence import Results

BASE = {"submitted": 400, "completed": 400, "failed": 0, "timed_out": 0, "lost": 0, "duplicated": 0}


def test_a_replaced_shard_attempt_and_its_sandboxes_are_in_the_report():
    st = {**BASE, "shards": 2, "shard_attempts": {"0": 2, "1": 1},
          "replaced_attempts": [{"shard": 0, "attempt": 1, "status": "running", "submitted": 57,
                                 "completed": 51, "lost": 6}],
          "shard_sandboxes": {"created": 4, "killed": 4, "reaped": 2, "leaked": 0}}
    md = stress(Results.parse({"stress": st}), set())
    assert "### Scale-out" in md and '{"0": 2, "1": 1}' in md
    assert "killed after their worker died 2" in md and "leaked (asked of the provider) 0" in md
    assert "| 0 | 1 | running | 57 | 51 | 6 |" in md.replace("  ", " ")


def test_an_in_process_run_has_no_scale_out_section():
    assert "Scale-out" not in stress(Results.parse({"stress": dict(BASE)}), set())
