"""`tradeswarm prefect start|stop|status|serve`: the local Prefect server runs report to.

`tradeswarm certify` starts it on first use and leaves it running (see
tradeswarm/prefect_server.py); these commands are for looking at it, stopping it, or starting
it ahead of the first run. With PREFECT_API_URL set, runs report to that server instead.
"""

from __future__ import annotations

import click

from tradeswarm.cli._common import OperationError, UsageError, cli, emit, json_option


def _state_dir(value: str | None):
    from pathlib import Path

    from tradeswarm.settings import Settings

    return Path(value) if value else Settings().state_dir


_state_opt = click.option("--state-dir", default=None, help="State directory (default: TRADESWARM_STATE_DIR or .swarm).")


@cli.group("prefect")
def prefect_group() -> None:
    """The local Prefect server (API and UI) that certification runs report to."""


@prefect_group.command("serve")
@_state_opt
@click.option("--port", default=0, show_default=True, type=click.IntRange(0, 65535),
              help="Loopback port; 0 picks a free one.")
@click.option("--log-level", default="warning", type=click.Choice(["debug", "info", "warning", "error"]))
def prefect_serve(state_dir, port, log_level) -> None:
    """Run the Prefect server in the foreground until interrupted."""
    from tradeswarm.prefect_server import AlreadyServing, serve

    try:
        serve(_state_dir(state_dir), port=port, log_level=log_level)
    except AlreadyServing as e:
        raise UsageError(str(e)) from None
    except OSError as e:  # the port is taken
        raise UsageError(f"--port {port}: {e.strerror or e}") from None


@prefect_group.command("start")
@_state_opt
@click.option("--port", default=0, show_default=True, type=click.IntRange(0, 65535),
              help="Loopback port when it starts; 0 picks a free one.")
@json_option
def prefect_start(state_dir, port, as_json) -> None:
    """Start the Prefect server in the background (no-op when it runs); prints its UI address."""
    from tradeswarm.prefect_server import start, status

    sd = _state_dir(state_dir)
    try:
        start(sd, port=port)
    except RuntimeError as e:
        raise OperationError(str(e)) from None
    info = status(sd)
    emit(as_json, info, f"Prefect server running: UI {info['url']}, API {info['api_url']} (pid {info['pid']})")


@prefect_group.command("stop")
@_state_opt
@json_option
def prefect_stop(state_dir, as_json) -> None:
    """Stop the background Prefect server (its database, with every run, stays)."""
    from tradeswarm.prefect_server import stop

    stopped = stop(_state_dir(state_dir))
    emit(as_json, {"stopped": stopped}, "Prefect server stopped" if stopped else "Prefect server was not running")


@prefect_group.command("status")
@_state_opt
@json_option
def prefect_status(state_dir, as_json) -> int:
    """Show whether the Prefect server runs, its UI address, and where runs report to; exit 1
    when it does not run."""
    from tradeswarm.prefect_server import status

    info = status(_state_dir(state_dir))
    emit(as_json, info, lambda: "\n".join(f"{k}: {v}" for k, v in info.items()))
    return 0 if info["running"] else 1
