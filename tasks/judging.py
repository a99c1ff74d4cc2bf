"""The judge as a task: evidence in, checks, score and verdict out."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE


@task(name="judge", cache_policy=NO_CACHE)
def judge(spec, evidence: dict, runs_root: str, run_id: str, now: datetime, repo_root: str) -> dict:
    """Score the run against the spec, compared with the last runs of the same profile and spec."""
    from validation import judge as judge_run
    from validation import load_history
    from validation.history import spec_sha256

    # the same configuration only: a run with overrides or a changed spec has its own history
    history = load_history(runs_root, spec.name, spec.history.k, exclude_run_id=run_id, spec_hash=spec_sha256(spec))
    return judge_run(spec, evidence, history=history, now=now, repo_root=Path(repo_root)).to_dict()
