"""The MCP server: the sandbox layer, the swarm and the certification as MCP tools.

`tradeswarm mcp` serves it over stdio (an assistant starts it as a subprocess);
`tradeswarm mcp --http` over streamable HTTP on loopback, behind a bearer token.
Built on the official `mcp` SDK (`MCPServer`); the tools call the same code as the CLI
(`tradeswarm.sandbox.tracked`, the swarm coordinator, the certification flow).

```python
from tradeswarm.cli.mcp import build_server
server = build_server()          # an mcp.server.MCPServer
server.run("stdio")
```
"""

from tradeswarm.cli.mcp.server import TOOL_NAMES, build_server

__all__ = ["TOOL_NAMES", "build_server"]
