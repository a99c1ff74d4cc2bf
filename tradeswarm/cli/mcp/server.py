"""The MCP tools and resources (`build_server()`), each a thin call into the code the CLI uses.

Arguments are refused by the schema before a tool runs (enums for template, agent type,
profile and status; bounds on timeouts and lengths). A failure is a tool error (`is_error`)
with one line saying what went wrong: `not found: sandbox 'x'`, `invalid params for momentum:
...`. The seed's six sandbox tools keep their names and arguments.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any, Literal

import anyio
from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ResourceNotFoundError, ToolError
from pydantic import Field
from typing_extensions import TypedDict  # pydantic needs this one on Python < 3.12

from tradeswarm.agents.strategies import STRATEGIES
from tradeswarm.cli.mcp import certifications
from tradeswarm.sandbox import tracked
from tradeswarm.settings import Settings

TOOL_NAMES = ("create_e2b_sandbox", "execute_e2b_process", "get_e2b_sandbox_status", "list_e2b_sandboxes",
              "terminate_e2b_sandbox", "run_e2b_agent", "run_certification", "get_certification",
              "list_certifications", "run_backtest")

Template = Literal["trading", "base"]
AgentType = Literal[tuple(STRATEGIES)]  # type: ignore[valid-type]  # the registry's names, one source
SandboxRef = Annotated[str, Field(min_length=1, max_length=128, description="Sandbox id, or the name given at create")]
Symbols = Annotated[list[Annotated[str, Field(min_length=1, max_length=16)]],
                    Field(min_length=1, max_length=50, description="Symbols, e.g. ['SPX'] or ['SYN0']")]
IsoDate = Annotated[str, Field(pattern=r"^\d{4}-\d{2}-\d{2}$", description="YYYY-MM-DD")]


class Created(TypedDict):
    id: str
    name: str | None
    template: str


class Executed(TypedDict):
    id: str
    exit_code: int
    stdout: str
    stderr: str


class SandboxInfo(TypedDict):
    id: str
    name: str | None
    template: str
    state: str
    started_at: str
    end_at: str
    cpu_count: int
    memory_mb: int
    metadata: dict[str, str]


class Listed(TypedDict):
    sandboxes: list[SandboxInfo]


class Terminated(TypedDict):
    id: str
    killed: bool


async def _sandbox_call(settings: Settings, op: str, *args: Any, **kwargs: Any) -> Any:
    """A `tracked` operation in a worker thread (the SDK calls block), its errors as tool errors."""
    try:
        return await anyio.to_thread.run_sync(lambda: getattr(tracked, op)(settings, *args, **kwargs))
    except (tracked.SandboxRefused, tracked.SandboxFailed) as e:
        raise ToolError(" ".join(str(e).split())) from None


def build_server(settings: Settings | None = None, runs_root: Path | None = None) -> MCPServer:
    """The server with every tool and resource; `settings` default to the environment's."""
    settings = settings or Settings()
    runs = Path(runs_root) if runs_root else certifications.RUNS_ROOT
    swarm_lock = asyncio.Lock()  # one registry read-modify-write at a time
    mcp = MCPServer("tradeswarm", instructions=(
        "Sandboxes (E2B, or the local sandboxd without E2B_API_KEY), trading agents in them, backtests, "
        "and the swarm's production certification. Sandboxes you create outlive this session until "
        "their lifetime ends: terminate them when done."), log_level="WARNING")

    @mcp.tool()
    async def create_e2b_sandbox(
        name: Annotated[str | None, Field(max_length=64, pattern=r"^[A-Za-z0-9._-]+$",
                                          description="A name to address it by (optional)")] = None,
        template: Annotated[Template, Field(description="trading: Python with the swarm's packages; base: bare")] = "trading",
    ) -> Created:
        """Create a sandbox that outlives this session for one hour (see terminate_e2b_sandbox);
        returns its id. It is listed by `tradeswarm list` like the CLI's."""
        return await _sandbox_call(settings, "create", template, name=name, origin="mcp")

    @mcp.tool()
    async def execute_e2b_process(
        sandbox_id: SandboxRef,
        command: Annotated[str, Field(min_length=1, max_length=10000, description="A shell command line")],
        timeout: Annotated[float, Field(ge=0.1, le=600, description="Seconds before the command is killed")] = 60.0,
    ) -> Executed:
        """Run a shell command in a sandbox; returns exit_code, stdout and stderr (a non-zero
        exit code is a result, a timeout an error)."""
        return await _sandbox_call(settings, "execute", sandbox_id, command, timeout)

    @mcp.tool()
    async def get_e2b_sandbox_status(sandbox_id: SandboxRef) -> SandboxInfo:
        """One sandbox as the service reports it: state, template, start and end time, vCPUs, memory."""
        return await _sandbox_call(settings, "status", sandbox_id)

    @mcp.tool()
    async def list_e2b_sandboxes(
        status: Annotated[Literal["running", "paused"] | None, Field(description="Only sandboxes in this state")] = None,
    ) -> Listed:
        """The sandboxes created through this server or the CLI that are still alive."""
        return {"sandboxes": await _sandbox_call(settings, "listed", status)}

    @mcp.tool()
    async def terminate_e2b_sandbox(
        sandbox_id: SandboxRef,
        force: Annotated[bool, Field(description="Succeed even when the sandbox is already gone")] = False,
    ) -> Terminated:
        """Kill a sandbox and forget it; an unknown sandbox is an error unless force."""
        return await _sandbox_call(settings, "destroy", sandbox_id, force)

    @mcp.tool()
    async def run_e2b_agent(
        sandbox_id: SandboxRef,
        agent_type: Annotated[AgentType, Field(description="The strategy the agent runs")],
        symbols: Symbols,
        strategy_params: Annotated[dict[str, Any], Field(description="Strategy parameters (default: the strategy's)")] = {},  # noqa: B006 - never mutated
    ) -> dict[str, Any]:
        """Deploy a trading agent into an existing sandbox (the swarm's deploy, as `tradeswarm
        deploy --sandbox`); returns it once its health handshake arrived. `tradeswarm agents` lists it."""
        from tradeswarm.cli._common import OperationError, UsageError
        from tradeswarm.cli.swarm import swarm_session
        from tradeswarm.swarm.coordinator import DeployError

        sid = await _sandbox_call(settings, "resolve", sandbox_id)  # a corrupt state or ambiguous name: a tool error
        async with swarm_lock:
            try:
                async with swarm_session(settings=settings) as coord:
                    agents = await coord.deploy(agent_type, symbols, dict(strategy_params), count=1, sandbox_id=sid)
            except (UsageError, OperationError, DeployError, ValueError, RuntimeError) as e:
                raise ToolError(" ".join(str(e).split())) from None
        return {"agent": agents[0].info()}

    @mcp.tool()
    async def run_backtest(
        strategy: Annotated[AgentType, Field(description="Strategy name")],
        symbols: Symbols,
        start: IsoDate,
        end: Annotated[IsoDate | None, Field(description="Last session (default: the data's end)")] = None,
        params: Annotated[dict[str, Any], Field(description="Strategy parameters (default: the strategy's)")] = {},  # noqa: B006
    ) -> dict[str, Any]:
        """Backtest a strategy (fills at the next bar's open) with the data contract, validity
        gates and the reference simulator's cross-check, as `tradeswarm backtest --json`."""
        from datetime import date

        from tradeswarm.cli.research import prepare_backtests, run_backtests

        try:
            prepared = await anyio.to_thread.run_sync(lambda: prepare_backtests(
                strategy, [s.upper() for s in symbols], date.fromisoformat(start),
                date.fromisoformat(end) if end else None, dict(params)))
        except ValueError as e:
            raise ToolError(str(e).splitlines()[0]) from None
        doc, failed = await anyio.to_thread.run_sync(run_backtests, prepared)
        return {**doc, "failed": failed}

    @mcp.tool()
    async def run_certification(
        ctx: Context,
        profile: Annotated[Literal["smoke", "standard", "nightly"], Field(description="Certification profile")] = "smoke",
    ) -> dict[str, Any]:
        """Certify the swarm end to end (minutes; smoke is the fastest) with a progress
        notification per stage; returns the verdict, score, failed checks and the report's URI."""
        return await certifications.run(ctx, profile, runs)

    @mcp.tool()
    async def get_certification(
        run_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9._-]{1,128}$", description="A run id from list_certifications")],
    ) -> dict[str, Any]:
        """One certification run: verdict, readiness, categories, every check's status, stage times."""
        try:
            return certifications.summary(certifications.load(runs, run_id))
        except LookupError as e:
            raise ToolError(str(e)) from None

    @mcp.tool()
    async def list_certifications() -> dict[str, Any]:
        """Every certification run on record, oldest first: id, profile, verdict, score."""
        return {"runs": certifications.listed(runs)}

    @mcp.resource("tradeswarm://runs/{run_id}/report.md", mime_type="text/markdown")
    def report(run_id: str) -> str:
        """A certification run's Markdown report."""
        return _read(runs, run_id, "report.md")

    @mcp.resource("tradeswarm://runs/{run_id}/results.json", mime_type="application/json")
    def results(run_id: str) -> str:
        """A certification run's results.json (docs/contracts.md)."""
        return _read(runs, run_id, "results.json")

    return mcp


def _read(runs: Path, run_id: str, name: str) -> str:
    try:
        return (certifications.run_dir(runs, run_id) / name).read_text(encoding="utf-8")
    except (LookupError, OSError):
        raise ResourceNotFoundError(f"no {name} for run {run_id!r}") from None
