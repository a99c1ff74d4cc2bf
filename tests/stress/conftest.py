"""A real sandboxd per test worker for the stress tests that go through the live swarm."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def sandbox_settings(tmp_path_factory):
    """Settings pointing at a fresh local sandboxd (started on first use), stopped afterwards."""
    from tradeswarm.sandbox.sandboxd import daemon
    from tradeswarm.settings import Settings

    state = tmp_path_factory.mktemp("swarm-state")
    settings = Settings(TRADESWARM_STATE_DIR=str(state), E2B_API_KEY=None)
    daemon.start(state)
    try:
        yield settings
    finally:
        daemon.stop(state)
