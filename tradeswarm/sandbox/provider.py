"""Which service the sandbox layer talks to: E2B's cloud with a key, else the local sandboxd.

Both are reached through the same `e2b` SDK calls; only the connection parameters differ.
The E2B key authenticates the client and is never an environment of a sandbox.
"""

from __future__ import annotations

from typing import Any

from tradeswarm.settings import Settings


def connection_params(settings: Settings, autostart: bool = True) -> dict[str, Any]:
    """Keyword arguments for every SDK call (`api_key`, and the local URLs when local).

    Local mode starts a sandboxd daemon for `settings.state_dir` when none is running.
    """
    if settings.e2b_api_key is not None:
        params: dict[str, Any] = {"api_key": settings.e2b_api_key.get_secret_value()}
        if settings.e2b_domain:
            params["domain"] = settings.e2b_domain
        return params
    from tradeswarm.sandbox.sandboxd import daemon

    ep = daemon.running(settings.state_dir)
    if ep is None:
        if not autostart:
            raise ConnectionError(f"no sandboxd is running for state dir {settings.state_dir}")
        ep = daemon.start(settings.state_dir)
    # The SDK's api_url/sandbox_url hooks: one loopback server answers both planes.
    return {"api_key": ep.token, "api_url": ep.url, "sandbox_url": ep.url}
