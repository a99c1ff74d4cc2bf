"""`tradeswarm certify` (the main job) and `tradeswarm serve` (the nightly schedule, locally)."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

import click

from tradeswarm.cli._common import (
    EXIT_CONDITIONAL, EXIT_FAIL, EXIT_OK, OperationError, UsageError, check_writable, command, emit, json_option, table,
)

RUN_ROOM_MB = 50  # a standard run writes a few MB (ledger, charts); a nightly's ledger is the largest part
EXIT_BY_VERDICT = {"CERTIFIED": EXIT_OK, "CONDITIONAL": EXIT_CONDITIONAL, "NOT_CERTIFIED": EXIT_FAIL}


def quiet_prefect() -> None:
    """Settings that keep a successful run's output free of Prefect noise (`flows` itself turns
    off the temporary server's telemetry)."""
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
    # The terminal shows tradeswarm's own stage lines; Prefect's logs still reach its API/UI.
    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")


def resolve_spec(profile: str, spec_path: str | None, provider: str | None = None):
    """Load and preflight the spec before anything starts; a bad spec is exit code 2."""
    from flows.runinfo import resolve_provider
    from tradeswarm.settings import Settings
    from validation import SpecError, load_spec
    from validation.preflight import preflight

    try:
        spec = load_spec(spec_path or profile)
        preflight(spec, provider=resolve_provider(spec, provider, Settings()))
    except SpecError as e:
        raise UsageError(str(e)) from None
    return spec


def _summary(results: dict) -> str:
    from reports import summary_rows

    rows = summary_rows(results)
    head = (f"{results['verdict']}  readiness {results['readiness_score']:.1f}/100  "
            f"({results['profile']}, {results['duration_s']:.1f} s)")
    return "\n".join([head, "", table(rows), "", f"report: {results['report_path']}"])


@command("certify")
@click.option("--profile", type=click.Choice(["smoke", "standard", "nightly"]), default="standard",
              show_default=True, help="Shipped certification profile.")
@click.option("--spec", "spec_path", type=click.Path(dir_okay=False), help="A spec YAML file (overrides --profile).")
@click.option("--provider", type=click.Choice(["local", "e2b"]),
              help="Sandbox provider (default: the spec's `provider` if it names one, else e2b when "
                   "E2B_API_KEY is set, else the local sandboxd).")
@click.option("--out", type=click.Path(file_okay=False), help="Run directory (default reports/runs/<run-id>).")
@click.option("--no-cache", is_flag=True,
              help="Recompute every data validation and backtest (the fresh results replace the cached ones).")
@json_option
def certify(profile: str, spec_path: str | None, provider: str | None, out: str | None, no_cache: bool,
            as_json: bool) -> int:
    """Certify the swarm end to end and write the report.

    Provisions sandboxes, deploys agents, validates data, backtests, runs the stress test,
    judges every measurement against the spec and writes report.md, results.json,
    junit.xml and charts. Exit code: 0 CERTIFIED, 3 CONDITIONAL, 1 NOT_CERTIFIED or failure,
    2 bad input. The Prefect flow run ends Failed on NOT_CERTIFIED, Completed otherwise.
    """
    import asyncio

    from tradeswarm import progress
    from tradeswarm.settings import Settings

    spec = resolve_spec(profile, spec_path, provider)
    from flows.runinfo import RUNS_ROOT, plan_capacity, provider_settings, resolve_provider

    check_writable(out or RUNS_ROOT, "--out", directory=True, room_mb=RUN_ROOM_MB)

    settings = Settings()
    if resolve_provider(spec, provider, settings) == "e2b" and settings.e2b_api_key is None:
        raise UsageError("provider e2b needs E2B_API_KEY in the environment")
    quiet_prefect()
    from flows.certify import certify as run_certification
    from tradeswarm.sandbox.capacity import CapacityError

    try:  # before anything is created: the sandboxes the run needs against the provider's cap
        plan_capacity(spec, provider_settings(resolve_provider(spec, provider, settings), settings))
    except CapacityError as e:
        raise UsageError(str(e)) from None

    with prefect_api(settings.state_dir) as api:
        run_page = RunPage(None if as_json else progress.TerminalSink())
        previous = progress.set_sink(run_page)
        try:
            results = run_certification(profile=profile, spec_path=spec_path, provider=provider, out=out,
                                        no_cache=no_cache)
        finally:
            progress.set_sink(previous)
    prefect = {"api_url": api.api_url, "server": api.source, "flow_run_url": run_page.url}
    emit(as_json, {k: results[k] for k in ("run_id", "verdict", "readiness_score", "categories",
                                           "report_path", "duration_s")}
         | {"failed_checks": [c["id"] for c in results["checks"] if c["status"] not in ("pass", "waived")],
            "prefect": prefect},
         lambda: _summary(results) + (f"\nPrefect run: {run_page.url}" if run_page.url else ""))
    return EXIT_BY_VERDICT[results["verdict"]]


def prefect_api(state_dir: Path):
    """The Prefect API the run reports to, as a context: PREFECT_API_URL, else the local server
    kept running between runs (started here on first use; `tradeswarm prefect stop` stops it)."""
    from tradeswarm.prefect_server import bound, connect

    try:
        return bound(connect(state_dir))
    except RuntimeError as e:  # the local server would not start: its log says why
        raise OperationError(str(e)) from None


class RunPage:
    """A progress sink that keeps the flow run's UI address (and shows it) and passes the rest on."""

    def __init__(self, inner) -> None:
        self.inner, self.url = inner, None

    def __call__(self, event: str, data: dict) -> None:
        if event == "flow_run":
            self.url = data["url"]
            if self.inner is not None and self.url:
                self.inner.stream.write(f"Prefect UI: {self.url}\n")
        elif self.inner is not None:
            self.inner(event, data)


@command("serve")
@click.option("--cron", default="0 2 * * *", show_default=True, help="Schedule (UTC).")
@click.option("--profile", type=click.Choice(["smoke", "standard", "nightly"]), default="nightly", show_default=True)
@click.option("--metrics-port", type=click.IntRange(0, 65535), default=9464, show_default=True,
              help="Serve the newest run of each profile on http://127.0.0.1:PORT/metrics (0: off).")
@click.option("--runs-root", type=click.Path(file_okay=False), help="Runs whose metrics are served "
              "(default reports/runs).")
@json_option
def serve(cron: str, profile: str, metrics_port: int, runs_root: str | None, as_json: bool) -> int:
    """Run the nightly certification schedule locally, without a work pool (Ctrl-C stops it).

    Also serves the last runs' outcome gauges (reports/prometheus.py) for Prometheus to scrape."""
    resolve_spec(profile, None)
    try:
        from prefect.schedules import Cron

        schedule = Cron(cron, timezone="UTC")
    except ValueError as e:
        raise UsageError(f"--cron {cron!r}: {e}") from None
    from flows.runinfo import RUNS_ROOT
    from reports.prometheus import serve_runs

    metrics = None
    if metrics_port:  # bound before the heavy imports: a busy port is refused at once
        try:
            serve_runs(runs_root or RUNS_ROOT, metrics_port)
        except OSError as e:
            raise UsageError(f"--metrics-port {metrics_port}: {e.strerror or e}") from None
        metrics = f"http://127.0.0.1:{metrics_port}/metrics"
    quiet_prefect()
    from tradeswarm.settings import Settings

    with prefect_api(Settings().state_dir) as api:  # the schedule and its runs outlive this process
        from flows.certify import certification

        emit(as_json, {"serving": "certification", "cron": cron, "timezone": "UTC", "profile": profile,
                       "metrics": metrics, "prefect": {"api_url": api.api_url, "ui_url": api.ui_url, "server": api.source}},
             f"serving the certification flow: cron {cron!r} UTC, profile {profile} (Ctrl-C stops); "
             f"Prefect UI {api.ui_url}" + (f"; metrics on {metrics}" if metrics else ""))
        # stdout holds the one document above; Prefect's banner and logs are for the terminal
        with contextlib.redirect_stdout(sys.stderr), contextlib.suppress(KeyboardInterrupt):  # Ctrl-C: the way to stop
            certification.serve(name=f"{profile}-local", schedules=[schedule], parameters={"profile": profile})
    return EXIT_OK
