"""Root fixtures shared by every test package.

`sandboxd` (session scope, one per xdist worker): a private sandboxd daemon on a free
loopback port with its own temporary state directory. While the session runs,
`TRADESWARM_STATE_DIR` points at that directory and the E2B_* variables are removed, so
`SandboxManager()`, `Settings()` and the CLI (`python -m tradeswarm ...` in a subprocess that
inherits the environment) all use it. It yields a `SandboxdInfo`:

- `url`: the server's base URL (REST and envd on one port),
- `token`: the server token (the SDK's `api_key`),
- `state_dir`: the state directory (`Path`),
- `settings`: a `Settings` bound to that state directory,
- `sdk_params`: `{"api_key", "api_url", "sandbox_url"}` for calling the e2b SDK directly.

The server allows 20 concurrent sandboxes and 500 creates/s; a test that needs other limits
starts its own server (see tests/sandbox/test_limits.py).

`prefect_api` (session scope, one per xdist worker): the one Prefect server of the session,
the local server `tradeswarm certify` uses (tradeswarm/prefect_server.py) in a state directory
of its own. While the session runs, PREFECT_API_URL names it, for flows run in this process
and for every child (`python -m tradeswarm certify`, Prefect's CLI, MCP servers), so no test
pays a temporary server's start. It yields the `Connection` (`api_url`, `ui_url`, `source`)
and its `state_dir`. Every test that runs a flow, in process or in a child, asks for it
(tests/flows does for all its tests).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest

_E2B_VARS = ("E2B_API_KEY", "E2B_API_URL", "E2B_SANDBOX_URL", "E2B_DOMAIN", "E2B_DEBUG", "E2B_ACCESS_TOKEN")


@dataclass(frozen=True)
class SandboxdInfo:
    url: str
    token: str
    state_dir: Path
    settings: object = field(repr=False)

    @property
    def sdk_params(self) -> dict[str, str]:
        return {"api_key": self.token, "api_url": self.url, "sandbox_url": self.url}

    def __repr__(self) -> str:  # never print the token
        return f"SandboxdInfo(url={self.url!r}, state_dir={str(self.state_dir)!r})"


@pytest.fixture(scope="session")
def sandboxd(tmp_path_factory) -> SandboxdInfo:
    from tradeswarm.sandbox.sandboxd import daemon
    from tradeswarm.settings import Settings

    state_dir = tmp_path_factory.mktemp("sandboxd-state")
    saved = {k: os.environ.get(k) for k in (*_E2B_VARS, "TRADESWARM_STATE_DIR")}
    for k in _E2B_VARS:
        os.environ.pop(k, None)
    os.environ["TRADESWARM_STATE_DIR"] = str(state_dir)
    ep = daemon.start(state_dir, extra_args=["--max-sandboxes", "20", "--create-rate", "500"])
    try:
        yield SandboxdInfo(url=ep.url, token=ep.token, state_dir=state_dir, settings=Settings())
    finally:
        daemon.stop(state_dir)
        # a run that was not given `prefect_api` started the local Prefect server here: not left behind
        from tradeswarm import prefect_server

        prefect_server.stop(state_dir)
        _restore(saved)


def _restore(saved: dict) -> None:
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@dataclass(frozen=True)
class PrefectApi:
    connection: object
    state_dir: Path

    @property
    def api_url(self) -> str:
        return self.connection.api_url


@pytest.fixture(scope="session")
def prefect_api(tmp_path_factory) -> PrefectApi:
    from tradeswarm import prefect_server

    state_dir = tmp_path_factory.mktemp("prefect-state")
    saved = {k: os.environ.get(k) for k in ("PREFECT_API_URL", "PREFECT_UI_URL", "PREFECT_SERVER_ANALYTICS_ENABLED",
                                            "PREFECT_LOGGING_LEVEL")}
    for k in ("PREFECT_API_URL", "PREFECT_UI_URL"):
        os.environ.pop(k, None)
    os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    try:
        conn = prefect_server.connect(state_dir)
        # Heartbeats cost ~1 s per flow at exit (see shared notes); deployments keep them.
        with prefect_server.bound(conn), temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
            yield PrefectApi(connection=conn, state_dir=state_dir)
    finally:
        prefect_server.stop(state_dir)
        _restore(saved)
