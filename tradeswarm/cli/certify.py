"""`tradeswarm certify` (the main job) and `tradeswarm serve` (the nightly schedule, locally)."""

from __future__ import annotations

import os
from pathlib import Path

import click

from tradeswarm.cli._common import (
    EXIT_CONDITIONAL, EXIT_FAIL, EXIT_OK, UsageError, command, emit, json_option, table,
)

EXIT_BY_VERDICT = {"CERTIFIED": EXIT_OK, "CONDITIONAL": EXIT_CONDITIONAL, "NOT_CERTIFIED": EXIT_FAIL}


def quiet_prefect() -> None:
    """Settings that keep a successful run's output free of Prefect noise (see shared notes;
    `flows` itself turns off the temporary server's telemetry)."""
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
    # The terminal shows tradeswarm's own stage lines; Prefect's logs still reach its API/UI.
    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")


def resolve_spec(profile: str, spec_path: str | None):
    """Load and validate the spec before anything starts; a bad spec is exit code 2."""
    from validation import SpecError, load_spec

    try:
        return load_spec(spec_path or profile)
    except SpecError as e:
        raise UsageError(str(e)) from None


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

    spec = resolve_spec(profile, spec_path)
    from flows._runinfo import resolve_provider

    settings = Settings()
    if resolve_provider(spec, provider, settings) == "e2b" and settings.e2b_api_key is None:
        raise UsageError("provider e2b needs E2B_API_KEY in the environment")
    quiet_prefect()
    from flows.certify import certification

    previous = progress.set_sink(None if as_json else progress.TerminalSink())
    try:
        state = asyncio.run(certification(profile=profile, spec_path=spec_path, provider=provider, out=out,
                                          no_cache=no_cache, return_state=True))
    finally:
        progress.set_sink(previous)
    results = state.result(raise_on_failure=False)
    if not isinstance(results, dict):  # the flow itself crashed: its exception, not a verdict
        raise results if isinstance(results, BaseException) else RuntimeError(f"certification ended {state.name}")
    emit(as_json, {k: results[k] for k in ("run_id", "verdict", "readiness_score", "categories",
                                           "report_path", "duration_s")}
         | {"failed_checks": [c["id"] for c in results["checks"] if c["status"] not in ("pass", "waived")]},
         lambda: _summary(results))
    return EXIT_BY_VERDICT[results["verdict"]]


@command("serve")
@click.option("--cron", default="0 2 * * *", show_default=True, help="Schedule (UTC).")
@click.option("--profile", type=click.Choice(["smoke", "standard", "nightly"]), default="nightly", show_default=True)
@json_option
def serve(cron: str, profile: str, as_json: bool) -> int:
    """Run the nightly certification schedule locally, without a work pool (Ctrl-C stops it)."""
    resolve_spec(profile, None)
    try:
        from prefect.schedules import Cron

        schedule = Cron(cron, timezone="UTC")
    except ValueError as e:
        raise UsageError(f"--cron {cron!r}: {e}") from None
    quiet_prefect()
    from flows.certify import certification

    emit(as_json, {"serving": "certification", "cron": cron, "timezone": "UTC", "profile": profile},
         f"serving the certification flow: cron {cron!r} UTC, profile {profile} (Ctrl-C stops)")
    certification.serve(name=f"{profile}-local", schedules=[schedule], parameters={"profile": profile})
    return EXIT_OK
