"""Deploying one agent into a sandbox: validate, upload the runner and its config, start, handshake.

Validation happens before anything is created: an unknown type, invalid parameters (the
strategy's pydantic `Params`), an unknown symbol or a fault rate outside [0, 1] raise
`ValueError` with one line saying what is wrong.

The agent's config goes up as a file and the runner starts as a background command; the
deploy is complete when the runner's `ready` line arrives (it prints it after importing and
loading its data). Two starts, both through the SDK's commands API:

- warm (the default): `bin/agent --config agents/<id>.json`, the `trading` template's entry
  point. sandboxd forks it from its zygote, which has imported the runner's dependencies once,
  into the sandbox's namespaces, cgroups and limits (`tradeswarm/sandbox/sandboxd/_warm.py`);
  run as a plain script (E2B, or isolation off) it starts the template's runner cold. The
  handshake's `start` says which it was.
- cold: `bin/python agents/runner.py --config ...`, a fresh interpreter on the uploaded runner
  (`agents/runner.py`): the path before the zygote, kept for comparison (bench/swarm.py).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the swarm package imports this module: no import cycle at run time
    from tradeswarm.swarm.agent_link import AgentHandle

RUNNER_PATH = "agents/runner.py"
AGENT_ENTRY = "bin/agent"  # the template's: sandboxd's templates.py, deployments/e2b/e2b.Dockerfile
_SYNTHETIC = re.compile(r"^SYN\d+$")


@dataclass(frozen=True)
class AgentSpec:
    """A validated agent definition: strategy type, parameters (defaults filled), symbols, faults."""

    type: str
    params: dict = field(default_factory=dict)
    symbols: tuple[str, ...] = ()
    fail_rate: float = 0.0
    fail_seed: int = 0

    def to_dict(self) -> dict:
        return {"type": self.type, "params": dict(self.params), "symbols": list(self.symbols),
                "fail_rate": self.fail_rate, "fail_seed": self.fail_seed}


def _one_line(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):  # pydantic: "field: message; field: message"
        return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'params'}: {e['msg']}" for e in errors())
    return " ".join(str(exc).split())


def validate_spec(agent_type: str, symbols: Any, params: dict | None = None, *,
                  fail_rate: float = 0.0, fail_seed: int = 0) -> AgentSpec:
    """Check an agent definition without starting anything; `ValueError` says what is wrong."""
    from tradeswarm.agents.strategies import get_strategy
    from tradeswarm.marketdata.shipped import shipped_symbols

    strategy = get_strategy(agent_type)  # ValueError naming the known types
    try:
        checked = strategy.params(params or {})
    except Exception as e:
        raise ValueError(f"invalid params for {agent_type}: {_one_line(e)}") from None
    if isinstance(symbols, str):
        symbols = [s for s in symbols.split(",")]
    symbols = tuple(s.strip().upper() for s in symbols if s and s.strip())
    if not symbols:
        raise ValueError("an agent needs at least one symbol")
    shipped = set(shipped_symbols())
    unknown = [s for s in symbols if s not in shipped and not _SYNTHETIC.match(s)]
    if unknown:
        raise ValueError(f"unknown symbol(s) {', '.join(unknown)}; known: {', '.join(sorted(shipped))}, SYN<n>")
    if not 0.0 <= float(fail_rate) <= 1.0:
        raise ValueError(f"fail_rate must be within [0, 1], got {fail_rate}")
    return AgentSpec(agent_type, checked.model_dump(), symbols, float(fail_rate), int(fail_seed))


def agent_config(agent_id: str, spec: AgentSpec, *, heartbeat_s: float, synthetic: dict | None = None) -> dict:
    """The runner's config file."""
    cfg = {"agent_id": agent_id, "type": spec.type, "params": spec.params, "symbols": list(spec.symbols),
           "heartbeat_s": heartbeat_s, "fail_rate": spec.fail_rate, "fail_seed": spec.fail_seed}
    if synthetic:
        cfg["synthetic"] = synthetic
    return cfg


def runner_source() -> bytes:
    """The runner file as uploaded (this package's own copy, so host and sandbox agree)."""
    from tradeswarm.agents import runner

    return Path(runner.__file__).read_bytes()


def runner_command(agent_id: str, warm: bool = True) -> str:
    if warm:
        return f"{AGENT_ENTRY} --config agents/{agent_id}.json"
    return f"bin/python {RUNNER_PATH} --config agents/{agent_id}.json"


async def upload_runner(sandbox: Any, warm: bool = True) -> None:
    """Put the runner file into the sandbox for a cold start (once per sandbox is enough); a
    warm start runs the template's own runner."""
    if not warm:
        await sandbox.write(RUNNER_PATH, runner_source())


async def start_agent(sandbox: Any, agent_id: str, spec: AgentSpec, *, heartbeat_s: float = 1.0,
                      ready_timeout_s: float = 30.0, synthetic: dict | None = None,
                      on_late: Any = None, on_exit: Any = None, upload: bool = True,
                      warm: bool = True) -> "AgentHandle":
    """Upload config (and, for a cold start, the runner), start the runner, wait for its `ready` line.

    `on_exit(handle, reason)` is called when the runner's process ends (default: the handle
    dies). Raises `RuntimeError` when the runner fails to start or is not ready in time (the
    process is then killed); the caller owns the sandbox.
    """
    from tradeswarm.swarm.agent_link import AgentHandle

    t0 = time.perf_counter()
    handle = AgentHandle(agent_id, spec, getattr(sandbox, "id", None), on_late=on_late)
    if upload:
        await upload_runner(sandbox, warm)
    cfg = agent_config(agent_id, spec, heartbeat_s=heartbeat_s, synthetic=synthetic)
    await sandbox.write(f"agents/{agent_id}.json", json.dumps(cfg).encode())
    handle.proc = await sandbox.start(runner_command(agent_id, warm), on_stdout=handle.feed,
                                      on_stderr=handle.feed_stderr)
    handle.pid = getattr(handle.proc, "pid", None)
    watch(handle, on_exit)
    try:
        await asyncio.wait_for(asyncio.shield(handle.ready), ready_timeout_s)
    except BaseException as e:
        handle.die("handshake failed")
        try:
            await handle.proc.kill()
        except Exception:
            pass
        if isinstance(e, asyncio.TimeoutError):
            tail = "".join(handle.stderr_tail).strip().splitlines()[-1:] or ["no output"]
            raise RuntimeError(f"agent {agent_id} not ready after {ready_timeout_s:g}s ({tail[0]})") from None
        if isinstance(e, Exception):
            raise RuntimeError(f"agent {agent_id}: {_one_line(e)}") from None
        raise
    handle.mark_ready((time.perf_counter() - t0) * 1000.0)
    return handle


def watch(handle: "AgentHandle", on_exit: Any = None) -> None:
    """Follow the runner's process: when it ends (killed, crashed, sandbox gone), report it."""

    async def follow() -> None:
        try:
            result = await handle.proc.wait()
            reason = f"exited ({getattr(result, 'exit_code', '?')})"
        except asyncio.CancelledError:
            raise
        except Exception as e:
            reason = f"exited ({type(e).__name__}: {_one_line(e)[:120]})"
        if on_exit is not None:
            on_exit(handle, reason)
        else:
            handle.die(reason)

    handle.watcher = asyncio.get_running_loop().create_task(follow())
