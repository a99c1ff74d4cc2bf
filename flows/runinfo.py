"""Facts about a run that go into results.json (its id, inputs hash, versions, machine) and the
choices made before it starts (its provider and that provider's settings). The CLI makes the
same choices before it starts the flow, with the same functions."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import secrets
import subprocess
from datetime import datetime
from importlib import metadata
from pathlib import Path

import tradeswarm

REPO = Path(__file__).resolve().parent.parent
RUNS_ROOT = REPO / "reports" / "runs"
PACKAGES = ("prefect", "e2b", "alpaca-py", "pandas", "numpy", "vectorbt", "vectorbt-rust",
            "great-expectations", "hdrhistogram", "tradeswarm")


def run_id(started: datetime, profile: str) -> str:
    """Sortable and unique: UTC start time, profile, random suffix."""
    return f"{started.strftime('%Y%m%dT%H%M%SZ')}-{profile}-{secrets.token_hex(3)}"


def git_sha() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def versions() -> dict:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    out["tradeswarm"] = out["tradeswarm"] or tradeswarm.__version__  # run from a checkout, not installed
    return out


def machine() -> dict:
    import psutil

    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"system": f"{platform.system()} {platform.release()}", "arch": platform.machine(), "cpu": cpu,
            "cores": os.cpu_count(), "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
            "hostname_hash": hashlib.sha256(platform.node().encode()).hexdigest()[:12]}


def inputs_sha256(spec: dict, fingerprints: dict[str, str], sha: str | None) -> str:
    """One hash over everything a run's result depends on: spec, data content, code."""
    blob = json.dumps({"spec": spec, "data": fingerprints, "git": sha}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def provider_settings(provider: str, env):
    """The environment's settings `env` for `provider` (the local one never sees an E2B key)."""
    if provider == "e2b" and env.e2b_api_key is None:
        raise ValueError("provider e2b needs E2B_API_KEY")
    return env if provider == "e2b" else env.model_copy(update={"e2b_api_key": None})


def resolve_provider(spec, override: str | None, settings) -> str:
    """`--provider` first, then a provider the spec names explicitly, else the environment's:
    e2b when E2B_API_KEY is set, the local sandboxd otherwise (a spec without a `provider`
    key follows the environment)."""
    if override:
        return override
    return spec.provider if "provider" in spec.model_fields_set else settings.provider


def dask_address(spec) -> str | None:
    """The Dask scheduler the stress stage runs its shards on (TRADESWARM_DASK_ADDRESS first), or None."""
    return os.environ.get("TRADESWARM_DASK_ADDRESS") or spec.stress.dask_address


def plan_capacity(spec, settings) -> dict:
    """The run's sandboxes (agents, Dask shard agents, probes) planned against the provider's
    cap before anything is created: room made, or `CapacityError` in one line."""
    from tradeswarm.sandbox.capacity import ensure

    return ensure(spec, settings, shards=spec.stress.shards if dask_address(spec) else 0)
