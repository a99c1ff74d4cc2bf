"""Streamable HTTP for the MCP server: loopback, and a bearer token like sandboxd's.

The token is made fresh at each start (`secrets.token_urlsafe(32)`) unless a token file is
given, and written to `<state_dir>/mcp/token` (mode 0600); the server says where it is, never
what it is. Every HTTP request must carry `Authorization: Bearer <token>`: a missing or wrong
one is a 401 before the MCP layer sees the request (compared in constant time).
"""

from __future__ import annotations

import hmac
import json
import secrets
import socket
import sys
from pathlib import Path
from typing import Any

from tradeswarm.atomic import atomic_write_text

MCP_PATH = "/mcp"


def token_path(state_dir: Path) -> Path:
    return Path(state_dir) / "mcp" / "token"


def make_token(state_dir: Path, token_file: Path | None = None) -> tuple[str, Path]:
    """The token this server wants (from `token_file`, else new) and where it is written."""
    token = Path(token_file).read_text().strip() if token_file else secrets.token_urlsafe(32)
    if not token:
        raise ValueError(f"token file {token_file} is empty")
    path = token_path(state_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, token + "\n", mode=0o600)
    return token, path


class BearerAuth:
    """ASGI middleware: HTTP requests without the right bearer token get a 401."""

    def __init__(self, app: Any, token: str) -> None:
        self.app = app
        self._expected = f"Bearer {token}".encode()

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":  # lifespan: the SDK's session manager starts and stops here
            return await self.app(scope, receive, send)
        given = dict(scope.get("headers") or []).get(b"authorization", b"")
        if hmac.compare_digest(given, self._expected):
            return await self.app(scope, receive, send)
        message = "invalid bearer token" if given else "missing bearer token (Authorization: Bearer <token>)"
        body = json.dumps({"error": message}).encode()
        await send({"type": "http.response.start", "status": 401,
                    "headers": [(b"content-type", b"application/json"), (b"www-authenticate", b"Bearer"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


def serve(server: Any, *, host: str, port: int, token: str, token_file: Path, log_level: str = "warning") -> None:
    """Serve `server` (an `MCPServer`) at `http://host:port/mcp` until interrupted.

    The socket is bound first, so with port 0 the line on stderr names the port picked.
    """
    import anyio
    import uvicorn

    app = BearerAuth(server.streamable_http_app(streamable_http_path=MCP_PATH, host=host), token)
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)  # connections made after the line below wait in the backlog until uvicorn accepts
    url = f"http://{host}:{sock.getsockname()[1]}{MCP_PATH}"
    print(f"tradeswarm mcp: serving {url} (bearer token in {token_file})", file=sys.stderr, flush=True)
    config = uvicorn.Config(app, log_level=log_level, lifespan="on")
    anyio.run(lambda: uvicorn.Server(config).serve(sockets=[sock]))
