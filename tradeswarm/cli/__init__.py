"""The `tradeswarm` command line. Each module below registers its commands on the root group.

Heavy imports (prefect, vectorbt, great-expectations) happen inside the commands that need
them, so `tradeswarm --help` and the sandbox commands start fast.
"""

from __future__ import annotations

import sys

from tradeswarm.cli._common import cli, raise_on_sigterm, run_cli
from tradeswarm.cli import sandboxes, swarm, research, stress, spec, report, certify, mcp_server, prefect  # noqa: F401  (registration)

__all__ = ["cli", "main", "raise_on_sigterm", "run_cli"]


def main() -> None:
    raise_on_sigterm()
    sys.exit(run_cli())
