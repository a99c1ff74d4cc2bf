"""One Prefect harness per xdist worker, shared by every flow test (10-15 s to start)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session", autouse=True)
def prefect_harness(tmp_path_factory):
    """A temporary Prefect server with its own SQLite database and PREFECT_HOME."""
    from tests.support.prefect_harness import prefect_harness as harness

    with harness(tmp_path_factory.mktemp("prefect_home")):
        yield
