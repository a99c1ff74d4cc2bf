"""Prefect flows: the certification pipeline (`flows.certify`) and the stress test (`flows.stress`)."""

import os

# Prefect's temporary server phones home on start; on machines without internet access that is
# an ERROR line in every run. Set before any flow starts the server (a user's value wins).
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

__all__: list[str] = []
