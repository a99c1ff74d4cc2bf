"""Sandbox commands: create, list, status, destroy, exec, and the local server `sandboxd`."""

from __future__ import annotations

from pathlib import Path

import click

from tradeswarm.cli._common import OperationError, UsageError, cli, command, emit, json_option, table


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
@click.option("--max-processes", default=None, type=click.IntRange(4), help="Processes per sandbox (pids cgroup).")
@click.option("--vcpus", default=None, type=click.IntRange(1), help="Cores each sandbox is pinned to (default 1).")
@click.option("--max-memory-mb", default=None, type=click.IntRange(64),
              help="Most memory a create may ask for (default: the host's RAM).")
@click.option("--spares", default=None, type=click.IntRange(0),
              help="Workspaces copied ahead per template (default 8; 0: every create copies).")
@click.option("--log-level", default="warning", type=click.Choice(["debug", "info", "warning", "error"]))
@click.option("--token-file", default=None, type=click.Path(exists=True, dir_okay=False),
              help="Read the access token from this file instead of generating one.")
@click.option("--no-isolation", is_flag=True, help="Run sandboxes as plain host processes (no namespaces; "
              "for comparison only: a sandbox can then read and write the host).")
def sandboxd_serve(state_dir, port, max_sandboxes, create_rate, memory_mb, max_processes, vcpus, max_memory_mb,
                   spares, log_level, token_file, no_isolation) -> None:
    """Run sandboxd in the foreground until interrupted."""
    import os
    import sys

    from tradeswarm.sandbox.sandboxd.daemon import AlreadyServing, secrets_in_environment, serve

    if secrets_in_environment():  # /proc/<pid>/environ keeps what unsetenv removes: start afresh without them
        env = {k: v for k, v in os.environ.items() if k not in secrets_in_environment()}
        os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], env)
    try:
        serve(_state_dir(state_dir), port=port, log_level=log_level, token_file=token_file, isolate=not no_isolation,
              max_sandboxes=max_sandboxes, create_rate_per_s=create_rate, memory_mb=memory_mb,
              max_processes=max_processes, vcpus=vcpus, max_memory_mb=max_memory_mb, spares=spares)
    except AlreadyServing as e:
        raise UsageError(str(e)) from None


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




# -- sandboxes ----------------------------------------------------------------------------
# The work is in tradeswarm.sandbox.tracked, shared with the MCP server; here only the
# options, the output, the exit codes and the Ctrl-C message.
_COLUMNS = ["id", "name", "template", "state", "started_at", "end_at"]
_STATUS_COLUMNS = [*_COLUMNS, "cpu_count", "memory_mb", "metadata"]


def _settings():
    from tradeswarm.settings import Settings

    return Settings()


def _tracked(call, *args, **kwargs):
    """Call `tracked.<call>`, its two error kinds mapped to the CLI's (bad input 2, failure 1)."""
    from tradeswarm.sandbox import tracked

    try:
        return getattr(tracked, call)(_settings(), *args, **kwargs)
    except tracked.SandboxRefused as e:
        raise UsageError(str(e)) from None
    except tracked.SandboxFailed as e:
        raise OperationError(str(e)) from None
    except tracked.CreateInterrupted as e:  # then exit 130, as any Ctrl-C
        click.echo(f"tradeswarm: interrupted: {e}", err=True)
        raise


@command("create")
@click.option("--template", "-t", default="trading", show_default=True, help="Template: base or trading (or an E2B template).")
@click.option("--count", "-n", default=1, show_default=True, type=click.IntRange(1, 100))
@click.option("--name", default=None, help="A name for the sandbox (suffixed -1, -2... when --count > 1).")
@click.option("--timeout", "timeout_s", default=3600, show_default=True, type=click.IntRange(1, 86400),
              help="Lifetime in seconds; the service kills the sandbox after it.")
@click.option("--vcpus", type=click.IntRange(1, 256), default=None,
              help="vCPUs each sandbox gets (sandboxd; on E2B its template fixes them).")
@click.option("--memory-mb", type=click.IntRange(64), default=None,
              help="Memory each sandbox gets, MiB (sandboxd; on E2B its template fixes it).")
@click.option("--keep-partial", is_flag=True,
              help="When not all --count sandboxes can be made, keep those that were (default: kill them).")
@json_option
def create_cmd(template, count, name, timeout_s, vcpus, memory_mb, keep_partial, as_json) -> None:
    """Create sandboxes that outlive this command (destroy them with `tradeswarm destroy`).

    All or nothing: when the service refuses one of --count (its cap, say) or the command is
    interrupted, the sandboxes already made are killed and named (or kept with --keep-partial)."""
    from tradeswarm.sandbox import Resources
    from tradeswarm.sandbox.sandboxd import RESOURCES_KEY

    sized = {}
    if vcpus or memory_mb:
        if _settings().provider == "e2b":
            raise UsageError("--vcpus/--memory-mb: on E2B a sandbox's size is its template's; build a template "
                             "of that size and pass --template")
        sized = {RESOURCES_KEY: Resources(vcpus=vcpus, memory_mb=memory_mb).to_json()}
    created = _tracked("create_many", template, name=name, count=count, timeout_s=timeout_s, metadata=sized,
                       keep_partial=keep_partial)
    emit(as_json, {"created": created}, lambda: table(created, ["id", "name", "template"]))


@command("list")
@click.option("--status", "status_filter", default=None, type=click.Choice(["running", "paused"]),
              help="Only sandboxes in this state.")
@click.option("--all", "show_all", is_flag=True, help="Every sandbox the service reports, not only the CLI's.")
@json_option
def list_cmd(status_filter, show_all, as_json) -> None:
    """List the sandboxes this CLI (or the MCP server) created that are still alive."""
    rows = _tracked("listed", status_filter, show_all)
    emit(as_json, {"sandboxes": rows}, lambda: table(rows, _COLUMNS))


@command("status")
@click.argument("sandbox")
@json_option
def status_cmd(sandbox, as_json) -> None:
    """Show one sandbox (by id, or by the name given at create)."""
    row = _tracked("status", sandbox)
    meta = ", ".join(f"{k}={v}" for k, v in row["metadata"].items() if k != "name")
    emit(as_json, row, lambda: table([{**row, "metadata": meta or "-"}], _STATUS_COLUMNS))


@command("destroy")
@click.argument("sandbox")
@click.option("--force", is_flag=True, help="Also forget a sandbox the service no longer knows (exit 0).")
@json_option
def destroy_cmd(sandbox, force, as_json) -> None:
    """Kill a sandbox and forget it; an unknown id is an error unless --force."""
    out = _tracked("destroy", sandbox, force)
    emit(as_json, out, f"{out['id']} {'destroyed' if out['killed'] else 'was already gone'}")


@command("exec", context_settings={"ignore_unknown_options": True})
@click.argument("sandbox")
@click.argument("cmd", nargs=-1, required=True, type=click.UNPROCESSED)
@click.option("--timeout", "timeout_s", default=60.0, show_default=True, type=click.FloatRange(0.1))
@json_option
def exec_cmd(sandbox, cmd, timeout_s, as_json) -> int:
    """Run `CMD...` in a sandbox (`tradeswarm exec ID -- CMD...`); exits with its exit code.

    Ctrl-C kills the remote command (exit 130)."""
    import sys

    stream = {} if as_json else {"on_stdout": lambda s: sys.stdout.write(s), "on_stderr": lambda s: sys.stderr.write(s)}
    out = _tracked("execute", sandbox, list(cmd), timeout_s, **stream)
    if as_json:
        emit(True, out, "")
    else:
        sys.stdout.flush()
    code = out["exit_code"]
    return code if 0 <= code < 256 else 1
