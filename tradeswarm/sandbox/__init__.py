"""Sandboxes: one async layer over the e2b SDK, backed by E2B's cloud or the local sandboxd.

See `tradeswarm.sandbox.manager` for the API (docs/contracts.md §3) and
`tradeswarm.sandbox.sandboxd` for the local server.
"""

from tradeswarm.sandbox.instance import (
    BackgroundProcess,
    CommandResult,
    CommandTimeout,
    Resources,
    ResourcesUnavailable,
    Sandbox,
    SandboxError,
    SandboxNotFound,
)
from tradeswarm.sandbox.manager import OWNER_KEY, SandboxManager

__all__ = ["SandboxManager", "Sandbox", "BackgroundProcess", "CommandResult", "SandboxError",
           "SandboxNotFound", "CommandTimeout", "Resources", "ResourcesUnavailable", "OWNER_KEY"]
