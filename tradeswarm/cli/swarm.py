"""Swarm commands: deploy, agents, scale, execute, health, monitor.

Agents outlive one command: they run in sandboxd (or E2B), and the agent registry in the state
dir records where. Each command reconnects to the recorded agents' processes, does its work,
writes the registry back (atomically) and disconnects without stopping them.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator

import click

from tradeswarm.cli._common import (
    OperationError, UsageError, check_covered, command, emit, json_option, parse_date, table,
)

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(text: str) -> float:
    """`"5s"`, `"250ms"`, `"2m"`, `"1h"` or a plain number of seconds → seconds."""
    m = _DURATION.match(str(text))
    if not m:
        raise UsageError(f"not a duration: {text!r} (use e.g. 5s, 250ms, 2m)")
    return float(m.group(1)) * _UNIT_S[m.group(2)]


def _symbols(text: str) -> list[str]:
    out = [s.strip().upper() for s in text.split(",") if s.strip()]
    if not out:
        raise UsageError("--symbols needs at least one symbol, e.g. SPX,NDX")
    return out


def _params(text: str | None) -> dict:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError as e:
        raise UsageError(f"--params is not JSON: {e}") from None
    if not isinstance(value, dict):
        raise UsageError("--params must be a JSON object, e.g. '{\"fast\": 10}'")
    return value


@asynccontextmanager
async def swarm_session(*, heartbeat_timeout_s: float = 5.0, settings: Any = None) -> AsyncIterator[Any]:
    """A coordinator reconnected to every recorded agent; the registry is saved on the way out.

    Agents and their sandboxes keep running after the session (nothing is killed except
    what `scale` or a failed deploy retires).
    """
    from tradeswarm.sandbox import SandboxManager
    from tradeswarm.settings import Settings
    from tradeswarm.swarm import agent_records
    from tradeswarm.swarm.coordinator import Coordinator

    settings = settings or Settings()
    try:
        records = agent_records.load(settings.state_dir)
    except agent_records.RegistryError as e:
        raise UsageError(str(e)) from None
    # Not `async with`: closing the manager would kill the sandboxes the agents live in.
    mgr = SandboxManager(settings=settings)
    coord = Coordinator(mgr, heartbeat_timeout_s=heartbeat_timeout_s, replace_dead=False, monitor=False)
    try:
        await coord.attach(records)
    except Exception as e:
        await coord.detach()
        raise OperationError(f"cannot reach the recorded agents (registry kept): {e or type(e).__name__}") from None
    try:
        yield coord
    finally:
        live = await coord.detach()
        agent_records.save(settings.state_dir, [agent_records.record_of(a, coord.heartbeat_s) for a in live])


def _run(coro: Any) -> Any:
    return asyncio.run(coro)


def _agent_rows(infos: list[dict]) -> str:
    return table(infos, ["agent_id", "type", "symbols", "sandbox_id", "state", "inflight", "served",
                         "errors", "silent_s", "p95_ms"])


def _row(info: dict) -> dict:
    """Flatten an agent's info for a table; `total_*` are the runner's own counters (all callers)."""
    runner = info.get("runner") or {}
    return {**info, "symbols": ",".join(info.get("symbols") or []), "total_served": runner.get("served"),
            "total_errors": runner.get("errors"), "held": runner.get("pending")}


@command("deploy")
@click.option("--agent", "agent_type", required=True, help="Agent type: sma_crossover, momentum, mean_reversion, breakout, risk_manager.")
@click.option("--symbols", required=True, help="Comma-separated symbols, e.g. SPX,NDX or SYN0,SYN1.")
@click.option("--sandbox", "sandbox_id", default=None, help="Deploy into this existing sandbox.")
@click.option("--params", default=None, help="Strategy parameters as a JSON object.")
@click.option("--count", default=1, show_default=True, type=click.IntRange(1, 1000), help="How many agents.")
@json_option
def deploy_cmd(agent_type, symbols, sandbox_id, params, count, as_json) -> None:
    """Deploy trading agents into sandboxes; each is live once its health handshake arrives.

    Example: `tradeswarm deploy --agent momentum --symbols SPX --count 2 --json`
    """
    from tradeswarm.agents.deploy import validate_spec
    from tradeswarm.sandbox import SandboxNotFound
    from tradeswarm.swarm.coordinator import DeployError

    syms, p = _symbols(symbols), _params(params)
    try:
        validate_spec(agent_type, syms, p)  # refuse bad input before touching any sandbox
    except ValueError as e:
        raise UsageError(str(e)) from None

    async def go() -> list[dict]:
        async with swarm_session() as coord:
            try:
                agents = await coord.deploy(agent_type, syms, p, count=count, sandbox_id=sandbox_id)
            except SandboxNotFound as e:
                raise UsageError(f"--sandbox: {e}") from None
            except DeployError as e:
                raise OperationError(str(e)) from None
            except ValueError as e:
                raise UsageError(str(e)) from None
            return [a.info() for a in agents]

    infos = _run(go())
    emit(as_json, {"deployed": infos},
         lambda: _agent_rows([_row(i) for i in infos]) + f"\n{len(infos)} agent(s) deployed")


@command("agents")
@json_option
def agents_cmd(as_json) -> None:
    """List the recorded agents with their live state (agents whose process is gone are dropped)."""

    async def go() -> list[dict]:
        async with swarm_session() as coord:
            return [a.info() for a in coord.agents.values()]

    infos = _run(go())
    emit(as_json, {"agents": infos}, lambda: _agent_rows([_row(i) for i in infos]))


@command("scale")
@click.option("--count", required=True, type=click.IntRange(0, 10000), help="Target number of agents.")
@json_option
def scale_cmd(count, as_json) -> None:
    """Scale the swarm to COUNT agents: copies of the running specs, or retire the least busy."""
    from tradeswarm.swarm.coordinator import DeployError

    async def go() -> dict:
        async with swarm_session() as coord:
            try:
                return await coord.scale(count)
            except DeployError as e:
                raise OperationError(str(e)) from None
            except ValueError as e:
                raise UsageError(str(e)) from None

    out = _run(go())
    emit(as_json, out, f"{out['agents']} agent(s): +{len(out['added'])} -{len(out['removed'])}")


@command("execute")
@click.option("--strategy", required=True, help="Agent type whose agents vote (risk_manager agents add their veto).")
@click.option("--symbols", required=True, help="Comma-separated symbols to trade.")
@click.option("--end", default=None, help="Decide on the bar at this date (default: each symbol's latest bar).")
@click.option("--window", default=250, show_default=True, type=click.IntRange(1, 100000))
@click.option("--weighted", is_flag=True, help="Confidence-weighted votes instead of one agent one vote.")
@click.option("--notional", default=10000.0, show_default=True, type=click.FloatRange(min=0, min_open=True), help="Dollars per BUY.")
@click.option("--fees", default=None, type=click.FloatRange(0, 1, max_open=True),
              help="Paper fills: fee as a fraction of the notional (default: the backtests' fees).")
@click.option("--slippage", default=None, type=click.FloatRange(0, 1, max_open=True),
              help="Paper fills: price moved against the order, a fraction (default: the backtests' slippage).")
@click.option("--reset", is_flag=True, help="Start the paper account over at $100,000 before this round.")
@json_option
def execute_cmd(strategy, symbols, end, window, weighted, notional, fees, slippage, reset, as_json) -> int:
    """One consensus round per symbol on its latest bar, orders to the paper broker; reports fills and equity.

    The paper account (cash, positions, fills) is kept in the state dir (`swarm/paper.json`), so
    a later `execute` can sell what this one bought; `--reset` (or deleting that file) starts it
    over. Orders fill at the next bar's open with the backtests' fees and slippage; an order
    decided on a symbol's latest bar has no next bar and lapses. With Alpaca keys set, orders go
    to Alpaca's paper account instead.

    Example: `tradeswarm execute --strategy momentum --symbols SPX --end 2018-06-01 --json`
    """
    from tradeswarm.agents.strategies import get_strategy
    from tradeswarm.broker import InvariantViolation
    from tradeswarm.settings import Settings
    from tradeswarm.swarm.execute import PaperStateError, execute_round, reset_paper

    syms = _symbols(symbols)
    try:
        get_strategy(strategy)
    except ValueError as e:
        raise UsageError(str(e)) from None
    decide_on = parse_date(end, "--end")
    check_covered(syms, None, decide_on)
    settings = Settings()
    if reset:
        reset_paper(settings.state_dir)

    async def go() -> dict:
        async with swarm_session(settings=settings) as coord:
            try:
                return await execute_round(coord, strategy, syms, end=decide_on and decide_on.isoformat(), window=window, weighted=weighted,
                                           notional=notional, settings=settings, fees=fees, slippage=slippage)
            except PaperStateError as e:
                raise UsageError(str(e)) from None
            except LookupError as e:
                raise OperationError(str(e)) from None
            except InvariantViolation as e:  # the account is not saved: a bookkeeping bug is not traded on
                raise OperationError(f"portfolio invariant violated: {e}") from None

    out = _run(go())

    def human() -> str:
        lines = [f"{d['symbol']}: {d['action']} ({d['reason']}, {len(d['votes'])}/{d['asked']} votes, "
                 f"{d['latency_ms']:.1f} ms)" for d in out["decisions"]]
        lines += [f"order {o['side']} {o['qty']} {o['symbol']}: {o['status']}" for o in out["orders"]]
        lines.append(f"equity {out['equity']:.2f}  cash {out['cash']:.2f}  broker {out['broker']}")
        return "\n".join(lines)

    emit(as_json, out, human)
    return 0


@command("health")
@click.option("--detailed", is_flag=True, help="Per-agent rows (counters, pid, sandbox).")
@click.option("--timeout", "timeout", default="5s", show_default=True, help="How long to wait for each agent's heartbeat.")
@click.option("--replace", is_flag=True,
              help="Replace every agent found gone or silent by a new one of the same spec (its process and emptied sandbox are stopped).")
@json_option
def health_cmd(detailed, timeout, replace, as_json) -> int:
    """Check every recorded agent beats within the timeout; exit 1 when one does not.

    Agents deployed from the CLI are not watched between commands: nothing replaces a dead or
    silent one until `health --replace` does (the in-process coordinator of `certify` and
    `stress` replaces agents by itself). With `--replace`, `replaced` lists each old agent, why,
    and its replacement, and the exit code is 0 when every unhealthy agent was replaced.
    """
    from tradeswarm.swarm.coordinator import DeployError

    wait_s = parse_duration(timeout)

    async def go() -> tuple[list[dict], list[dict]]:
        async with swarm_session(heartbeat_timeout_s=wait_s) as coord:
            rows = await coord.probe_heartbeats(wait_s)
            done = []
            for row in ([r for r in rows if not r["healthy"]] if replace else []):
                why = row["death"] or f"no heartbeat within {wait_s:g}s"
                entry = {"agent_id": row["agent_id"], "type": row["type"], "reason": why, "replacement": None}
                try:
                    entry["replacement"] = (await coord.replace(coord.agents[row["agent_id"]], f"replaced: {why}")).id
                except DeployError as e:
                    entry["error"] = str(e)
                done.append(entry)
            return rows, done

    rows, replaced = _run(go())
    healthy = sum(r["healthy"] for r in rows)
    fixed = bool(replaced) and all(e["replacement"] for e in replaced) and len(replaced) == len(rows) - healthy
    doc = {"healthy": healthy, "agents": len(rows), "ok": bool(rows) and (healthy == len(rows) or fixed)}
    if replace:
        doc["replaced"] = replaced
    if detailed:
        doc["detail"] = rows

    def human() -> str:
        lines = [table([_row(r) for r in rows], ["agent_id", "type", "healthy", "heartbeats", "served", "errors",
                                                  "silent_s"])] if detailed else []
        lines += [f"replaced {e['agent_id']} ({e['reason']}) by {e['replacement']}" if e["replacement"]
                  else f"could not replace {e['agent_id']}: {e['error']}" for e in replaced]
        return "\n".join([*lines, f"{healthy}/{len(rows)} agents healthy"])

    emit(as_json, doc, human)
    return 0 if doc["ok"] else 1


@command("monitor")
@click.option("--interval", default="5s", show_default=True, help="Refresh period, e.g. 1s, 500ms.")
@click.option("--duration", default=None, help="Stop after this long (default: until Ctrl-C).")
@json_option
def monitor_cmd(interval, duration, as_json) -> None:
    """A live table of agents: load, probe latency, heartbeats; stops cleanly on Ctrl-C."""
    every = parse_duration(interval)
    if every <= 0:
        raise UsageError("--interval must be positive")
    until = parse_duration(duration) if duration is not None else None
    samples: list[dict] = []

    async def go() -> None:
        async with swarm_session(heartbeat_timeout_s=max(every * 2, 5.0)) as coord:
            t0 = time.monotonic()
            while True:
                rows = await coord.probe_latency(timeout_s=max(every, 1.0))
                samples.append({"t_s": round(time.monotonic() - t0, 3), "agents": rows})
                if not as_json:
                    click.echo(f"\n[{time.strftime('%H:%M:%S')}] {len(rows)} agent(s)")
                    click.echo(table([_row(r) for r in rows], ["agent_id", "type", "state", "inflight", "held",
                                                               "total_served", "total_errors", "heartbeats",
                                                               "silent_s", "probe_ms"]))
                left = None if until is None else until - (time.monotonic() - t0)
                if left is not None and left <= 0:
                    return
                await asyncio.sleep(every if left is None else min(every, left))

    try:
        _run(go())
    except KeyboardInterrupt:
        pass  # Ctrl-C is the normal way out; the session already disconnected cleanly
    if as_json:
        emit(True, {"samples": samples}, "")
