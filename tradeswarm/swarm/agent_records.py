"""The persisted agent registry: which agents run where, so a later CLI call can reconnect.

One JSON file, `<state_dir>/swarm/agents.json`, always replaced atomically. A record holds
what reconnecting and redeploying need: agent id, sandbox id, pid, type, params, symbols,
fault settings and heartbeat interval.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

from tradeswarm.atomic import atomic_write_json

SCHEMA = "tradeswarm.agents/v1"
FIELDS = ("agent_id", "sandbox_id", "pid", "runner_pid", "type", "params", "symbols", "fail_rate", "fail_seed",
          "heartbeat_s", "deployed_at", "deploy_ms")


class RegistryError(ValueError):
    """The registry file exists but cannot be read."""


def registry_path(state_dir: str | Path) -> Path:
    return Path(state_dir) / "swarm" / "agents.json"


def load(state_dir: str | Path) -> list[dict]:
    """The recorded agents (empty when nothing was deployed yet)."""
    path = registry_path(state_dir)
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as e:
        raise RegistryError(f"unreadable agent registry {path}: {e}") from None
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        raise RegistryError(f"{path} is not an agent registry ({SCHEMA})")
    return list(doc.get("agents") or [])


def save(state_dir: str | Path, records: Iterable[dict]) -> Path:
    """Replace the registry with `records` (atomically)."""
    rows = [{k: r.get(k) for k in FIELDS} for r in records]
    return atomic_write_json(registry_path(state_dir), {"schema": SCHEMA, "agents": rows})


def record_of(handle: Any, heartbeat_s: float) -> dict:
    """The registry record of a live `AgentHandle`."""
    spec = handle.spec
    return {"agent_id": handle.id, "sandbox_id": handle.sandbox_id, "pid": handle.pid,
            "runner_pid": handle.runner_pid,
            "type": spec.type, "params": dict(spec.params), "symbols": list(spec.symbols),
            "fail_rate": spec.fail_rate, "fail_seed": spec.fail_seed, "heartbeat_s": heartbeat_s,
            "deployed_at": handle.deployed_at, "deploy_ms": handle.deploy_ms}
