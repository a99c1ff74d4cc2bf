"""A temporary Prefect server for a test session (10-15 s to start): one per xdist worker.

Used by the session fixtures of tests/flows and tests/scaleout.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def prefect_harness(home) -> Iterator[None]:
    """A temporary Prefect server with its own SQLite database and PREFECT_HOME (`home`)."""
    os.environ.setdefault("PREFECT_HOME", str(home))
    os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    # Prefect's flow heartbeats cost ~1 s per flow at exit; the tests turn them off, deployments keep them.
    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        with prefect_test_harness(server_startup_timeout=120):
            yield
