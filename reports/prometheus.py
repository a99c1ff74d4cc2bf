"""A certification run's outcome as Prometheus metrics: the textfile, the push, `serve`'s endpoint.

Every run writes `metrics.prom` (Prometheus text format, written atomically) into its run
directory: readiness score, verdict, each check's status, category scores, projected and
budgeted $/day, latency quantiles, the stress test's task accounting and rates, leaked
sandboxes, stage durations — all read from results.json, so the gauges say what the report
says — plus the swarm's own metrics (`tradeswarm.swarm.telemetry`) of the process that ran it.
Every series carries the run's `profile` label. A figure the run did not measure is left out
(the series is absent), never written as 0.

`tradeswarm_certification_last_success_timestamp_seconds` is the end of the newest CERTIFIED
run of the profile in the same runs root (this one or an earlier one), so a failed run does not
make the "no successful nightly" alert forget the last success.

When `TRADESWARM_PUSHGATEWAY_URL` is set (`Settings.pushgateway_url`), the same text is pushed (HTTP PUT, replacing the group)
to `<url>/metrics/job/tradeswarm_certification/profile/<profile>`. `tradeswarm serve
--metrics-port` serves the newest run of each profile under a runs root (`RunsCollector`).

>>> text = exposition({"profile": "smoke", "verdict": "CERTIFIED", "readiness_score": 97.5,
...                    "finished_at": "2026-01-01T00:00:00+00:00"}, swarm=False)
>>> 'tradeswarm_certification_readiness_score{profile="smoke"} 97.5' in text
True
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Iterable, Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families

from reports._format import REPORT_MODE
from tradeswarm.atomic import atomic_write_text
from tradeswarm.settings import Settings, mask_secrets
from validation.evidence import AgentsEvidence, CostSection, Results, StressEvidence

log = logging.getLogger(__name__)

TEXTFILE = "metrics.prom"
PUSH_JOB = "tradeswarm_certification"
VERDICTS = ("CERTIFIED", "CONDITIONAL", "NOT_CERTIFIED")
TASK_STATES = ("completed", "failed", "timed_out", "lost", "duplicated")
QUANTILES = {"p50": "0.5", "p95": "0.95", "p99": "0.99"}
_P = "tradeswarm_certification_"
LAST_SUCCESS = f"{_P}last_success_timestamp_seconds"


def _num(v) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _ts(iso: str | None) -> float | None:
    try:
        return datetime.fromisoformat(str(iso).replace("Z", "+00:00")).timestamp() if iso else None
    except ValueError:
        return None


class _Families:
    """Gauge families keyed by name, each with `profile` first among its labels."""

    def __init__(self, profile: str) -> None:
        self.profile = profile
        self.families: dict[str, GaugeMetricFamily] = {}

    def add(self, name: str, doc: str, value, **labels: str) -> None:
        value = _num(value)
        if value is None:
            return
        fam = self.families.get(name)
        if fam is None:
            fam = self.families[name] = GaugeMetricFamily(_P + name, doc, labels=["profile", *labels])
        fam.add_metric([self.profile, *labels.values()], value)


def outcome_families(results: Results | dict, last_success: float | None = None) -> list[Metric]:
    """The run's outcome gauges (see the module docstring), from its results.json."""
    r = Results.parse(results)
    f = _Families(r.profile or "custom")
    f.add("readiness_score", "Readiness score of the run (0-100).", r.readiness_score)
    for v in VERDICTS:
        f.add("verdict", "1 for the run's verdict, 0 for the others.", float(v == r.verdict), verdict=v)
    f.add("run_info", "The run's identity (value always 1).", 1.0, run_id=str(r.run_id),
          provider=str(r.provider), verdict=str(r.verdict))
    finished = _ts(r.finished_at)
    f.add("finished_timestamp_seconds", "When the run finished (Unix time).", finished)
    if r.verdict == "CERTIFIED" and finished is not None:
        last_success = max(finished, last_success or 0.0)
    f.add("last_success_timestamp_seconds", "End of the newest CERTIFIED run of this profile (Unix time).",
          last_success)
    f.add("duration_seconds", "Wall time of the whole run.", r.duration_s)
    for stage, seconds in r.stages.items():
        f.add("stage_duration_seconds", "Wall time of each stage of the run.", seconds, stage=stage)
    counts = Counter(c.status for c in r.checks)
    for c in r.checks:
        f.add("check_status", "Each check of the run, its status as a label (value always 1).", 1.0,
              check=c.id, category=str(c.category), status=c.status)
    for status in ("pass", "fail", "warn", "nodata", "waived"):
        f.add("checks", "Checks of the run by status.", counts[status], status=status)
    for cat in r.categories:
        f.add("category_score", "Score of each category (0-100).", cat.score, category=str(cat.name))
    cost = r.cost or CostSection()
    f.add("projected_daily_usd", "Projected $/day of the spec's declared production load at this run's measured "
          "capacity and billing, priced with the run's price table.", cost.projected_daily_usd)
    f.add("observed_rate_daily_usd", "The run's own spending rate sustained for a production day.",
          cost.projected_daily_observed_usd)
    f.add("budget_daily_usd", "The spec's daily budget.", cost.budget_daily_usd)
    f.add("budget_alert_fraction", "Fraction of the budget at which the cost alert fires.", cost.alert_fraction)
    f.add("observed_usd", "What the run itself cost, priced with the run's price table.", cost.total_usd)
    for op, row in r.latency.items():
        for key, q in QUANTILES.items():
            ms = _num(getattr(row, key))
            f.add("latency_seconds", "Latency quantiles the run measured, by operation.",
                  None if ms is None else ms / 1000.0, op=op, quantile=q)
    stress = r.stress or StressEvidence()
    for state in TASK_STATES:
        f.add("stress_tasks", "Stress-test tasks by final state (lost and duplicated: ledger anomalies).",
              getattr(stress, state), state=state)
    # the rates the SLA judges: the steady state's when faults ran in a chaos phase of their own
    steady = stress.phases["steady"] if "steady" in stress.phases else stress
    f.add("stress_success_ratio", "Completed stress tasks over submitted (steady state).", steady.success_rate)
    f.add("stress_error_ratio", "Failed or timed-out stress tasks over submitted (steady state).", steady.error_rate)
    f.add("stress_throughput_tasks_per_second", "Stress-test throughput (steady state).", steady.throughput_per_s)
    f.add("sandboxes_leaked", "Sandboxes the run created that were still alive at its end.", r.sandboxes_leaked)
    f.add("sandboxes_created", "Sandboxes the run created.", r.sandboxes.created if r.sandboxes else None)
    agents = r.agents or AgentsEvidence()
    for state in ("requested", "deployed", "healthy", "lost"):
        f.add("agents", "Agents of the run's swarm by state.", getattr(agents, state), state=state)
    return list(f.families.values())


def _with_profile(families: Iterable[Metric], profile: str) -> Iterator[Metric]:
    for fam in families:
        for s in fam.samples:
            if "profile" not in s.labels:
                s.labels["profile"] = profile
        yield fam


class _Static:
    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> list[Metric]:
        return self.families


def exposition(results: Results | dict, last_success: float | None = None, swarm: bool = True) -> str:
    """The run's metrics in the text format (outcome, and the swarm's when `swarm`)."""
    results = Results.parse(results)
    profile = results.profile or "custom"
    families = outcome_families(results, last_success)
    if swarm:
        from tradeswarm.swarm.telemetry import REGISTRY as SWARM

        families += list(_with_profile(SWARM.collect(), profile))
    reg = CollectorRegistry(auto_describe=False)
    reg.register(_Static(families))
    return generate_latest(reg).decode()


def previous_success(runs_root: Path, profile: str, exclude: Path | None = None) -> float | None:
    """The newest last-success time recorded by the textfiles of `profile`'s runs under `runs_root`."""
    best = None
    prefix = f'{LAST_SUCCESS}{{profile="{_escape(profile)}"}} '
    for path in Path(runs_root).glob(f"*/{TEXTFILE}"):
        if exclude is not None and path.parent == exclude:
            continue
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError:
            continue
        for line in lines:
            if line.startswith(prefix):
                value = _num(_float(line[len(prefix):]))
                if value is not None:
                    best = value if best is None else max(best, value)
    return best


def _float(s: str) -> float | None:
    try:
        return float(s.split()[0])
    except (ValueError, IndexError):
        return None


def _escape(v: str) -> str:
    return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def export_run(results: Results | dict, run_dir: str | os.PathLike, pushgateway: str | None = None) -> Path:
    """Write `<run_dir>/metrics.prom` atomically; push it too when a Pushgateway is configured.

    A failed push is logged, not raised: monitoring must not fail the run it reports.
    """
    run_dir, results = Path(run_dir), Results.parse(results)
    profile = results.profile or "custom"
    # a label value (run id, check id) never holds a key, but every file of a run is masked alike
    text = mask_secrets(exposition(results, previous_success(run_dir.parent, profile, exclude=run_dir)))
    path = atomic_write_text(run_dir / TEXTFILE, text, mode=REPORT_MODE)
    url = pushgateway if pushgateway is not None else Settings().pushgateway_url
    if url:
        try:
            push(text, url, profile)
        except Exception as e:  # noqa: BLE001 - the gateway down is a finding for the log, not a failed run
            log.warning("pushing the run's metrics to %s failed: %s", url, e)
    return path


def push(text: str, url: str, profile: str) -> None:
    """PUT the text to the Pushgateway group of `profile` (replacing that group's metrics)."""
    import httpx
    from urllib.parse import quote

    r = httpx.put(f"{url.rstrip('/')}/metrics/job/{PUSH_JOB}/profile/{quote(profile, safe='')}",
                  content=text.encode(), headers={"Content-Type": "text/plain; version=0.0.4"}, timeout=10)
    r.raise_for_status()


class RunsCollector:
    """The newest run of each profile under `runs_root` (by its finish time), read at each scrape."""

    def __init__(self, runs_root: str | os.PathLike) -> None:
        self.runs_root = Path(runs_root)

    def latest(self) -> dict[str, list[Metric]]:
        newest: dict[str, tuple[float, list[Metric]]] = {}
        for path in self.runs_root.glob(f"*/{TEXTFILE}"):
            try:
                families = list(text_string_to_metric_families(path.read_text(encoding="utf-8")))
            except (OSError, ValueError) as e:
                log.warning("skipping %s: %s", path, e)
                continue
            finished = next((s for fam in families for s in fam.samples
                             if s.name == f"{_P}finished_timestamp_seconds"), None)
            if finished is None:
                continue
            profile = finished.labels.get("profile", "custom")
            if profile not in newest or finished.value > newest[profile][0]:
                newest[profile] = (finished.value, families)
        return {p: fams for p, (_, fams) in newest.items()}

    def collect(self) -> Iterator[Metric]:
        merged: dict[str, Metric] = {}
        for families in self.latest().values():
            for fam in families:
                if fam.name in merged:
                    merged[fam.name].samples.extend(fam.samples)
                else:
                    merged[fam.name] = fam
        yield from merged.values()

    def describe(self) -> list:
        return []


def serve_runs(runs_root: str | os.PathLike, port: int, addr: str = "127.0.0.1"):
    """Serve `/metrics` of the newest run of each profile on `addr:port` (a daemon thread); the server."""
    from prometheus_client import start_http_server

    reg = CollectorRegistry(auto_describe=False)
    reg.register(RunsCollector(runs_root))
    server, _thread = start_http_server(port, addr=addr, registry=reg)
    return server
