"""Sandboxes a user made on purpose (`tradeswarm create`, the MCP tool `create_e2b_sandbox`).

They outlive the command or the MCP session that made them, until their lifetime runs out
or they are destroyed, and are remembered in `<state_dir>/sandboxes.json` (`CliState`), so
`tradeswarm list` shows the MCP server's sandboxes and the MCP tools see the CLI's. The CLI
and the MCP server both call these functions: one code path over the `e2b` SDK, E2B's cloud
with `E2B_API_KEY`, else the local sandboxd.

Errors are of two kinds, which each front end maps to its own: `SandboxRefused` (bad input,
an unknown sandbox or template, an ambiguous name, a corrupt state file: exit code 2, an MCP
tool error) and `SandboxFailed` (the service failed or is unreachable: exit code 1, an MCP
tool error). Partial failures are undone here, for both front ends: `create(count=N)` is all
or nothing, Ctrl-C during `execute` kills the remote command, a sandboxd that dies during
`execute` is named as such.

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
import threading
import time
import uuid
from datetime import datetime, timezone
from typing import Any, Callable, Iterator

from tradeswarm.sandbox.cli_state import AmbiguousName, CliState, CorruptState
from tradeswarm.settings import Settings

DEFAULT_LIFETIME_S = 3600


class SandboxRefused(ValueError):
    """Bad input: an unknown sandbox or template, a request the service refused (exit 2)."""


class SandboxFailed(RuntimeError):
    """The operation was attempted and failed, or the service is unreachable (exit 1)."""


class CreateInterrupted(KeyboardInterrupt):
    """Ctrl-C during `create` after some sandboxes were made; its message says what became of them."""


def params(settings: Settings, autostart: bool = False) -> dict:
    """SDK connection parameters; a missing local server is a `SandboxFailed`."""
    from tradeswarm.sandbox.provider import connection_params

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


def _state(settings: Settings) -> tuple[CliState, dict[str, dict]]:
    """The record of tracked sandboxes and its entries; unreadable is `SandboxRefused`, checked
    before anything is created that it could not record."""
    state = CliState(settings.state_dir)
    try:
        return state, state.read()
    except CorruptState as e:
        raise SandboxRefused(str(e)) from None


def resolve(settings: Settings, ref: str) -> str:
    """A sandbox id from an id or the name given at create; a name two sandboxes carry is refused.

    >>> resolve(Settings(TRADESWARM_STATE_DIR="/nonexistent"), "sbx-1")
    'sbx-1'
    """
    state, _ = _state(settings)
    try:
        return state.resolve(ref)
    except AmbiguousName as e:
        raise SandboxRefused(str(e)) from None


def _row(info: Any, names: dict) -> dict:
    from tradeswarm.sandbox.manager import _info_dict

    row = _info_dict(info)
    row["name"] = row["name"] or names.get(row["id"], {}).get("name")
    return row


def create(settings: Settings, template: str, *, name: str | None = None, timeout_s: int = DEFAULT_LIFETIME_S,
           metadata: dict[str, str] | None = None, origin: str = "cli") -> dict:
    """Create one sandbox (as `create_many` with count 1); `{id, name, template}`."""
    return create_many(settings, template, name=name, timeout_s=timeout_s, metadata=metadata, origin=origin)[0]


def create_many(settings: Settings, template: str, *, name: str | None = None, count: int = 1,
                timeout_s: int = DEFAULT_LIFETIME_S, metadata: dict[str, str] | None = None, origin: str = "cli",
                keep_partial: bool = False) -> list[dict]:
    """Create `count` sandboxes that outlive the caller and remember them; `[{id, name, template}]`.

    Names are suffixed -1, -2... when `count` > 1. All or nothing: when one cannot be made
    (the service's cap, say) or Ctrl-C arrives, those made are killed and forgotten (kept with
    `keep_partial`) and the error names them (`CreateInterrupted` for Ctrl-C). `origin` ("cli",
    "mcp") is kept in the metadata and the state file, for the record.
    """
    from e2b import Sandbox

    state, _ = _state(settings)
    sdk = params(settings, autostart=True)
    batch = uuid.uuid4().hex  # tags the whole call, so that an undo finds what the service made for it
    created: list[dict] = []
    try:
        for i in range(count):
            sb_name = name if (name is None or count == 1) else f"{name}-{i + 1}"
            meta = {"tradeswarm_cli": "1", "tradeswarm_origin": origin, "tradeswarm_batch": batch,
                    **({"name": sb_name} if sb_name else {}), **(metadata or {})}
            interrupted = None
            try:
                with sdk_errors(f"template {template!r}"):
                    sb = _in_thread(lambda: Sandbox.create(template, timeout=timeout_s, metadata=meta, **sdk),
                                    finish=True)
            except _Interrupted as e:  # Ctrl-C during the request: the sandbox it made must be undone too
                if e.result is None:
                    raise
                sb, interrupted = e.result, e
            try:
                with state.update() as entries:
                    entries[sb.sandbox_id] = {"name": sb_name, "template": template, "origin": origin,
                                              "created_at": datetime.now(timezone.utc).isoformat()}
            finally:  # recorded or not, it exists: the cleanup below must see it
                created.append({"id": sb.sandbox_id, "name": sb_name, "template": template})
            if interrupted:
                raise interrupted
    except (SandboxRefused, SandboxFailed, KeyboardInterrupt, OSError) as e:
        created += _made_unseen(sdk, batch, created, template)
        if not created:
            raise
        note = _undo_partial(created, count, keep_partial, sdk, state)
        if isinstance(e, KeyboardInterrupt):
            raise CreateInterrupted(note) from None
        raise (type(e) if isinstance(e, (SandboxRefused, SandboxFailed)) else SandboxFailed)(f"{e}; {note}") from None
    return created


def _made_unseen(sdk: dict, batch: str, seen: list[dict], template: str) -> list[dict]:
    """Sandboxes the service made for `batch` that the loop never saw.

    Ctrl-C can land after a create's response arrived and before its id was kept (between the
    worker thread's end and the assignment): the service holds a sandbox the caller cannot name.
    """
    from e2b import Sandbox
    from e2b.sandbox.sandbox_api import SandboxQuery

    known = {c["id"] for c in seen}
    try:
        infos = _every(Sandbox.list(query=SandboxQuery(metadata={"tradeswarm_batch": batch}), **sdk))
    except Exception:  # noqa: BLE001 - the service may be the failure being handled; `created` still holds
        return []
    return [{"id": i.sandbox_id, "name": (i.metadata or {}).get("name"), "template": template}
            for i in infos if i.sandbox_id not in known]


def _every(pager: Any) -> list:
    """All items of an SDK `Sandbox.list` pager, page after page."""
    items: list = []
    while pager.has_next:
        items.extend(pager.next_items())
    return items


def _undo_partial(created: list[dict], count: int, keep: bool, sdk: dict, state: CliState) -> str:
    """Kill (unless `keep`) and forget the sandboxes of a create that could not make all `count`."""
    from e2b import Sandbox

    ids = ", ".join(c["id"] for c in created)
    if keep:
        return f"created {len(created)} of {count}, kept: {ids} (remove them with `tradeswarm destroy`)"
    left = []
    for c in created:
        try:
            Sandbox.kill(c["id"], **sdk)
        except Exception:  # noqa: BLE001 - reported below, never silently
            left.append(c["id"])
    with state.update() as entries:
        for c in created:
            if c["id"] not in left:
                entries.pop(c["id"], None)
    gone = f"created {len(created)} of {count} and killed them again: {ids}"
    return gone + (f"; could NOT kill {', '.join(left)} (still listed by `tradeswarm list`)" if left else "")


def listed(settings: Settings, status: str | None = None, show_all: bool = False) -> list[dict]:
    """The remembered sandboxes still alive (`show_all`: every one the service reports)."""
    from e2b import Sandbox
    from e2b.sandbox.sandbox_api import SandboxQuery, SandboxState

    _, names = _state(settings)
    sdk = params(settings)
    query = SandboxQuery(state=[SandboxState(status)]) if status else None
    with sdk_errors():
        rows = [_row(i, names) for i in _every(Sandbox.list(query=query, **sdk))]
    return rows if show_all else [r for r in rows if r["id"] in names]


def status(settings: Settings, ref: str) -> dict:
    """One sandbox (by id, or by the name given at create) as the service reports it."""
    from e2b import Sandbox

    sid = resolve(settings, ref)
    sdk = params(settings)
    with sdk_errors(f"sandbox {ref!r}"):
        info = Sandbox.get_info(sid, **sdk)
    return _row(info, _state(settings)[1])


def destroy(settings: Settings, ref: str, force: bool = False) -> dict:
    """Kill a sandbox and forget it; an unknown one is `SandboxRefused` unless `force`."""
    from e2b import Sandbox

    sid = resolve(settings, ref)
    sdk = params(settings)
    with sdk_errors(f"sandbox {ref!r}"):
        existed = Sandbox.kill(sid, **sdk)
    with CliState(settings.state_dir).update() as entries:
        known = entries.pop(sid, None) is not None
    if not existed and not force:
        raise SandboxRefused(f"not found: sandbox {ref!r}" + (" (forgotten locally)" if known else ""))
    return {"id": sid, "killed": existed}


def execute(settings: Settings, ref: str, command: str | list[str], timeout_s: float = 60.0,
            on_stdout: Callable[[str], Any] | None = None, on_stderr: Callable[[str], Any] | None = None) -> dict:
    """Run a shell command line in a sandbox; `{id, exit_code, stdout, stderr}` (a non-zero exit
    is a result, not an error; a timeout kills the command and is `SandboxFailed`).

    It returns when the command exits, though a background job of it holds the output open;
    Ctrl-C kills the remote command (and is re-raised); a local sandboxd that stops answering
    meanwhile is a `SandboxFailed` saying "sandboxd gone", not a timeout."""
    from e2b import Sandbox
    from e2b.exceptions import TimeoutException
    from e2b.sandbox.commands.command_handle import CommandExitException

    from tradeswarm.sandbox.instance import sandbox_gone

    sid = resolve(settings, ref)
    sdk = params(settings)
    line = command if isinstance(command, str) else (command[0] if len(command) == 1 else shlex.join(command))
    stream = {k: v for k, v in (("on_stdout", on_stdout), ("on_stderr", on_stderr)) if v is not None}
    with sdk_errors(f"sandbox {ref!r}"):
        sb = Sandbox.connect(sid, **sdk)
        # In the background, so that the pid is known: Ctrl-C kills the remote command.
        handle = sb.commands.run(line, background=True, timeout=timeout_s)
        try:
            res = _in_thread(lambda: handle.wait(**stream))  # the sync SDK streams output from wait()
            code, out, err = res.exit_code, res.stdout, res.stderr
        except CommandExitException as e:
            code, out, err = e.exit_code, e.stdout, e.stderr
        except KeyboardInterrupt:
            _kill_quietly(handle)
            raise
        except TimeoutException as e:
            _raise_if_sandboxd_gone(sdk)  # a dropped stream reads as a timeout to the SDK
            if sandbox_gone(e):
                raise SandboxFailed(f"sandbox {sid} was killed or reached its end of life while the command ran") from None
            raise SandboxFailed(f"command timed out after {timeout_s:g}s (killed)") from None
        except Exception:
            _raise_if_sandboxd_gone(sdk)
            raise
    return {"id": sid, "exit_code": code, "stdout": out, "stderr": err}


class _Interrupted(KeyboardInterrupt):
    """Ctrl-C that arrived during `_in_thread(..., finish=True)`; `result` is what the call returned."""

    def __init__(self, result: Any) -> None:
        super().__init__()
        self.result = result


def _in_thread(call: Callable[[], Any], finish: bool = False) -> Any:
    """`call()` in a worker thread: the SDK's reads block in native code, where Ctrl-C never lands.

    The calling thread stays interruptible, so a KeyboardInterrupt reaches it at once (`execute`
    then kills the remote command). With `finish`, the call is let finish first and its result
    carried by `_Interrupted`: a create cut off mid-request would leave a sandbox nobody knows.
    """
    outcome: dict = {}

    # Polled with sleep, not Thread.join or Event.wait: Ctrl-C cutting off either can leave the
    # thread looking ended while it runs on, or its lock held so that it never ends.
    def run() -> None:
        try:
            outcome["result"] = call()
        except BaseException as e:  # noqa: BLE001 - handed to the calling thread as is
            outcome["error"] = e
        finally:
            outcome["done"] = True

    threading.Thread(target=run, name="sdk-call", daemon=True).start()
    try:
        while "done" not in outcome:
            time.sleep(0.02)
    except KeyboardInterrupt:
        if not finish:
            raise
        while "done" not in outcome:
            time.sleep(0.02)
        raise _Interrupted(outcome.get("result")) from None
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]


def _kill_quietly(handle: Any) -> None:
    try:
        handle.kill()
    except Exception:  # noqa: BLE001 - the command may have ended meanwhile
        pass


def _raise_if_sandboxd_gone(sdk: dict) -> None:
    """A dropped stream from a local sandboxd that no longer answers: say that, not a timeout."""
    from tradeswarm.sandbox.sandboxd.daemon import Endpoint, probe

    url = sdk.get("api_url")
    if url and not probe(Endpoint(url=url, token=sdk["api_key"], pid=0), timeout_s=2.0):
        raise SandboxFailed(f"sandboxd gone: {url} stopped answering during the command (its sandboxes "
                            "are lost); start it again with `tradeswarm sandboxd start`") from None
