"""The local Prefect server a certification reports to, kept running between runs.

Why: without `PREFECT_API_URL` Prefect starts a temporary server in every process that runs
a flow and stops it at exit: 9-16 s of each `tradeswarm certify` on a 2-core machine
(BENCHMARKS.md), and the runs vanish with it. A server started once in the background, like
sandboxd (`tradeswarm.sandbox.sandboxd.daemon`), costs that once; every later run only talks to
it, and its UI keeps every run for a release engineer to open.

Everything lives in `<state_dir>/prefect/`: `home/` (the server's PREFECT_HOME: its SQLite
database), `endpoint.json` (url, pid, Prefect version; written once the socket listens),
`server.pid` and `server.log`.

`connect(state_dir)` is what a run calls: the user's server when `PREFECT_API_URL` is set,
else this one (started if it is not running, restarted if another Prefect version started it).
Concurrent callers are serialised on a lock: two certifications starting together share one
server.

>>> ServerPaths.of(Path(".swarm")).endpoint.name
'endpoint.json'
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import httpx

from tradeswarm.atomic import atomic_write_json, atomic_write_text
from tradeswarm._proclock import Busy, alive as _alive, flock

# credentials a long-lived process must not keep (as for sandboxd), and any other server's address
_NOT_INHERITED = ("E2B_", "ALPACA_", "PREFECT_")
START_WAIT_S = 180.0  # a first start creates the database (migrations): ~10 s on a quiet 2-core host


@dataclass(frozen=True)
class ServerPaths:
    root: Path

    @classmethod
    def of(cls, state_dir: Path) -> "ServerPaths":
        return cls(Path(state_dir).absolute() / "prefect")

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def endpoint(self) -> Path:
        return self.root / "endpoint.json"

    @property
    def pidfile(self) -> Path:
        return self.root / "server.pid"

    @property
    def log(self) -> Path:
        return self.root / "server.log"

    @property
    def serve_lock(self) -> Path:
        return self.root / "serve.lock"

    @property
    def start_lock(self) -> Path:
        return self.root / "start.lock"


@dataclass(frozen=True)
class Endpoint:
    """Where a running server listens (`url`: its UI; the API is under /api)."""

    url: str
    pid: int
    prefect_version: str

    @property
    def api_url(self) -> str:
        return f"{self.url}/api"


class AlreadyServing(RuntimeError):
    """Another Prefect server of ours already serves this state directory."""


@dataclass(frozen=True)
class Connection:
    """The Prefect API a run reports to, where its UI is, and whose server it is."""

    api_url: str
    ui_url: str
    source: str  # "PREFECT_API_URL" (the user's server) or "local" (ours, in the state dir)


def _prefect_version() -> str:
    from importlib.metadata import version

    return version("prefect")


def read_endpoint(state_dir: Path) -> Endpoint | None:
    try:
        info = json.loads(ServerPaths.of(state_dir).endpoint.read_text())
        return Endpoint(url=info["url"], pid=int(info["pid"]), prefect_version=info["prefect_version"])
    except (OSError, ValueError, KeyError):
        return None


def healthy(api_url: str, timeout_s: float = 2.0) -> bool:
    """True when the Prefect API at `api_url` answers its health check."""
    try:
        return httpx.get(f"{api_url}/health", timeout=timeout_s).status_code == 200
    except httpx.HTTPError:
        return False


def running(state_dir: Path) -> Endpoint | None:
    ep = read_endpoint(state_dir)
    return ep if ep is not None and _alive(ep.pid) and healthy(ep.api_url) else None


def serve(state_dir: Path, port: int = 0, log_level: str = "warning") -> None:
    """Run the server in the foreground until SIGINT/SIGTERM; writes the endpoint when listening.

    Raises AlreadyServing when another server holds `state_dir` (two servers on one SQLite
    database would each run the scheduler and fight over its locks)."""
    paths = ServerPaths.of(state_dir)
    paths.root.mkdir(parents=True, exist_ok=True)
    try:
        with flock(paths.serve_lock, blocking=False):
            _serve_locked(paths, port, log_level)
    except Busy:
        raise AlreadyServing(f"another Prefect server already serves {paths.root}") from None


def _serve_locked(paths: ServerPaths, port: int, log_level: str) -> None:
    import asyncio

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))  # loopback only: the API has no authentication
    sock.listen(1024)
    port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    # Read by Prefect's settings when it is imported below: the UI must be told where its API is
    os.environ.update({
        "PREFECT_HOME": str(paths.home), "PREFECT_API_URL": f"{url}/api", "PREFECT_UI_URL": url,
        "PREFECT_SERVER_API_HOST": "127.0.0.1", "PREFECT_SERVER_API_PORT": str(port),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_SERVER_LOGGING_LEVEL": log_level.upper(),
        "PREFECT_LOGGING_LEVEL": log_level.upper(), "PREFECT__SERVER_FINAL": "1",
    })
    import uvicorn
    from prefect.server.api.server import create_app

    config = uvicorn.Config(create_app(final=True), log_level=log_level, lifespan="on", access_log=False,
                            timeout_keep_alive=75, loop="asyncio")
    atomic_write_json(paths.endpoint, {"url": url, "pid": os.getpid(), "port": port,
                                       "prefect_version": _prefect_version(), "started": time.time()})
    atomic_write_text(paths.pidfile, f"{os.getpid()}\n")
    try:
        asyncio.run(uvicorn.Server(config).serve(sockets=[sock]))
    finally:
        _remove_own_files(paths)


def _remove_own_files(paths: ServerPaths) -> None:
    """Remove the endpoint and pidfile, unless they already name another (newer) server."""
    try:
        if int(paths.pidfile.read_text().strip()) != os.getpid():
            return
    except (OSError, ValueError):
        pass
    for p in (paths.endpoint, paths.pidfile):
        p.unlink(missing_ok=True)


def start(state_dir: Path, wait_s: float = START_WAIT_S, port: int = 0) -> Endpoint:
    """Start the server as a detached daemon (unless one of this Prefect version runs) and wait
    until it answers. Concurrent starts for one state directory yield exactly one server."""
    paths = ServerPaths.of(state_dir)
    with flock(paths.start_lock):
        ep = running(state_dir)
        if ep is not None and ep.prefect_version == _prefect_version():
            return ep
        if ep is not None:  # another Prefect version's database schema and API: replace it
            stop(state_dir)
        return _spawn(state_dir, paths, wait_s, port)


def _spawn(state_dir: Path, paths: ServerPaths, wait_s: float, port: int) -> Endpoint:
    paths.root.mkdir(parents=True, exist_ok=True)
    for stale in (paths.endpoint, paths.pidfile):
        stale.unlink(missing_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(_NOT_INHERITED)}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1]) + os.pathsep + env.get("PYTHONPATH", "")
    with open(paths.log, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tradeswarm", "prefect", "serve", "--state-dir", str(Path(state_dir).absolute()),
             "--port", str(port)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env, start_new_session=True)
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the Prefect server exited with code {proc.returncode} at start; see {paths.log}")
        ep = read_endpoint(state_dir)
        if ep is not None and ep.pid == proc.pid and healthy(ep.api_url, 1.0):
            return ep
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"the Prefect server did not answer within {wait_s:.0f}s; see {paths.log}")


def stop(state_dir: Path, wait_s: float = 15.0) -> bool:
    """Stop the server of `state_dir` (SIGTERM, then SIGKILL); False when none was running.

    A pidfile naming a process that is not our server (a stale file whose pid was reused) is
    removed without signalling anyone."""
    paths = ServerPaths.of(state_dir)
    try:
        pid = int(paths.pidfile.read_text().strip())
    except (OSError, ValueError):
        return False
    stopped = _is_server(pid)
    if stopped:
        try:
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + wait_s
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            stopped = False
    for p in (paths.pidfile, paths.endpoint):
        p.unlink(missing_ok=True)
    return stopped


def _is_server(pid: int) -> bool:
    """True when `pid` runs `tradeswarm prefect serve`."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            argv = fh.read().decode(errors="replace").split("\0")
    except OSError:
        return False
    return any((a == "tradeswarm" or a.endswith("/tradeswarm")) and argv[i + 1:i + 3] == ["prefect", "serve"]
               for i, a in enumerate(argv))


def status(state_dir: Path) -> dict:
    """What is known about the server of `state_dir`, and which API a run would use now."""
    paths = ServerPaths.of(state_dir)
    ep = read_endpoint(state_dir)
    info: dict = {"running": False, "home": str(paths.home), "log": str(paths.log)}
    if ep is not None:
        info.update(running=_alive(ep.pid) and healthy(ep.api_url), url=ep.url, api_url=ep.api_url, pid=ep.pid,
                    prefect_version=ep.prefect_version)
    user = os.environ.get("PREFECT_API_URL")
    info["runs_report_to"] = user if user else ep.api_url if info["running"] else "(started by the next run)"
    return info


def connect(state_dir: Path) -> Connection:
    """The API this process's flows report to, exported as PREFECT_API_URL for them and for
    every child process: the user's when set, else the local server (started when needed).

    Call before Prefect is imported (its settings are read once), or use `bound`."""
    user = os.environ.get("PREFECT_API_URL")
    if user:
        return Connection(api_url=user, ui_url=os.environ.get("PREFECT_UI_URL") or _ui_of(user),
                          source="PREFECT_API_URL")
    ep = start(state_dir)
    os.environ["PREFECT_API_URL"] = ep.api_url
    os.environ.pop("PREFECT_UI_URL", None)  # derived from the API's address by Prefect
    return Connection(api_url=ep.api_url, ui_url=ep.url, source="local")


@contextmanager
def bound(conn: Connection) -> Iterator[Connection]:
    """Make `conn` the API also of a Prefect already imported in this process (its settings
    were read at import: the exported variable alone reaches only later imports and children)."""
    if "prefect.settings" not in sys.modules:
        yield conn
        return
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: conn.api_url}):
        yield conn


def _ui_of(api_url: str) -> str:
    """Prefect's own rule for a self-hosted server: the UI is the API's address without /api."""
    url = api_url.rstrip("/")
    return url.removesuffix("/api")


def flow_run_url() -> str | None:
    """The UI page of the flow run this code runs in (None outside a flow run)."""
    from prefect.runtime import flow_run

    return flow_run.ui_url
