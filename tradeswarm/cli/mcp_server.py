"""`tradeswarm mcp`: the MCP server over stdio (for an assistant to start) or streamable HTTP."""

from __future__ import annotations

from pathlib import Path

import click

from tradeswarm.cli._common import UsageError, command


@command("mcp")
@click.option("--http", "over_http", is_flag=True, help="Serve streamable HTTP instead of stdio.")
@click.option("--host", default="127.0.0.1", show_default=True, help="HTTP: address to listen on (loopback by default).")
@click.option("--port", default=8765, show_default=True, type=click.IntRange(0, 65535), help="HTTP: port (0 picks a free one).")
@click.option("--token-file", default=None, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="HTTP: read the bearer token from this file instead of generating one.")
@click.option("--runs-dir", default=None, type=click.Path(file_okay=False, path_type=Path),
              help="Where certification runs are written and read (default reports/runs).")
def mcp_cmd(over_http: bool, host: str, port: int, token_file: Path | None, runs_dir: Path | None) -> None:
    """Serve the sandbox, swarm, backtest and certification tools over MCP (Ctrl-C stops).

    Over HTTP every request needs `Authorization: Bearer <token>`; the token is written to
    `<state_dir>/mcp/token` (mode 0600) and the server prints where it is, never the token.
    Example: `tradeswarm mcp --http --port 8765`
    """
    from tradeswarm.cli.mcp import build_server
    from tradeswarm.settings import Settings

    settings = Settings()
    server = build_server(settings, runs_dir)
    if not over_http:
        server.run("stdio")
        return
    from tradeswarm.cli.mcp import http

    try:
        token, where = http.make_token(settings.state_dir, token_file)
    except ValueError as e:
        raise UsageError(str(e)) from None
    try:
        http.serve(server, host=host, port=port, token=token, token_file=where)
    except OSError as e:
        raise UsageError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
