"""Every flow test reports to the session's one Prefect server (tests/conftest.py)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session", autouse=True)
def _flows_report_to_the_session_server(prefect_api):
    return prefect_api
