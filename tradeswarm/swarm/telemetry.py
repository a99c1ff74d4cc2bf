"""The swarm's Prometheus metrics: agents up, tasks by final state, latencies, heartbeats.

They live in their own registry, `REGISTRY`, so that a certification run can export exactly
these beside its outcome (`reports.prometheus`), whatever else the process registers.
Counters and histograms count since the process started, as Prometheus expects; `agents_up`
is read from the coordinators alive at collection time.

>>> observe("task", 12.0)
>>> REGISTRY.get_sample_value("tradeswarm_swarm_task_latency_seconds_count") >= 1
True
"""

from __future__ import annotations

import weakref

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily

REGISTRY = CollectorRegistry(auto_describe=True)

# From a sub-millisecond in-process answer to the 5 s the seed's P95 alert is about, and beyond.
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

TASKS = Counter("tradeswarm_swarm_tasks", "Tasks by final state (completed, failed, timed_out).",
                ["state"], registry=REGISTRY)
TASK_LATENCY = Histogram("tradeswarm_swarm_task_latency_seconds",
                         "Submit-to-final-state latency of a task, re-dispatches included.",
                         buckets=_BUCKETS, registry=REGISTRY)
CONSENSUS_LATENCY = Histogram("tradeswarm_swarm_consensus_latency_seconds",
                              "Duration of a consensus round (votes collected and decided).",
                              buckets=_BUCKETS, registry=REGISTRY)
HEARTBEATS = Counter("tradeswarm_swarm_heartbeats", "Heartbeats received from agents.", registry=REGISTRY)
HEARTBEAT_TIMEOUTS = Counter("tradeswarm_swarm_heartbeat_timeouts",
                             "Agents declared dead after a silence longer than the heartbeat timeout.",
                             registry=REGISTRY)
for _state in ("completed", "failed", "timed_out"):  # every state is a series from the start (0, not absent)
    TASKS.labels(_state)

_HISTOGRAMS = {"task": TASK_LATENCY, "consensus": CONSENSUS_LATENCY}
_coordinators: weakref.WeakSet = weakref.WeakSet()


def observe(op: str, ms: float) -> None:
    """Record a coordinator latency (`task`, `consensus`; other operations are not exported)."""
    hist = _HISTOGRAMS.get(op)
    if hist is not None:
        hist.observe(ms / 1000.0)


def track(coordinator) -> None:
    """Count `coordinator`'s live agents in `tradeswarm_swarm_agents_up` while it exists."""
    _coordinators.add(coordinator)


class _AgentsUp:
    def collect(self):
        g = GaugeMetricFamily("tradeswarm_swarm_agents_up", "Agents ready for tasks, over every coordinator "
                              "of this process.")
        g.add_metric([], sum(len(c.live()) for c in list(_coordinators)))
        yield g


REGISTRY.register(_AgentsUp())
