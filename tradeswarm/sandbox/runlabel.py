"""Sandboxes found by the run that made them, from the provider's answer, not from memory.

Every sandbox a run creates carries its run id in its metadata (`RUN_KEY`; a Dask shard's
also `PART_KEY` and its shard index, `SHARD_KEY`), so whoever is left standing can find and
kill them: a shard's next attempt kills its dead attempt's sandboxes, the stress fan-out's end
kills and counts its shards' leftovers (never the run's main swarm, still running), and the
run's end kills and counts every sandbox still carrying its id as leaked.

```python
mgr = SandboxManager(labels=run_labels("20261207-abc", shard=0))
...
leftovers = reap(settings, run_labels("20261207-abc"))  # ids found alive, now killed
```
"""

from __future__ import annotations

from typing import Any

RUN_KEY = "tradeswarm_run"
PART_KEY = "tradeswarm_part"  # "stress-shard" on the Dask shards' sandboxes
SHARD_KEY = "tradeswarm_shard"


def run_labels(run_id: str, shard: int | None = None) -> dict[str, str]:
    """The metadata tagging a run's sandboxes (one shard's, with `shard`).

    >>> run_labels("r1", shard=2)
    {'tradeswarm_run': 'r1', 'tradeswarm_shard': '2'}
    """
    out = {RUN_KEY: str(run_id)}
    if shard is not None:
        out[SHARD_KEY] = str(shard)
    return out


def shard_labels(run_id: str, shard: int | None = None) -> dict[str, str]:
    """The labels of a run's stress-shard sandboxes (all shards', or one's with `shard`): what
    the stress fan-out sweeps, leaving the rest of the run (its main swarm) alone.

    >>> shard_labels("r1") == {"tradeswarm_run": "r1", "tradeswarm_part": "stress-shard"}
    True
    """
    return {**run_labels(run_id, shard), PART_KEY: "stress-shard"}


def alive(settings: Any, labels: dict[str, str]) -> list[str]:
    """Ids of the running sandboxes whose metadata holds all of `labels`, as the provider says."""
    from e2b import Sandbox
    from e2b.sandbox.sandbox_api import SandboxQuery

    from tradeswarm.sandbox.provider import connection_params
    from tradeswarm.sandbox.sandboxd import daemon

    if settings.provider == "local" and daemon.running(settings.state_dir) is None:
        return []  # no sandboxd, no sandbox: the server kills its sandboxes when it stops
    params = connection_params(settings, autostart=False)
    pager = Sandbox.list(query=SandboxQuery(metadata=labels), **params)
    ids: list[str] = []
    while pager.has_next:
        ids.extend(i.sandbox_id for i in pager.next_items())
    return sorted(ids)


def reap(settings: Any, labels: dict[str, str]) -> list[str]:
    """Kill every running sandbox carrying `labels`; the ids found (killed or already gone)."""
    from e2b import Sandbox

    from tradeswarm.sandbox.provider import connection_params

    ids = alive(settings, labels)
    if not ids:
        return []
    params = connection_params(settings, autostart=False)
    for sid in ids:
        try:
            Sandbox.kill(sid, **params)
        except Exception:  # gone meanwhile or unreachable: `alive` afterwards tells which
            continue
    return ids
