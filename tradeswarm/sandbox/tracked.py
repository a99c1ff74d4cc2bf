"""Sandboxes a user made on purpose (`tradeswarm create`, the MCP tool `create_e2b_sandbox`).

They outlive the command or the MCP session that made them, until their lifetime runs out
or they are destroyed, and are remembered in `<state_dir>/sandboxes.json` (`CliState`), so
`tradeswarm list` shows the MCP server's sandboxes and the MCP tools see the CLI's. The CLI
and the MCP server both call these functions: one code path over the `e2b` SDK, E2B's cloud
with `E2B_API_KEY`, else the local sandboxd.

Errors are of two kinds, which each front end maps to its own: `SandboxRefused` (bad input,
an unknown sandbox or template: exit code 2, an MCP tool error) and `SandboxFailed` (the
service failed or is unreachable: exit code 1, an MCP tool error).

>>> from tradeswarm.settings import Settings
>>> try:
...     params(Settings(TRADESWARM_STATE_DIR="/nonexistent"), autostart=False)
... except SandboxFailed as e:
...     print(str(e).split(";")[0])
no sandboxd is running for state dir /nonexistent
"""

from __future__ import annotations

import contextlib
import shlex
from datetime import datetime, timezone
from typing import Any, Callable, Iterator

from tradeswarm.sandbox.cli_state import CliState
from tradeswarm.settings import Settings

DEFAULT_LIFETIME_S = 3600


class SandboxRefused(ValueError):
    """Bad input: an unknown sandbox or template, a request the service refused (exit 2)."""


class SandboxFailed(RuntimeError):
    """The operation was attempted and failed, or the service is unreachable (exit 1)."""


def params(settings: Settings, autostart: bool = False) -> dict:
    """SDK connection parameters; a missing local server is a `SandboxFailed`."""
    from tradeswarm.sandbox._provider import connection_params

    try:
        return connection_params(settings, autostart=autostart)
    except (ConnectionError, RuntimeError) as e:
        raise SandboxFailed(f"{e}; start it with `tradeswarm sandboxd start`") from None


@contextlib.contextmanager
def sdk_errors(ref: str = "") -> Iterator[None]:
    """Translate the SDK's failures into `SandboxRefused` / `SandboxFailed`, one line each."""
    import httpx
    from e2b.exceptions import AuthenticationException, NotFoundException, SandboxException

    try:
        yield
    except NotFoundException as e:
        raise SandboxRefused(f"not found: {ref or e}") from None
    except AuthenticationException as e:
        raise SandboxFailed(f"authentication failed: {e}") from None
    except (httpx.TransportError, ConnectionError) as e:
        raise SandboxFailed(f"sandbox service unreachable: {type(e).__name__}") from None
    except SandboxException as e:
        status = getattr(e, "status_code", None) or (int(str(e)[:3]) if str(e)[:3].isdigit() else None)
        if status in (400, 404, 422):  # the service refused the input (e.g. an unknown template)
            raise SandboxRefused(str(e).removeprefix(f"{status}: ")) from None
        raise SandboxFailed(str(e)) from None


def _row(info: Any, names: dict) -> dict:
    from tradeswarm.sandbox.manager import _info_dict

    row = _info_dict(info)
    row["name"] = row["name"] or names.get(row["id"], {}).get("name")
    return row


def create(settings: Settings, template: str, *, name: str | None = None, timeout_s: int = DEFAULT_LIFETIME_S,
           metadata: dict[str, str] | None = None, origin: str = "cli") -> dict:
    """Create one sandbox that outlives the caller and remember it; `{id, name, template}`.

    `origin` ("cli", "mcp") is kept in its metadata and in the state file, for the record.
    """
    from e2b import Sandbox

    sdk = params(settings, autostart=True)
    meta = {"tradeswarm_cli": "1", "tradeswarm_origin": origin, **({"name": name} if name else {}),
            **(metadata or {})}
    with sdk_errors(f"template {template!r}"):
        sb = Sandbox.create(template, timeout=timeout_s, metadata=meta, **sdk)
    with CliState(settings.state_dir).update() as entries:
        entries[sb.sandbox_id] = {"name": name, "template": template, "origin": origin,
                                  "created_at": datetime.now(timezone.utc).isoformat()}
    return {"id": sb.sandbox_id, "name": name, "template": template}


def listed(settings: Settings, status: str | None = None, show_all: bool = False) -> list[dict]:
    """The remembered sandboxes still alive (`show_all`: every one the service reports)."""
    from e2b import Sandbox
    from e2b.sandbox.sandbox_api import SandboxQuery, SandboxState

    sdk = params(settings)
    names = CliState(settings.state_dir).read()
    query = SandboxQuery(state=[SandboxState(status)]) if status else None
    rows: list[dict] = []
    with sdk_errors():
        pager = Sandbox.list(query=query, **sdk)
        while pager.has_next:
            rows.extend(_row(i, names) for i in pager.next_items())
    return rows if show_all else [r for r in rows if r["id"] in names]


def _target(settings: Settings, ref: str) -> tuple[dict, CliState, str]:
    state = CliState(settings.state_dir)
    return params(settings), state, state.resolve(ref)


def status(settings: Settings, ref: str) -> dict:
    """One sandbox (by id, or by the name given at create) as the service reports it."""
    from e2b import Sandbox

    sdk, state, sid = _target(settings, ref)
    with sdk_errors(f"sandbox {ref!r}"):
        info = Sandbox.get_info(sid, **sdk)
    return _row(info, state.read())


def destroy(settings: Settings, ref: str, force: bool = False) -> dict:
    """Kill a sandbox and forget it; an unknown one is `SandboxRefused` unless `force`."""
    from e2b import Sandbox

    sdk, state, sid = _target(settings, ref)
    with sdk_errors(f"sandbox {ref!r}"):
        existed = Sandbox.kill(sid, **sdk)
    with state.update() as entries:
        known = entries.pop(sid, None) is not None
    if not existed and not force:
        raise SandboxRefused(f"not found: sandbox {ref!r}" + (" (forgotten locally)" if known else ""))
    return {"id": sid, "killed": existed}


def execute(settings: Settings, ref: str, command: str | list[str], timeout_s: float = 60.0,
            on_stdout: Callable[[str], Any] | None = None, on_stderr: Callable[[str], Any] | None = None) -> dict:
    """Run a shell command line in a sandbox; `{id, exit_code, stdout, stderr}` (a non-zero exit
    is a result, not an error; a timeout kills the command and is `SandboxFailed`)."""
    from e2b import Sandbox
    from e2b.exceptions import TimeoutException
    from e2b.sandbox.commands.command_handle import CommandExitException

    sdk, _, sid = _target(settings, ref)
    line = command if isinstance(command, str) else (command[0] if len(command) == 1 else shlex.join(command))
    stream = {k: v for k, v in (("on_stdout", on_stdout), ("on_stderr", on_stderr)) if v is not None}
    with sdk_errors(f"sandbox {ref!r}"):
        sb = Sandbox.connect(sid, **sdk)
        try:
            res = sb.commands.run(line, timeout=timeout_s, **stream)
            code, out, err = res.exit_code, res.stdout, res.stderr
        except CommandExitException as e:
            code, out, err = e.exit_code, e.stdout, e.stderr
        except TimeoutException:
            raise SandboxFailed(f"command timed out after {timeout_s:g}s (killed)") from None
    return {"id": sid, "exit_code": code, "stdout": out, "stderr": err}
