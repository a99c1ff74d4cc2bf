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
_COLUMNS = ["id", "name", "template", "state", "started_at", "end_at"]
_STATUS_COLUMNS = [*_COLUMNS, "cpu_count", "memory_mb", "metadata"]


def _settings():
    from tradeswarm.settings import Settings

    return Settings()


def _params(settings, autostart: bool = False) -> dict:
    """SDK connection parameters; a missing local server is an operation failure (exit 1)."""
    from tradeswarm.sandbox._provider import connection_params

    try:
        return connection_params(settings, autostart=autostart)
    except (ConnectionError, RuntimeError) as e:
        raise OperationError(f"{e}; start it with `tradeswarm sandboxd start`") from None


def _sdk_errors(ref: str = ""):
    """Translate SDK failures into the CLI's two error kinds (bad input 2, failure 1)."""
    import contextlib

    import httpx
    from e2b.exceptions import AuthenticationException, NotFoundException, SandboxException

    @contextlib.contextmanager
    def translate():
        try:
            yield
        except NotFoundException as e:
            raise UsageError(f"not found: {ref or e}") from None
        except AuthenticationException as e:
            raise OperationError(f"authentication failed: {e}") from None
        except (httpx.TransportError, ConnectionError) as e:
            raise OperationError(f"sandbox service unreachable: {type(e).__name__}") from None
        except SandboxException as e:
            status = getattr(e, "status_code", None) or (int(str(e)[:3]) if str(e)[:3].isdigit() else None)
            if status in (400, 404, 422):  # the service refused the input (e.g. an unknown template)
                raise UsageError(str(e).removeprefix(f"{status}: ")) from None
            raise OperationError(str(e)) from None

    return translate()


def _cli_state(settings):
    """The CLI's record of its sandboxes, checked readable (exit 2 before anything is created)."""
    from tradeswarm.sandbox.cli_state import CliState, CorruptState

    state = CliState(settings.state_dir)
    try:
        state.read()
    except CorruptState as e:
        raise UsageError(str(e)) from None
    return state


def _target(ref: str):
    """(SDK params, CLI state, sandbox id) for a command addressing one sandbox by id or name."""
    from tradeswarm.sandbox.cli_state import AmbiguousName

    settings = _settings()
    state = _cli_state(settings)
    try:
        sid = state.resolve(ref)
    except AmbiguousName as e:
        raise UsageError(str(e)) from None
    return _params(settings), state, sid


def _row(info, names: dict) -> dict:
    from tradeswarm.sandbox.manager import _info_dict

    row = _info_dict(info)
    row["name"] = row["name"] or names.get(row["id"], {}).get("name")
    return row


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
    from datetime import datetime, timezone

    from e2b import Sandbox

    from tradeswarm.sandbox import Resources
    from tradeswarm.sandbox.sandboxd import RESOURCES_KEY

    settings = _settings()
    sized = {}
    if vcpus or memory_mb:
        if settings.provider == "e2b":
            raise UsageError("--vcpus/--memory-mb: on E2B a sandbox's size is its template's; build a template "
                             "of that size and pass --template")
        sized = {RESOURCES_KEY: Resources(vcpus=vcpus, memory_mb=memory_mb).to_json()}
    state = _cli_state(settings)  # unreadable: refuse before a sandbox exists that it could not record
    params = _params(settings, autostart=True)
    created: list[dict] = []
    try:
        for i in range(count):
            sb_name = name if (name is None or count == 1) else f"{name}-{i + 1}"
            meta = {"tradeswarm_cli": "1", **({"name": sb_name} if sb_name else {}), **sized}
            with _sdk_errors(f"template {template!r}"):
                sb = Sandbox.create(template, timeout=timeout_s, metadata=meta, **params)
            try:
                with state.update() as entries:
                    entries[sb.sandbox_id] = {"name": sb_name, "template": template,
                                              "created_at": datetime.now(timezone.utc).isoformat()}
            finally:  # recorded or not, it exists: the cleanup below must see it
                created.append({"id": sb.sandbox_id, "name": sb_name, "template": template})
    except (UsageError, OperationError, KeyboardInterrupt, OSError) as e:
        if not created:
            raise
        note = _partial_create(created, count, keep_partial, params, state)
        if isinstance(e, KeyboardInterrupt):
            click.echo(f"tradeswarm: interrupted: {note}", err=True)
            raise
        raise (type(e) if isinstance(e, (UsageError, OperationError)) else OperationError)(f"{e}; {note}") from None
    emit(as_json, {"created": created}, lambda: table(created, ["id", "name", "template"]))


def _partial_create(created: list[dict], count: int, keep: bool, params: dict, state) -> str:
    """Kill (unless `keep`) and forget the sandboxes of a create that could not make all `count`."""
    from e2b import Sandbox

    ids = ", ".join(c["id"] for c in created)
    if keep:
        return f"created {len(created)} of {count}, kept: {ids} (remove them with `tradeswarm destroy`)"
    left = []
    for c in created:
        try:
            Sandbox.kill(c["id"], **params)
        except Exception:  # noqa: BLE001 - reported below, never silently
            left.append(c["id"])
    with state.update() as entries:
        for c in created:
            if c["id"] not in left:
                entries.pop(c["id"], None)
    gone = f"created {len(created)} of {count} and killed them again: {ids}"
    return gone + (f"; could NOT kill {', '.join(left)} (still listed by `tradeswarm list`)" if left else "")


@command("list")
@click.option("--status", "status_filter", default=None, type=click.Choice(["running", "paused"]),
              help="Only sandboxes in this state.")
@click.option("--all", "show_all", is_flag=True, help="Every sandbox the service reports, not only the CLI's.")
@json_option
def list_cmd(status_filter, show_all, as_json) -> None:
    """List the sandboxes this CLI created (that are still alive)."""
    from e2b import Sandbox
    from e2b.sandbox.sandbox_api import SandboxQuery, SandboxState

    settings = _settings()
    names = _cli_state(settings).read()
    params = _params(settings)
    query = SandboxQuery(state=[SandboxState(status_filter)]) if status_filter else None
    rows = []
    with _sdk_errors():
        pager = Sandbox.list(query=query, **params)
        while pager.has_next:
            rows.extend(_row(i, names) for i in pager.next_items())
    if not show_all:
        rows = [r for r in rows if r["id"] in names]
    emit(as_json, {"sandboxes": rows}, lambda: table(rows, _COLUMNS))


@command("status")
@click.argument("sandbox")
@json_option
def status_cmd(sandbox, as_json) -> None:
    """Show one sandbox (by id, or by the name given at create)."""
    from e2b import Sandbox

    params, state, sid = _target(sandbox)
    with _sdk_errors(f"sandbox {sandbox!r}"):
        info = Sandbox.get_info(sid, **params)
    row = _row(info, state.read())
    meta = ", ".join(f"{k}={v}" for k, v in row["metadata"].items() if k != "name")
    emit(as_json, row, lambda: table([{**row, "metadata": meta or "-"}], _STATUS_COLUMNS))


@command("destroy")
@click.argument("sandbox")
@click.option("--force", is_flag=True, help="Also forget a sandbox the service no longer knows (exit 0).")
@json_option
def destroy_cmd(sandbox, force, as_json) -> None:
    """Kill a sandbox and forget it; an unknown id is an error unless --force."""
    from e2b import Sandbox

    params, state, sid = _target(sandbox)
    with _sdk_errors(f"sandbox {sandbox!r}"):
        existed = Sandbox.kill(sid, **params)
    with state.update() as entries:
        known = entries.pop(sid, None) is not None
    if not existed and not force:
        raise UsageError(f"not found: sandbox {sandbox!r}" + (" (forgotten locally)" if known else ""))
    emit(as_json, {"id": sid, "killed": existed}, f"{sid} {'destroyed' if existed else 'was already gone'}")


@command("exec", context_settings={"ignore_unknown_options": True})
@click.argument("sandbox")
@click.argument("cmd", nargs=-1, required=True, type=click.UNPROCESSED)
@click.option("--timeout", "timeout_s", default=60.0, show_default=True, type=click.FloatRange(0.1))
@json_option
def exec_cmd(sandbox, cmd, timeout_s, as_json) -> int:
    """Run `CMD...` in a sandbox (`tradeswarm exec ID -- CMD...`); exits with its exit code."""
    import shlex
    import sys

    from e2b import Sandbox
    from e2b.exceptions import TimeoutException
    from e2b.sandbox.commands.command_handle import CommandExitException

    from tradeswarm.sandbox.handles import sandbox_gone

    params, _, sid = _target(sandbox)
    line = cmd[0] if len(cmd) == 1 else shlex.join(cmd)
    stream = {} if as_json else {"on_stdout": lambda s: sys.stdout.write(s), "on_stderr": lambda s: sys.stderr.write(s)}
    with _sdk_errors(f"sandbox {sandbox!r}"):
        sb = Sandbox.connect(sid, **params)
        # In the background, so that the pid is known: Ctrl-C kills the remote command.
        handle = sb.commands.run(line, background=True, timeout=timeout_s)
        try:
            res = _wait_interruptibly(handle, stream)
            code, out, err = res.exit_code, res.stdout, res.stderr
        except CommandExitException as e:
            code, out, err = e.exit_code, e.stdout, e.stderr
        except KeyboardInterrupt:
            _kill_quietly(handle)
            raise
        except TimeoutException as e:
            _raise_if_sandboxd_gone(params)  # a dropped stream reads as a timeout to the SDK
            if sandbox_gone(e):
                raise OperationError(f"sandbox {sid} was killed or reached its end of life while the command ran") from None
            raise OperationError(f"command timed out after {timeout_s:g}s (killed)") from None
        except Exception as e:
            _raise_if_sandboxd_gone(params)
            raise e
    if as_json:
        emit(True, {"id": sid, "exit_code": code, "stdout": out, "stderr": err}, "")
    else:
        sys.stdout.flush()
    return code if 0 <= code < 256 else 1


def _wait_interruptibly(handle, stream: dict):
    """`handle.wait()` in a thread: the SDK's read blocks in native code, where Ctrl-C never lands.

    The main thread stays interruptible, so a KeyboardInterrupt reaches the caller (which kills
    the remote command); the sync SDK streams a background command's output from wait()."""
    import threading

    outcome: dict = {}

    def wait() -> None:
        try:
            outcome["result"] = handle.wait(**stream)
        except BaseException as e:  # noqa: BLE001 - handed to the main thread as is
            outcome["error"] = e

    worker = threading.Thread(target=wait, name="exec-wait", daemon=True)
    worker.start()
    while worker.is_alive():
        worker.join(0.2)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]


def _kill_quietly(handle) -> None:
    try:
        handle.kill()
    except Exception:  # noqa: BLE001 - the command may have ended meanwhile
        pass


def _raise_if_sandboxd_gone(params: dict) -> None:
    """A dropped stream from a local sandboxd that no longer answers: say that, not a timeout."""
    from tradeswarm.sandbox.sandboxd.daemon import Endpoint, probe

    url = params.get("api_url")
    if url and not probe(Endpoint(url=url, token=params["api_key"], pid=0), timeout_s=2.0):
        raise OperationError(f"sandboxd gone: {url} stopped answering during the command (its sandboxes "
                             "are lost); start it again with `tradeswarm sandboxd start`") from None
