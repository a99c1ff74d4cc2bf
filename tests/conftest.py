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
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
