"""Sandbox commands: create, list, status, destroy, exec, and the local server `sandboxd`."""

from __future__ import annotations

from pathlib import Path

import click

from tradeswarm.cli._common import OperationError, cli, command, emit, json_option


def _state_dir(value: str | None) -> Path:
    from tradeswarm.settings import Settings

    return Path(value) if value else Settings().state_dir


@cli.group()
def sandboxd() -> None:
    """The local E2B-compatible sandbox server (the embedded default provider)."""


_state_opt = click.option("--state-dir", default=None, help="State directory (default: TRADESWARM_STATE_DIR or .swarm).")


@sandboxd.command("serve")
@_state_opt
@click.option("--port", default=0, show_default=True, help="Loopback port; 0 picks a free one.")
@click.option("--max-sandboxes", default=10, show_default=True, type=click.IntRange(1, 10000))
@click.option("--create-rate", default=50.0, show_default=True, type=click.FloatRange(0), help="Creates per second (0: unlimited).")
@click.option("--memory-mb", default=None, type=click.IntRange(64), help="Address-space limit per sandbox process.")
@click.option("--log-level", default="warning", type=click.Choice(["debug", "info", "warning", "error"]))
def sandboxd_serve(state_dir, port, max_sandboxes, create_rate, memory_mb, log_level) -> None:
    """Run sandboxd in the foreground until interrupted."""
    from tradeswarm.sandbox.sandboxd.daemon import serve

    serve(_state_dir(state_dir), port=port, max_sandboxes=max_sandboxes, create_rate_per_s=create_rate,
          memory_mb=memory_mb, log_level=log_level)


@sandboxd.command("start")
@_state_opt
@json_option
def sandboxd_start(state_dir, as_json) -> None:
    """Start sandboxd as a background daemon (no-op when one is running)."""
    from tradeswarm.sandbox.sandboxd.daemon import start, status

    sd = _state_dir(state_dir)
    try:
        start(sd)
    except RuntimeError as e:
        raise OperationError(str(e)) from None
    info = status(sd)
    emit(as_json, info, f"sandboxd running at {info.get('url')} (pid {info.get('pid')})")


@sandboxd.command("stop")
@_state_opt
@json_option
def sandboxd_stop(state_dir, as_json) -> None:
    """Stop the background sandboxd (kills every sandbox it holds)."""
    from tradeswarm.sandbox.sandboxd.daemon import stop

    stopped = stop(_state_dir(state_dir))
    emit(as_json, {"stopped": stopped}, "sandboxd stopped" if stopped else "sandboxd was not running")


@sandboxd.command("status")
@_state_opt
@json_option
def sandboxd_status(state_dir, as_json) -> int:
    """Show whether sandboxd runs, where, and its counters; exit 1 when it does not run."""
    from tradeswarm.sandbox.sandboxd.daemon import status

    info = status(_state_dir(state_dir))
    emit(as_json, info, lambda: "\n".join(f"{k}: {v}" for k, v in info.items()))
    return 0 if info.get("running") else 1


__all__ = ["command"]
