"""sandboxd's Prometheus metrics, served on `GET /metrics` by an ASGI layer around the app.

What is exported (all names start `tradeswarm_sandboxd_`):

- `sandboxes_running`, `sandboxes_created_total`, `sandboxes_killed_total{reason}` (killed by a
  client, expired at the end of their lifetime), `create_rejected_total` (cap and rate limit);
- `operation_latency_seconds{op}`: server-side latency of `create`, `exec` (a command's
  Start stream, from request to its end, so the command's own run time is in it) and `kill`;
- `rate_limited_total{op}`: 429 answers, the concurrency cap, the create rate and injected throttles;
- `billed_sandbox_seconds_total`, `billed_vcpu_seconds_total`, `billed_gib_seconds_total` and
  `billed_usd_total{price_table}`: sandbox lifetime as E2B bills it (wall time while running,
  times the sandbox's vCPUs and memory). The USD figure is that usage priced with a price
  table (`tradeswarm/prices/<name>.yaml`, E2B's published rates by default): an assumption
  about the price, not an invoice, hence the label;
- `sandbox_cpu_seconds_total{sandbox_id}` and `sandbox_memory_bytes{sandbox_id}`: CPU time and
  resident memory of each running sandbox's processes, measured at scrape time (a pid's CPU
  time is kept once it ends, so the counter never goes back).

`/metrics` wants the server token like every other route (`Authorization: Bearer <token>` as
Prometheus' `authorization.credentials_file` sends it, or `X-API-KEY`): sandboxd's rule is
that no request is served without a credential, and the per-sandbox series name sandboxes
whose ids are the handle to their envd. The token file is mode 0600 on the same host, so a
scrape config points at it (see README "Monitoring").
"""

from __future__ import annotations

import hmac
import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Iterable

import psutil
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

if TYPE_CHECKING:  # the app imports this module; the types are only for reading
    from tradeswarm.sandbox.sandboxd.app import SandboxdApp
    from tradeswarm.sandbox.sandboxd.registry import Registry, SandboxRecord

PRICE_TABLE = "e2b"  # what E2B would bill for the same sandboxes (docs/runbook.md, cost alert)
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


def process_usage(reg: Registry, rec: SandboxRecord) -> dict[int, tuple[float, int]]:
    """{pid: (CPU seconds, resident bytes)} of a sandbox's live processes (its cgroup, else its
    process groups, and their descendants). An isolated sandbox's are its cgroup's, less the
    init and its launcher (`rec.procs` holds pids of the sandbox's own pid namespace)."""
    if rec.jail is not None:
        pids = set(rec.jail.cgroups.pids(rec.jail.group)) - {rec.jail.proc.pid, rec.jail.init_pid}
    else:
        pids = set(reg.cgroups.pids(rec.cgroup)) or set(rec.procs)
    procs = []
    for pid in pids:
        try:
            procs.append(psutil.Process(pid))
            procs.extend(procs[-1].children(recursive=True))
        except psutil.Error:
            pass
    out = {}
    for p in {p.pid: p for p in procs}.values():
        try:
            t = p.cpu_times()
            out[p.pid] = (t.user + t.system, p.memory_info().rss)
        except psutil.Error:
            pass
    return out


def sandbox_usage(reg: Registry, rec: SandboxRecord) -> tuple[float, int]:
    """CPU seconds and resident bytes of a sandbox's live processes, summed."""
    usage = process_usage(reg, rec).values()
    return sum(c for c, _ in usage), sum(m for _, m in usage)


def _op(method: str, path: str) -> str | None:
    """The operation a request is, for the latency histogram (None: not one we time)."""
    if path == "/process.Process/Start":
        return "exec"
    parts = [p for p in path.split("/") if p]
    if parts[:1] == ["v2"]:
        parts = parts[1:]
    if method == "POST" and parts == ["sandboxes"]:
        return "create"
    if method == "DELETE" and len(parts) == 2 and parts[0] == "sandboxes":
        return "kill"
    return None


class SandboxdMetrics:
    """The registry behind `/metrics`; `instrument(app)` wires it to a `SandboxdApp`.

    >>> _op("POST", "/sandboxes"), _op("DELETE", "/sandboxes/i123"), _op("GET", "/health")
    ('create', 'kill', None)
    """

    def __init__(self, registry: Registry) -> None:
        self.reg = registry
        self.prom = CollectorRegistry(auto_describe=True)
        self.latency = Histogram("tradeswarm_sandboxd_operation_latency_seconds",
                                 "Server-side latency of sandbox operations (create, exec, kill).",
                                 ["op"], buckets=_BUCKETS, registry=self.prom)
        self.throttled = Counter("tradeswarm_sandboxd_rate_limited", "Requests answered 429 (rate limit, "
                                 "concurrency cap, injected throttle).", ["op"], registry=self.prom)
        for op in ("create", "exec", "kill"):  # present from the first scrape, not only once used
            self.latency.labels(op)
        self.throttled.labels("create")
        self.ended = {"sandbox_seconds": 0.0, "vcpu_seconds": 0.0, "gib_seconds": 0.0}
        self._cpu_seen: dict[str, dict[int, float]] = {}  # sandbox -> pid -> CPU seconds last seen
        registry.on_kill.append(self._bill)
        self.prom.register(self)

    def _bill(self, rec: SandboxRecord, reason: str) -> None:
        for k, v in self._usage(rec).items():
            self.ended[k] += v

    def _usage(self, rec: SandboxRecord) -> dict[str, float]:
        seconds = max(0.0, (datetime.now(timezone.utc) - rec.started_at).total_seconds())
        vcpus = len(rec.cores) or self.reg.limits.cpu_count
        return {"sandbox_seconds": seconds, "vcpu_seconds": seconds * vcpus,
                "gib_seconds": seconds * rec.limits.memory_mb / 1024.0}

    def billed(self) -> dict[str, float]:
        """Usage of every sandbox so far: the killed ones' whole lives and the running ones' till now."""
        out = dict(self.ended)
        for rec in list(self.reg.sandboxes.values()):
            for k, v in self._usage(rec).items():
                out[k] += v
        return out

    def collect(self) -> Iterable:
        from tradeswarm.pricing import observed_usd, price_table  # the pricing the judge uses, not a copy of it

        reg = self.reg
        yield _gauge("sandboxes_running", "Sandboxes currently running.", len(reg.sandboxes))
        yield _counter("sandboxes_created", "Sandboxes created.", reg.counters["created"])
        killed = CounterMetricFamily("tradeswarm_sandboxd_sandboxes_killed",
                                     "Sandboxes ended, by reason (killed by a client, expired).", labels=["reason"])
        killed.add_metric(["killed"], reg.counters["killed"])
        killed.add_metric(["expired"], reg.counters["expired"])
        yield killed
        yield _counter("create_rejected", "Creates refused by the concurrency cap or the create rate.",
                       reg.counters["create_rejected"])
        usage = self.billed()
        yield _counter("billed_sandbox_seconds", "Sandbox wall time while running, as billed.",
                       usage["sandbox_seconds"])
        yield _counter("billed_vcpu_seconds", "Sandbox seconds times the sandbox's vCPUs.", usage["vcpu_seconds"])
        yield _counter("billed_gib_seconds", "Sandbox seconds times the sandbox's memory in GiB.",
                       usage["gib_seconds"])
        usd = CounterMetricFamily("tradeswarm_sandboxd_billed_usd", "The billed usage priced with a price "
                                  "table (an assumed price, named in the label).", labels=["price_table"])
        usd.add_metric([PRICE_TABLE], observed_usd(price_table(PRICE_TABLE), usage)["total_usd"])
        yield usd
        cpu = CounterMetricFamily("tradeswarm_sandboxd_sandbox_cpu_seconds",
                                  "CPU time (user + system) of a running sandbox's processes, as last seen at "
                                  "a scrape: one that starts and ends between two scrapes is not counted.",
                                  labels=["sandbox_id"])
        mem = GaugeMetricFamily("tradeswarm_sandboxd_sandbox_memory_bytes",
                                "Resident memory of a running sandbox's processes.", labels=["sandbox_id"])
        self._cpu_seen = {sid: seen for sid, seen in self._cpu_seen.items() if sid in reg.sandboxes}
        for sid, rec in list(reg.sandboxes.items()):
            usage = process_usage(reg, rec)
            # an ended process takes its CPU time with it: its last sighting keeps the counter monotonic
            seen = self._cpu_seen.setdefault(sid, {})
            seen.update({pid: c for pid, (c, _) in usage.items()})
            cpu.add_metric([sid], sum(seen.values()))
            mem.add_metric([sid], sum(m for _, m in usage.values()))
        yield cpu
        yield mem

    def describe(self) -> Iterable:
        return []  # collected lazily: registering must not price anything or walk processes

    def authorized(self, headers: dict[str, str], token: str) -> bool:
        given = headers.get("x-api-key") or headers.get("authorization", "").removeprefix("Bearer ").strip()
        return bool(given) and hmac.compare_digest(given.encode(), token.encode())


def instrument(app: SandboxdApp):
    """`app` with `GET /metrics` served and create/exec/kill timed and 429s counted."""
    metrics = SandboxdMetrics(app.registry)

    async def asgi(scope, receive, send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        if scope["path"] == "/metrics":
            headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
            if metrics.authorized(headers, app.token):
                status, body, ctype = 200, generate_latest(metrics.prom), CONTENT_TYPE_LATEST
            else:
                status, body, ctype = 401, b'{"code": 401, "message": "Missing or invalid token"}', "application/json"
            await send({"type": "http.response.start", "status": status,
                        "headers": [(b"content-type", ctype.encode()), (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
            return
        op = _op(scope["method"], scope["path"])
        status = 0

        async def watch(msg) -> None:
            nonlocal status
            if msg["type"] == "http.response.start":
                status = msg["status"]
            await send(msg)

        t0 = time.perf_counter()
        try:
            await app(scope, receive, watch)
        finally:
            if status == 429:
                metrics.throttled.labels(op or "other").inc()
            elif op is not None and status and status < 400:
                metrics.latency.labels(op).observe(time.perf_counter() - t0)

    return asgi


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(f"tradeswarm_sandboxd_{name}", doc, value=value)


def _counter(name: str, doc: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(f"tradeswarm_sandboxd_{name}", doc, value=value)
