"""Running sandboxd: in the foreground (`serve`) or as a background daemon (`start`/`stop`).

Everything lives in `<state_dir>/sandboxd/`: `token` (mode 0600, the credential every
request needs), `endpoint.json` (url, port, pid; written once the socket listens),
`sandboxd.pid`, `sandboxd.log`, the prepared `templates/` and the live `sandboxes/`.

>>> from pathlib import Path
>>> paths = DaemonPaths.of(Path(".swarm"))
>>> paths.token.name
'token'
"""

from __future__ import annotations

import json
import os
import secrets
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

from tradeswarm._proclock import Busy, alive as _alive, flock
from tradeswarm.atomic import atomic_write_json, atomic_write_text


@dataclass(frozen=True)
class DaemonPaths:
    root: Path

    @classmethod
    def of(cls, state_dir: Path) -> "DaemonPaths":
        return cls(Path(state_dir).absolute() / "sandboxd")

    @property
    def token(self) -> Path:
        return self.root / "token"

    @property
    def endpoint(self) -> Path:
        return self.root / "endpoint.json"

    @property
    def pidfile(self) -> Path:
        return self.root / "sandboxd.pid"

    @property
    def log(self) -> Path:
        return self.root / "sandboxd.log"

    @property
    def serve_lock(self) -> Path:
        return self.root / "serve.lock"

    @property
    def start_lock(self) -> Path:
        return self.root / "start.lock"


class AlreadyServing(RuntimeError):
    """Another sandboxd already serves this state directory."""


@contextmanager
def _flock(path: Path, blocking: bool = True) -> Iterator[None]:
    try:
        with flock(path, blocking):
            yield
    except Busy:
        raise AlreadyServing(f"another sandboxd already serves {path.parent}") from None


@dataclass(frozen=True)
class Endpoint:
    """Where a running sandboxd listens and the token it wants."""

    url: str
    token: str
    pid: int


def read_endpoint(state_dir: Path) -> Endpoint | None:
    """The endpoint of the sandboxd owning `state_dir`, or None when none was started."""
    paths = DaemonPaths.of(state_dir)
    try:
        info = json.loads(paths.endpoint.read_text())
        token = paths.token.read_text().strip()
    except (OSError, ValueError):
        return None
    return Endpoint(url=info["url"], token=token, pid=int(info["pid"]))


def probe(ep: Endpoint, timeout_s: float = 1.0) -> bool:
    """True when the server at `ep` answers an authenticated health check."""
    try:
        r = httpx.get(f"{ep.url}/health", headers={"X-API-KEY": ep.token}, timeout=timeout_s)
    except httpx.HTTPError:
        return False
    return r.status_code == 204


def running(state_dir: Path) -> Endpoint | None:
    ep = read_endpoint(state_dir)
    return ep if ep is not None and probe(ep) else None


def serve(state_dir: Path, port: int = 0, log_level: str = "warning", token_file: Path | None = None,
          isolate: bool = True, **limits) -> None:
    """Run sandboxd in the foreground until SIGINT/SIGTERM; writes the endpoint when listening.

    `limits`: `max_sandboxes`, `create_rate_per_s`, `spares`, `max_memory_mb` (`ServerLimits`)
    and a sandbox's defaults `memory_mb`, `max_processes`, `vcpus` (`ResourceLimits`); None
    keeps the default. `isolate=False` runs sandboxes as plain host processes (the measured
    "before" of bench/sandbox_ops.py). Raises AlreadyServing when another server holds `state_dir`.
    """
    paths = DaemonPaths.of(state_dir)
    # Held for the server's lifetime: a second server on the same state would wipe this one's
    # workspaces and orphan its sandboxes.
    with _flock(paths.serve_lock, blocking=False):
        _serve_locked(paths, port, log_level, token_file, {k: v for k, v in limits.items() if v is not None}, isolate)


def _serve_locked(paths: DaemonPaths, port: int, log_level: str, token_file: Path | None, limits: dict,
                  isolate: bool) -> None:
    import asyncio
    import logging

    import uvicorn

    from tradeswarm.sandbox.sandboxd._limits import ResourceLimits
    from tradeswarm.sandbox.sandboxd._prometheus import instrument
    from tradeswarm.sandbox.sandboxd.app import SandboxdApp
    from tradeswarm.sandbox.sandboxd.registry import Registry, ServerLimits

    # A given token file lets a test stand in for E2B's cloud with a known (canary) key.
    token = Path(token_file).read_text().strip() if token_file else secrets.token_urlsafe(32)
    atomic_write_text(paths.token, token + "\n", mode=0o600)
    resources = ResourceLimits(**{k: limits.pop(k) for k in ("memory_mb", "vcpus", "max_processes") if k in limits})
    server_limits = ServerLimits(resources=resources, **limits)
    if server_limits.max_memory_mb < resources.memory_mb:  # the default is always grantable
        server_limits.max_memory_mb = resources.memory_mb
    registry = Registry(paths.root, server_limits, isolate=isolate)
    app = SandboxdApp(registry, token, on_shutdown=lambda: _remove_own_files(paths))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # accepted sockets inherit it
    sock.bind(("127.0.0.1", port))  # loopback only, never a routable address
    sock.listen(1024)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    config = uvicorn.Config(instrument(app), log_level=log_level, access_log=False, lifespan="on",
                            timeout_keep_alive=75, timeout_graceful_shutdown=1, loop="asyncio", http="h11" if _no_httptools() else "auto")
    server = uvicorn.Server(config)
    atomic_write_json(paths.endpoint, {"url": url, "pid": os.getpid(), "port": sock.getsockname()[1],
                                       "started": time.time()})
    atomic_write_text(paths.pidfile, f"{os.getpid()}\n")
    try:
        asyncio.run(server.serve(sockets=[sock]))
    finally:  # reached on SIGINT or a crash of the loop; SIGTERM ends in the app's on_shutdown
        registry.close()
        _remove_own_files(paths)


def _remove_own_files(paths: DaemonPaths) -> None:
    """Remove the endpoint and pidfile, unless they already name another (newer) server."""
    try:
        if int(paths.pidfile.read_text().strip()) != os.getpid():
            return
    except (OSError, ValueError):
        pass
    for p in (paths.endpoint, paths.pidfile):
        p.unlink(missing_ok=True)


def _no_httptools() -> bool:
    try:
        import httptools  # noqa: F401
    except ImportError:
        return True
    return False


def secrets_in_environment() -> list[str]:
    """The names of the variables a server must not keep: credentials of E2B and Alpaca."""
    return sorted(k for k in os.environ if k.startswith(_SECRET_PREFIXES))


_SECRET_PREFIXES = ("E2B_", "ALPACA_")


def start(state_dir: Path, wait_s: float = 30.0, extra_args: list[str] | None = None) -> Endpoint:
    """Start sandboxd as a detached daemon (unless one is running) and wait until it answers.

    Concurrent starts for one state directory are serialised: exactly one server results.
    """
    paths = DaemonPaths.of(state_dir)
    with _flock(paths.start_lock):
        return _start_locked(state_dir, paths, wait_s, extra_args)


def _start_locked(state_dir: Path, paths: DaemonPaths, wait_s: float, extra_args: list[str] | None) -> Endpoint:
    ep = running(state_dir) or _recover_endpoint(paths)
    if ep is not None:
        return ep
    paths.root.mkdir(parents=True, exist_ok=True)
    for stale in (paths.endpoint, paths.pidfile):
        stale.unlink(missing_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SECRET_PREFIXES)}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[3]) + os.pathsep + env.get("PYTHONPATH", "")
    with open(paths.log, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tradeswarm", "sandboxd", "serve", "--state-dir", str(Path(state_dir).absolute()),
             *(extra_args or [])],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env, start_new_session=True,
        )
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"sandboxd exited with code {proc.returncode} at start; see {paths.log}")
        ep = read_endpoint(state_dir)
        if ep is not None and ep.pid == proc.pid and probe(ep, 0.5):
            return ep
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"sandboxd did not answer within {wait_s:.0f}s; see {paths.log}")


def _recover_endpoint(paths: DaemonPaths) -> Endpoint | None:
    """The endpoint of a live sandboxd whose endpoint.json is unreadable, rewritten; else None.

    Starting a second server instead would orphan the first (it holds the state directory, and
    its pidfile was deleted as stale). RuntimeError when it lives but cannot be reached."""
    try:
        pid = int(paths.pidfile.read_text().strip())
    except (OSError, ValueError):
        return None
    if not _is_sandboxd(pid):
        return None
    import psutil

    try:
        ports = [c.laddr.port for c in psutil.Process(pid).net_connections(kind="tcp")
                 if c.status == psutil.CONN_LISTEN and c.laddr.ip == "127.0.0.1"]
        token = paths.token.read_text().strip()
    except (psutil.Error, OSError):
        ports, token = [], ""
    for port in ports:
        ep = Endpoint(url=f"http://127.0.0.1:{port}", token=token, pid=pid)
        if probe(ep):
            atomic_write_json(paths.endpoint, {"url": ep.url, "pid": pid, "port": port, "started": time.time(),
                                               "recovered": True})
            return ep
    raise RuntimeError(f"sandboxd (pid {pid}) holds {paths.root} but {paths.endpoint.name} is unreadable and it "
                       "does not answer; stop it with `tradeswarm sandboxd stop`")


def stop(state_dir: Path, wait_s: float = 10.0) -> bool:
    """Stop the daemon of `state_dir` (SIGTERM, then SIGKILL); False when none was running.

    A pidfile naming a process that is not a sandboxd (a stale file whose pid was reused) is
    removed without signalling anyone. Both the pidfile and the endpoint are gone afterwards.
    """
    paths = DaemonPaths.of(state_dir)
    try:
        pid = int(paths.pidfile.read_text().strip())
    except (OSError, ValueError):
        return False
    stopped = _is_sandboxd(pid)
    if stopped:
        try:
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + wait_s
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if _alive(pid):  # its own cleanup cannot run after this: ours below does it
                os.kill(pid, signal.SIGKILL)
                deadline = time.monotonic() + 5.0
                while _alive(pid) and time.monotonic() < deadline:
                    time.sleep(0.02)
        except ProcessLookupError:
            stopped = False
    for p in (paths.pidfile, paths.endpoint):
        p.unlink(missing_ok=True)
    return stopped


def _is_sandboxd(pid: int) -> bool:
    """True when `pid` runs `tradeswarm sandboxd serve` (as `python -m` or the console script)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            argv = fh.read().decode(errors="replace").split("\0")
    except OSError:
        return False
    return any((a == "tradeswarm" or a.endswith("/tradeswarm")) and argv[i + 1:i + 3] == ["sandboxd", "serve"]
               for i, a in enumerate(argv))


def status(state_dir: Path) -> dict:
    """What is known about the daemon of `state_dir` (never the token)."""
    ep = read_endpoint(state_dir)
    if ep is None:
        return {"running": False, "state_dir": str(DaemonPaths.of(state_dir).root)}
    info: dict = {"running": probe(ep), "url": ep.url, "pid": ep.pid, "state_dir": str(DaemonPaths.of(state_dir).root)}
    if info["running"]:
        try:
            info.update(httpx.get(f"{ep.url}/admin/stats", headers={"X-API-KEY": ep.token}, timeout=2).json())
        except (httpx.HTTPError, ValueError):
            pass
    return info
